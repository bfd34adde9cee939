"""Matching accounts into people: pure functions, no I/O."""

from __future__ import annotations

from bot.types import DirectoryUser


def normalize_email(email: str | None) -> str | None:
    """Case- and whitespace-insensitive form; None for absent or obviously unusable values."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        return None
    return cleaned


def match_key(user: DirectoryUser) -> str:
    """Accounts with the same key are one person; without an email an account stands alone."""
    email = normalize_email(user.email)
    return email if email is not None else f"{user.platform}:{user.user_id}"


def is_person(user: DirectoryUser) -> bool:
    """Bots and guests are kept apart: imported, listed, never matched or synced."""
    return not (user.is_bot or user.is_guest)
