"""A `DmSeen` to JSON and back, for the sealed part of a `relay_capture` outbox row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.prose import Prose
from bot.types import DmSeen, Platform, PlatformUserId


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def dump_seen(seen: DmSeen) -> dict[str, Any]:
    return {
        "platform": seen.platform,
        "delivery_id": seen.delivery_id,
        "owner_id": seen.owner_id,
        "conversation_id": seen.conversation_id,
        "message_id": seen.message_id,
        "sender_id": seen.sender_id,
        "other_id": seen.other_id,
        "prose": None if seen.prose is None else seen.prose.dump(),
        "sent_at": _time(seen.sent_at),
        "fetch": dict(seen.fetch),
        "received_at": _time(seen.received_at),
    }


def load_seen(data: dict[str, Any]) -> DmSeen:
    other = data.get("other_id")
    prose = data.get("prose")
    return DmSeen(
        platform=Platform(data["platform"]),
        delivery_id=data["delivery_id"],
        owner_id=PlatformUserId(data["owner_id"]),
        conversation_id=data["conversation_id"],
        message_id=data["message_id"],
        sender_id=PlatformUserId(data["sender_id"]),
        other_id=None if other is None else PlatformUserId(other),
        prose=None if prose is None else Prose.load(prose),
        sent_at=_parse(data.get("sent_at")),
        fetch=dict(data.get("fetch", {})),
        received_at=_parse(data.get("received_at")),
    )
