"""Zoom's signed webhook deliveries (/zoom/events) turned into neutral events.

The signature covers the raw bytes (platform-apis.md §A.4, §I.28), so it is checked before
anything is parsed. Zoom's docs set no freshness window for `x-zm-request-timestamp`; we reject
anything more than five minutes from our clock (§I.10), as Slack's SDK does. Zoom retries a
delivery with the same body and no retry header, so the delivery id is a hash of that body.

Two apps deliver here (relay-apis §4.1): the chatbot app, signed with ZOOM_WEBHOOK_SECRET, and
the people's login app, signed with ZOOM_LOGIN_WEBHOOK_SECRET (each app has its own secret
token and validates the endpoint with it). Which secret verifies a delivery says which app
sent it, and only the login app's deliveries may carry people's DMs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.zoom.login import LoginApp
from adapters.zoom.relay import DM_EVENT
from adapters.zoom.render import decode_value
from adapters.zoom.user_events import deauthorized, dm_seen
from bot.platform import EventHandler, redeliver_response
from bot.prose import Prose
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
CHATBOT, LOGIN = "chatbot", "login"  # which app's secret verified a delivery


class BadEvent(ValueError):
    """A correctly signed delivery we cannot read: answered 400, which Zoom does not retry."""


@dataclass(frozen=True)
class Secrets:
    """The secret tokens of the apps that deliver to /zoom/events."""

    chatbot: str = field(repr=False)
    login: LoginApp | None = None

    def signer(self, headers: Mapping[str, str], raw: bytes, now: float) -> tuple[str, str | None]:
        """("chatbot" | "login", None) for a genuine delivery, else ("", why it is refused)."""
        refusal = verify(self.chatbot, headers, raw, now)
        if refusal is None:
            return CHATBOT, None
        if self.login is not None and verify(self.login.webhook_secret, headers, raw, now) is None:
            return LOGIN, None
        return "", refusal

    def secret(self, app: str) -> str:
        return self.login.webhook_secret if app == LOGIN and self.login else self.chatbot


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


def _typed_to_bot(
    platform: Platform, payload: Mapping[str, Any], delivery_id: str, received_at: datetime
) -> InboundCommand:
    """A `bot_notification` (§D.4): a `/mio` command or a message typed in the bot's 1:1.
    Its text is plain (Zoom sends no formatting with it); its conversation is the person's 1:1
    with the bot, named by their JID, and it carries no message id, so the message is named by
    the sender and Zoom's timestamp, which a retry repeats unchanged."""
    user_id, user_jid, to_jid = _require(payload, "userId", "userJid", "toJid")
    cmd = payload.get("cmd", "")
    if not isinstance(cmd, str):
        raise BadEvent("cmd is not text")
    text = cmd.strip()
    message_id = str(payload.get("messageId") or f"{user_id}:{payload.get('timestamp', '')}")
    return InboundCommand(
        platform=platform,
        delivery_id=delivery_id,
        user_id=PlatformUserId(user_id),
        text=text,
        reply_to=ReplyTarget(platform, _target(payload, to_jid, user_jid)),
        received_at=received_at,
        redeliverable=True,  # a message typed to the bot: Zoom retries it on a 5xx
        prose=Prose.text(text),
        conversation_id=_bare_jid(to_jid),
        message_id=message_id,
    )


def parse(
    platform: Platform, raw: bytes, app: str = CHATBOT
) -> InboundEvent | UrlValidation | None:
    """The delivery as a neutral event, a URL check, or None for events the bot ignores.
    `app` is the app whose secret verified it (`Secrets.signer`)."""
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
    if event == DM_EVENT and app == LOGIN:
        return dm_seen(platform, payload, received_at)
    if event == "app_deauthorized":
        return deauthorized(platform, payload, app == LOGIN, raw)
    if app == LOGIN:
        log.debug("zoom: ignoring %s event from the login app", event)
        return None
    if event == "bot_notification":
        return _typed_to_bot(platform, payload, delivery_id, received_at)
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
    secrets: Secrets,
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
        app, refusal = secrets.signer(request.headers, raw, clock())
        if refusal is not None:
            log.warning("zoom: refused delivery: %s", refusal)
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            parsed = parse(platform, raw, app)
        except BadEvent as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if isinstance(parsed, UrlValidation):
            encrypted = hmac.new(
                secrets.secret(app).encode(), parsed.plain_token.encode(), hashlib.sha256
            ).hexdigest()
            return web.json_response(
                {"plainToken": parsed.plain_token, "encryptedToken": encrypted}
            )
        if parsed is None:
            return web.json_response({"status": "ignored"})
        outcome = await handler(parsed)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
        if outcome.message is not None and isinstance(parsed, InboundCommand | ButtonPress):
            answer_later(parsed.reply_to, outcome.message)
        return web.json_response({"status": "ok"})

    return on_event
