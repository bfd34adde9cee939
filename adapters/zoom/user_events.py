"""The relay's Zoom deliveries: people's DM events from the login app, and deauthorizations.

The login app (a user-managed General app, `adapters/zoom/login.py`) subscribes to one event
family only, `team_chat.dm_message_posted` (relay-apis §4.1; subscribing to `chat_message.*` as
well would deliver every message twice, surprise 21). Its payload carries the text, the style
ranges and both members (`operator_id` the sender, `object.contact_id` the contact the message
was sent to), so the `DmSeen` is complete and no GET follows. It names no installing user, so
the owner is the contact: the event "triggers when a message is received" [ZS team-chat/events].

`app_deauthorized` [ZS marketplace/events] comes from either app: from the chatbot app it
removes Mio from the account; from the login app it is one person taking back their consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.zoom.relay import DM_EVENT, conversation_id
from adapters.zoom.relay_text import parse
from bot.types import AccessRevoked, DmSeen, Platform, PlatformUserId


def dm_seen(platform: Platform, payload: Mapping[str, Any], received_at: datetime) -> DmSeen | None:
    """A `team_chat.dm_message_posted` as a complete `DmSeen`; None when it is no text message
    between two people of the account (a file only; an external user, whose ids are empty)."""
    item = payload.get("object")
    if not isinstance(item, dict):
        return None
    sender = str(payload.get("operator_id") or "")
    contact = str(item.get("contact_id") or "")
    message_id = str(item.get("message_id") or "")
    text = item.get("message")
    if not (sender and contact and message_id) or not isinstance(text, str) or not text:
        return None
    rich_text = item.get("rich_text") if isinstance(item.get("rich_text"), list) else None
    stamp = item.get("timestamp")
    return DmSeen(
        platform=platform,
        delivery_id=f"{DM_EVENT}:{message_id}",
        owner_id=PlatformUserId(contact),
        conversation_id=conversation_id(sender, contact),
        message_id=message_id,
        sender_id=PlatformUserId(sender),
        other_id=PlatformUserId(contact),
        prose=parse(text, rich_text),
        sent_at=datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int) else None,
        received_at=received_at,
    )


def deauthorized(
    platform: Platform, payload: Mapping[str, Any], by_login_app: bool, raw: bytes
) -> AccessRevoked | None:
    """Who lost access: one person (the login app's `user_id`) or Mio on the whole account."""
    mark = str(payload.get("signature") or hashlib.sha256(raw).hexdigest())
    delivery_id = f"app_deauthorized:{mark}"
    if not by_login_app:
        return AccessRevoked(platform, delivery_id, app_removed=True, received_at=datetime.now(UTC))
    user_id = str(payload.get("user_id") or "")
    if not user_id:
        return None
    return AccessRevoked(
        platform, delivery_id, user_ids=(PlatformUserId(user_id),), received_at=datetime.now(UTC)
    )
