"""Neutral types to JSON and back, for outbox rows and stored message references."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.types import (
    Button,
    ButtonStyle,
    DirectoryUser,
    Message,
    MessageRef,
    Plain,
    Platform,
    PlatformUserId,
    ReplyTarget,
    Rich,
    Text,
)


def dump(value: Message | MessageRef | ReplyTarget | DirectoryUser) -> dict[str, Any]:
    return asdict(value)


def load_rich(data: Any) -> Rich:
    """A message text as `dump` wrote it: a string, or a Text's spans (plain ones as objects)."""
    if isinstance(data, dict) and "spans" in data:
        return Text(
            tuple(Plain(str(s["text"])) if isinstance(s, dict) else str(s) for s in data["spans"])
        )
    return str(data)


def load_message(data: dict[str, Any]) -> Message:
    buttons = tuple(
        Button(
            label=b["label"],
            action_id=b.get("action_id", ""),
            value=b.get("value", ""),
            style=ButtonStyle(b.get("style", "default")),
            url=b.get("url"),
        )
        for b in data.get("buttons", ())
    )
    title = data.get("title")
    return Message(
        text=load_rich(data["text"]),
        title=None if title is None else load_rich(title),
        lines=tuple(load_rich(line) for line in data.get("lines", ())),
        buttons=buttons,
        ephemeral=bool(data.get("ephemeral", True)),
    )


def load_ref(data: dict[str, Any]) -> MessageRef:
    return MessageRef(
        platform=Platform(data["platform"]),
        channel_id=data["channel_id"],
        message_id=data["message_id"],
        data=dict(data.get("data", {})),
    )


def load_target(data: dict[str, Any]) -> ReplyTarget:
    return ReplyTarget(platform=Platform(data["platform"]), data=dict(data.get("data", {})))


def load_user(data: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        platform=Platform(data["platform"]),
        user_id=PlatformUserId(data["user_id"]),
        email=data.get("email"),
        display_name=data.get("display_name", ""),
        is_bot=bool(data.get("is_bot", False)),
        is_guest=bool(data.get("is_guest", False)),
        is_active=bool(data.get("is_active", True)),
        is_admin=bool(data.get("is_admin", False)),
        extra=dict(data.get("extra", {})),
    )
