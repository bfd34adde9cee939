"""Zoom's signed webhook deliveries (/zoom/events) turned into neutral events.

The signature covers the raw bytes (platform-apis.md §A.4, §I.28), so it is checked before
anything is parsed. Zoom's docs set no freshness window for `x-zm-request-timestamp`; we reject
anything more than five minutes from our clock (§I.10), as Slack's SDK does. Zoom retries a
delivery with the same body and no retry header, so the delivery id is a hash of that body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.zoom.render import decode_value
from bot.platform import EventHandler, redeliver_response
from bot.types import (
    ButtonPress,
    InboundCommand,
    InboundEvent,
    Message,
    MessageRef,
    Platform,
    PlatformUserId,
    Redeliver,
    ReplyTarget,
)

log = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 300


class BadEvent(ValueError):
    """A correctly signed delivery we cannot read: answered 400, which Zoom does not retry."""


@dataclass(frozen=True, slots=True)
class UrlValidation:
    """Zoom's endpoint check (on save and every 72 h): answered synchronously, never handled."""

    plain_token: str


def sign(secret: str, timestamp: str, raw: bytes) -> str:
    """`x-zm-signature` for `raw` as Zoom computes it."""
    message = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], raw: bytes, now: float) -> str | None:
    """None when the delivery is genuine and fresh, else why it is refused."""
    timestamp = headers.get("x-zm-request-timestamp", "")
    signature = headers.get("x-zm-signature", "")
    if not timestamp or not signature:
        return "missing x-zm-request-timestamp or x-zm-signature"
    try:
        skew = abs(now - int(timestamp))
    except ValueError:
        return "malformed x-zm-request-timestamp"
    if skew > MAX_SKEW_SECONDS:
        return "stale x-zm-request-timestamp"
    if not hmac.compare_digest(sign(secret, timestamp, raw).encode(), signature.encode()):
        return "signature mismatch"
    return None


def _require(payload: Mapping[str, Any], *keys: str) -> list[str]:
    values = [payload.get(key) for key in keys]
    missing = [
        key
        for key, value in zip(keys, values, strict=True)
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise BadEvent(f"payload lacks {', '.join(missing)}")
    return [str(value) for value in values]


def _bare_jid(jid: str) -> str:
    """`user@xmpp.zoom.us/robot_bot@…` (a 1:1 press) → `user@xmpp.zoom.us`."""
    return jid.split("/", 1)[0]


def _target(payload: Mapping[str, Any], to_jid: str, user_jid: str) -> dict[str, str]:
    return {
        "to_jid": _bare_jid(to_jid),
        "user_jid": user_jid,
        "account_id": str(payload.get("accountId", "")),
        "user_id": str(payload.get("userId", "")),
    }


def parse(platform: Platform, raw: bytes) -> InboundEvent | UrlValidation | None:
    """The delivery as a neutral event, a URL check, or None for events the bot ignores."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadEvent("body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise BadEvent("body has no event")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise BadEvent("body has no payload object")
    event = data["event"]
    delivery_id = "zoom:" + hashlib.sha256(raw).hexdigest()
    received_at = datetime.now(UTC)
    if event == "endpoint.url_validation":
        (plain_token,) = _require(payload, "plainToken")
        return UrlValidation(plain_token)
    if event == "bot_notification":
        user_id, user_jid, to_jid = _require(payload, "userId", "userJid", "toJid")
        cmd = payload.get("cmd", "")
        if not isinstance(cmd, str):
            raise BadEvent("cmd is not text")
        return InboundCommand(
            platform=platform,
            delivery_id=delivery_id,
            user_id=PlatformUserId(user_id),
            text=cmd.strip(),
            reply_to=ReplyTarget(platform, _target(payload, to_jid, user_jid)),
            received_at=received_at,
            redeliverable=True,  # a message typed to the bot: Zoom retries it on a 5xx
        )
    if event == "interactive_message_actions":
        user_id, user_jid, to_jid, message_id = _require(
            payload, "userId", "userJid", "toJid", "messageId"
        )
        item = payload.get("actionItem")
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise BadEvent("actionItem has no value")
        action_id, value = decode_value(item["value"])
        target = _target(payload, to_jid, user_jid)
        return ButtonPress(
            platform=platform,
            delivery_id=delivery_id,
            user_id=PlatformUserId(user_id),
            action_id=action_id,
            value=value,
            message=MessageRef(
                platform, channel_id=user_jid, message_id=message_id, data=dict(target)
            ),
            reply_to=ReplyTarget(platform, target),
            received_at=received_at,
        )
    log.debug("zoom: ignoring %s event", event)
    return None


def events_handler(
    platform: Platform,
    secret: str,
    handler: EventHandler,
    answer_later: Callable[[ReplyTarget, Message], None],
    clock: Callable[[], float],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for /zoom/events.

    The core's edge has committed before we answer 200, so the state is persisted before Zoom
    considers the delivery done; when it says `Redeliver` we answer 500 and Zoom retries.
    Zoom's webhook answer cannot carry a chat message, so a returned Message is handed to
    `answer_later`, which sends it as a separate chatbot message.
    """

    async def on_event(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        refusal = verify(secret, request.headers, raw, clock())
        if refusal is not None:
            log.warning("zoom: refused delivery: %s", refusal)
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            parsed = parse(platform, raw)
        except BadEvent as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if isinstance(parsed, UrlValidation):
            encrypted = hmac.new(
                secret.encode(), parsed.plain_token.encode(), hashlib.sha256
            ).hexdigest()
            return web.json_response(
                {"plainToken": parsed.plain_token, "encryptedToken": encrypted}
            )
        if parsed is None:
            return web.json_response({"status": "ignored"})
        outcome = await handler(parsed)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
        if outcome.message is not None:
            answer_later(parsed.reply_to, outcome.message)
        return web.json_response({"status": "ok"})

    return on_event
