"""Events API deliveries for the relay, as neutral events: pure translation, no I/O.

`inbound.py` decides which listener a delivery reaches; these functions only read Slack's
envelope (`event_callback`: `api_app_id`, `authorizations`, `event_id`, relay-apis §1.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.slack.errors import SLACK
from adapters.slack.relay_text import parse
from bot.types import AccessRevoked, DmSeen, PlatformUserId


def delivery_id(body: Mapping[str, Any]) -> str:
    """Slack's retries of one delivery carry the same `event_id` (relay-apis §1.1, surprise
    23): the core de-duplicates on it."""
    return f"slack:evt:{body['event_id']}"


def authorization(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The one installing party Slack lists since the 2021 truncation (relay-apis §1.1): which
    one is arbitrary when several could see the event, so it names the *owner* whose
    subscription saw it, never the sender or the recipient."""
    listed = body.get("authorizations") or [{}]
    first = listed[0]
    return first if isinstance(first, Mapping) else {}


def is_own_echo(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """A message this app posted, with the bot token or with a person's user token. A user
    token post carries a per-authorisation `bot_id` that is not our bot's, so only `app_id`
    == our `api_app_id` tells (relay-apis §1.6, surprise 2); a `bot_id` alone does not: other
    apps post as people too, and those are the person's real messages."""
    app_id = event.get("app_id")
    return bool(app_id) and app_id == body.get("api_app_id")


def dm_seen(body: Mapping[str, Any], event: Mapping[str, Any]) -> DmSeen:
    """A `message.im` user event: the owner is the listed authorization; the other member is
    the owner when someone else wrote, else unknown until `fetch_dm` asks Slack."""
    owner = PlatformUserId(str(authorization(body).get("user_id", "")))
    sender = PlatformUserId(str(event["user"]))
    ts = str(event["ts"])
    return DmSeen(
        platform=SLACK,
        delivery_id=delivery_id(body),
        owner_id=owner,
        conversation_id=str(event["channel"]),
        message_id=ts,
        sender_id=sender,
        other_id=owner if owner != sender else None,
        prose=parse(str(event.get("text") or "")),
        sent_at=_time(ts),
        received_at=datetime.now(UTC),
    )


def access_revoked(body: Mapping[str, Any]) -> AccessRevoked:
    """`tokens_revoked` (`tokens.oauth`: people's user tokens; `tokens.bot`: the bot's, which
    leaves the app unable to act in the workspace) or `app_uninstalled`."""
    event = body.get("event") or {}
    if event.get("type") == "app_uninstalled":
        return AccessRevoked(
            SLACK, delivery_id(body), app_removed=True, received_at=datetime.now(UTC)
        )
    tokens = event.get("tokens") or {}
    return AccessRevoked(
        SLACK,
        delivery_id(body),
        user_ids=tuple(PlatformUserId(str(u)) for u in tokens.get("oauth") or ()),
        app_removed=bool(tokens.get("bot")),
        received_at=datetime.now(UTC),
    )


def _time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None
