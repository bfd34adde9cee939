"""Zoom users as our neutral `DirectoryUser`: what `GET /users` and `GET /users/{id}` report.

Zoom lists active and inactive users separately (§E.4), so whether an account is active comes
from the listing it was found in (or the single user's `status`), not from the item alone. The
JID a chatbot message needs is derived from the user id (§I.25) and kept in `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.zoom.errors import PLATFORM
from bot.types import DirectoryUser, PlatformUserId

JID_DOMAIN = "@xmpp.zoom.us"
PAGE_SIZE = "300"
ADMIN_ROLE_IDS = frozenset({"0", "1"})  # built-in Owner and Admin roles (§E.4)


def user_jid(user_id: str) -> str:
    """Zoom's JID for a user: the lower-cased id at xmpp.zoom.us (§I.25)."""
    return user_id.lower() + JID_DOMAIN


def directory_user(user: Mapping[str, Any], *, active: bool) -> DirectoryUser:
    """One user item; chatbots are not users on Zoom, and guests are not listed."""
    user_id = str(user["id"])
    full_name = f"{user.get('first_name') or ''} {user.get('last_name') or ''}".strip()
    return DirectoryUser(
        platform=PLATFORM,
        user_id=PlatformUserId(user_id),
        email=user.get("email") or None,
        display_name=user.get("display_name") or full_name or user.get("email") or user_id,
        is_bot=False,
        is_guest=False,
        is_active=active,
        is_admin=str(user.get("role_id", "")) in ADMIN_ROLE_IDS,
        extra={"jid": user_jid(user_id)},
    )


def users(page: Any, *, active: bool) -> list[DirectoryUser]:
    """The users on one `GET /users` page (items without an id are skipped)."""
    found = page.get("users") if isinstance(page, dict) else None
    return [
        directory_user(u, active=active) for u in found or [] if isinstance(u, dict) and u.get("id")
    ]
