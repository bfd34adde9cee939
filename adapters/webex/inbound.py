"""Webex's signed webhook deliveries (/webex/events) turned into neutral events.

`X-Spark-Signature` is the hex HMAC-SHA1 of the raw body with the webhook's secret (§A.3); it is
checked, in constant time, before anything is parsed. Webex signs no timestamp and marks no
retries (§I.6), so the delivery id is built from the resource and the event's `data.id`: a
replayed or redelivered body gets the same id and the core's processed-id table drops it. That
table forgets after `DELIVERY_MEMORY`, and a captured body stays correctly signed forever, so
a delivery whose `data.created` (when the message or press happened; the envelope's own
`created` is the webhook's) is older than that is refused rather than run again.
The envelope carries neither the message text nor the card inputs, so they are fetched with the
bot's token; the message webhook also fires for the bot's own messages (§D.3), which are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from adapters.webex.errors import PLATFORM
from adapters.webex.relay_hooks import OWNER
from adapters.webex.relay_text import parse as parse_prose
from adapters.webex.render import button_inputs
from bot.platform import EventHandler, redeliver_response
from bot.types import (
    DELIVERY_MEMORY,
    ButtonPress,
    InboundCommand,
    Message,
    MessageRef,
    PermanentFailure,
    PlatformUserId,
    Redeliver,
    ReplyTarget,
    RetryLater,
)

log = logging.getLogger(__name__)

EVENTS_PATH = "/webex/events"
SIGNATURE_HEADER = "X-Spark-Signature"
COMMAND = "/mio"
# Refuse a little before the core forgets, for clock skew between Webex and us.
MAX_AGE = DELIVERY_MEMORY - timedelta(hours=1)

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class BadEvent(ValueError):
    """A correctly signed delivery we cannot read: answered 400."""


class TooOld(ValueError):
    """A correctly signed delivery from before what the core remembers: a replay, answered 401."""


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is on Webex: its person id, and the names people address it by."""

    person_id: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parts of a webhook body we use; everything else comes from the API."""

    resource: str
    event: str
    data_id: str
    person_id: str
    created: str | None  # data.created as Webex sent it; checked only for what we act on

    @property
    def delivery_id(self) -> str:
        return f"webex:{self.resource}:{self.data_id}"


def sign(secret: str, raw: bytes) -> str:
    """`X-Spark-Signature` for `raw` as Webex computes it."""
    return hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


def verify(secret: str, headers: Mapping[str, str], raw: bytes) -> str | None:
    """None when the body carries a valid signature, else why it is refused."""
    signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
    if not signature:
        return f"missing {SIGNATURE_HEADER}"
    if not hmac.compare_digest(sign(secret, raw).encode(), signature.encode()):
        return "signature mismatch"
    return None


def parse_envelope(raw: bytes) -> Envelope:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadEvent("body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadEvent("body is not a JSON object")
    resource, event, data = body.get("resource"), body.get("event"), body.get("data")
    if not isinstance(resource, str) or not isinstance(event, str) or not isinstance(data, dict):
        raise BadEvent("body lacks resource, event or data")
    data_id = data.get("id")
    if not isinstance(data_id, str) or not data_id:
        raise BadEvent("data has no id")
    person_id = data.get("personId")
    created = data.get("created")
    return Envelope(
        resource,
        event,
        data_id,
        person_id if isinstance(person_id, str) else "",
        created if isinstance(created, str) else None,
    )


def check_age(envelope: Envelope, now: datetime) -> None:
    """TooOld when the event happened longer ago than the core remembers deliveries; BadEvent
    when Webex's `2025-01-01T00:00:00.000Z` is missing or unreadable."""
    if envelope.created is None:
        raise BadEvent("data has no created time")
    try:
        created = datetime.fromisoformat(envelope.created)
    except ValueError as exc:
        raise BadEvent(f"data.created {envelope.created!r} is not a timestamp") from exc
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    if now - created > MAX_AGE:
        raise TooOld(f"{envelope.delivery_id} happened at {envelope.created}")


def command_text(text: str, bot_names: Sequence[str]) -> str:
    """What follows the bot's name (how a mention reads in group spaces) or `/mio`."""
    text = text.strip()
    for name in sorted((n for n in bot_names if n), key=len, reverse=True):
        head = text[: len(name)]
        rest = text[len(name) :]
        if head.lower() == name.lower() and (not rest or not rest[0].isalnum()):
            text = rest.lstrip(" ,:").strip()
            break
    if text.lower() == COMMAND or text.lower().startswith(COMMAND + " "):
        text = text[len(COMMAND) :].strip()
    return text


def _required(item: Mapping[str, Any], *keys: str) -> list[str]:
    values = [item.get(key) for key in keys]
    missing = [k for k, v in zip(keys, values, strict=True) if not isinstance(v, str) or not v]
    if missing:
        raise BadEvent(f"Webex answered without {', '.join(missing)}")
    return [str(v) for v in values]


class WebexInbound:
    """The aiohttp handler for /webex/events: verify, fetch the details, hand to the core's
    edge, and answer its outcome (a 5xx when it wants the delivery again)."""

    def __init__(
        self,
        *,
        secret: str,
        handler: EventHandler,
        bot: Callable[[], Awaitable[BotIdentity]],
        fetch_message: Fetch,
        fetch_action: Fetch,
        answer_later: Callable[[ReplyTarget, Message], None],
        relay: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
    ) -> None:
        self._secret = secret
        self._handler = handler
        self._bot = bot
        self._fetch_message = fetch_message
        self._fetch_action = fetch_action
        self._answer_later = answer_later
        self._relay = relay

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if OWNER in request.query:  # a person's relay webhook (adapters/webex/relay_inbound.py)
            if self._relay is None:
                return web.json_response({"error": "invalid signature"}, status=401)
            return await self._relay(request)
        raw = await request.read()
        refusal = verify(self._secret, request.headers, raw)
        if refusal is not None:
            log.warning("webex: refused delivery: %s", refusal)
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            envelope = parse_envelope(raw)
            event = await self.to_event(envelope)
        except TooOld as exc:
            log.warning("webex: refused a delivery older than %s: %s", DELIVERY_MEMORY, exc)
            return web.json_response({"error": "delivery too old"}, status=401)
        except BadEvent as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except RetryLater as exc:
            log.warning("webex: could not read the event's details yet: %s", exc)
            headers = {"Retry-After": str(int(exc.after))} if exc.after else None
            return web.json_response({"error": "try again later"}, status=503, headers=headers)
        except PermanentFailure as exc:
            # E.g. the message was deleted before we fetched it: nothing left to act on.
            log.warning("webex: ignoring an event whose details are gone: %s", exc)
            return web.json_response({"status": "ignored"})
        if event is None:
            return web.json_response({"status": "ignored"})
        outcome = await self._handler(event)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
        if outcome.message is not None:
            self._answer_later(event.reply_to, outcome.message)
        return web.json_response({"status": "ok"})

    async def to_event(self, envelope: Envelope) -> InboundCommand | ButtonPress | None:
        """The neutral event for a delivery, or None for what the bot ignores."""
        if envelope.event != "created":
            return None
        bot = await self._bot()
        if envelope.person_id == bot.person_id:
            return None  # the bot's own message or press: no need to fetch it
        if envelope.resource in ("messages", "attachmentActions"):
            check_age(envelope, datetime.now(UTC))
        if envelope.resource == "messages":
            return self._command(envelope, bot, await self._fetch_message(envelope.data_id))
        if envelope.resource == "attachmentActions":
            return self._press(envelope, bot, await self._fetch_action(envelope.data_id))
        return None

    def _command(
        self, envelope: Envelope, bot: BotIdentity, message: Mapping[str, Any]
    ) -> InboundCommand | None:
        person_id, room_id = _required(message, "personId", "roomId")
        if person_id == bot.person_id:
            return None
        room_type = str(message.get("roomType") or "direct")
        mentioned = message.get("mentionedPeople") or []
        if room_type != "direct" and bot.person_id not in mentioned:
            return None  # a group-space message that is not addressed to the bot
        return InboundCommand(
            platform=PLATFORM,
            delivery_id=envelope.delivery_id,
            user_id=PlatformUserId(person_id),
            text=command_text(str(message.get("text") or ""), bot.names),
            reply_to=ReplyTarget(
                PLATFORM, {"room_id": room_id, "room_type": room_type, "person_id": person_id}
            ),
            received_at=datetime.now(UTC),
            redeliverable=True,  # a message typed to the bot: refused with a 5xx on failure
            # For the relay (`@name text`, the current correspondent): markdown, html or text.
            prose=parse_prose(message),
            conversation_id=room_id,
            message_id=str(message.get("id") or envelope.data_id),
        )

    def _press(
        self, envelope: Envelope, bot: BotIdentity, action: Mapping[str, Any]
    ) -> ButtonPress | None:
        person_id, room_id, message_id = _required(action, "personId", "roomId", "messageId")
        pressed = button_inputs(action.get("inputs"))
        if pressed is None or person_id == bot.person_id:
            return None  # a card that is not ours (or a test press by the bot itself)
        action_id, value = pressed
        return ButtonPress(
            platform=PLATFORM,
            delivery_id=envelope.delivery_id,
            user_id=PlatformUserId(person_id),
            action_id=action_id,
            value=value,
            message=MessageRef(PLATFORM, channel_id=room_id, message_id=message_id),
            reply_to=ReplyTarget(PLATFORM, {"room_id": room_id, "person_id": person_id}),
            received_at=datetime.now(UTC),
        )
