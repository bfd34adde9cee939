"""Bot Connector deliveries to `/api/messages` turned into neutral events.

Order matters: the JWT is checked before the body is even parsed (401 on any doubt), then the
activity's `serviceUrl` against the token's `serviceurl` claim, its `channelId` (only `msteams`,
endorsed by the signing key: 403 otherwise) and its tenant, and only then is anything handed
to the core. A typed message becomes an `InboundCommand` (the bot's own @mention removed, other
people's mentions turned into their quoted names, since mentions carry no Entra id, §I.23); an
`Action.Submit` arrives as a message with `value` (§C.2) and becomes a `ButtonPress`; an
`Action.Execute` arrives as an `adaptiveCard/action` invoke, whose answer is synchronous.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.teams import relay_text
from adapters.teams.auth import (
    AuthError,
    ChannelRefused,
    KeysUnavailable,
    TokenValidator,
    check_channel,
    check_service_url,
)
from adapters.teams.render import CARD_CONTENT_TYPE, render_card
from bot.platform import EventHandler, redeliver_response
from bot.prose import Prose
from bot.types import (
    ButtonPress,
    InboundCommand,
    Message,
    MessageRef,
    Platform,
    PlatformError,
    PlatformUserId,
    Redeliver,
    ReplyTarget,
)

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
CARD_ACTION_INVOKE = "adaptiveCard/action"

_AT = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"</?(?:p|div|span|a|br|b|i|u|s|em|strong)\b[^>]*>", re.IGNORECASE)

Reply = Callable[[ReplyTarget, Message], Awaitable[None]]


class BadActivity(ValueError):
    """An authenticated delivery we cannot read: answered 400."""


@dataclass(frozen=True, slots=True)
class Invoke:
    """An `Action.Execute` press: handled like a click, answered in the HTTP body."""

    press: ButtonPress


def _text(activity: Mapping[str, Any], key: str) -> str:
    value = activity.get(key)
    return value if isinstance(value, str) else ""


def _obj(activity: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = activity.get(key)
    return value if isinstance(value, Mapping) else {}


def tenants_of(activity: Mapping[str, Any]) -> set[str]:
    """The tenant ids the activity names where Teams writes them (`channelData.tenant.id`,
    `conversation.tenantId`, platform-apis.md §C.2). Only trusted once `channelId` is `msteams`:
    other channels pass a caller's own `channelData` through."""
    found = {
        _obj(activity, "conversation").get("tenantId"),
        _obj(_obj(activity, "channelData"), "tenant").get("id"),
    }
    return {str(t) for t in found if t}


def _quote_name(name: str) -> str:
    """A mentioned name as one quoted token: the command grammar reads quotes as a name."""
    name = " ".join(name.split())
    for open_, close in (('"', '"'), ("“", "”"), ("'", "'")):
        if open_ not in name and close not in name:
            return f"{open_}{name}{close}"
    return name


def command_text(activity: Mapping[str, Any]) -> str:
    """The typed text with the bot's @mention removed and other mentions as quoted names."""
    recipient = _obj(activity, "recipient")
    bot_ids = {str(recipient.get("id") or "")} - {""}
    bot_names = {str(recipient.get("name") or "").strip().lower()} - {""}
    mentions: dict[str, bool] = {}  # mention text → is it the bot
    for entity in activity.get("entities") or []:
        if isinstance(entity, Mapping) and entity.get("type") == "mention":
            mentioned = _obj(entity, "mentioned")
            mentions[str(entity.get("text") or "")] = str(mentioned.get("id") or "") in bot_ids

    def replace(match: re.Match[str]) -> str:
        name = html.unescape(match.group(1)).strip()
        is_bot = mentions.get(match.group(0))
        if is_bot is None:  # no entity for it: recognise the bot by its name
            is_bot = name.lower() in bot_names
        return " " if is_bot else f" {_quote_name(name)} "

    text = _AT.sub(replace, _text(activity, "text"))
    text = html.unescape(_HTML_TAG.sub(" ", text))
    return " ".join(text.split())


def typed_prose(activity: Mapping[str, Any]) -> Prose:
    """What the person typed to the bot, for the relay: Teams adds the formatted message as a
    `text/html` attachment beside `text`; without one, `text` is read as HTML only when
    `textFormat` says xml. Mentions in bot chats carry no Entra id (§I.23), so they stay the
    names Teams showed."""
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, Mapping) and attachment.get("contentType") == "text/html":
            return relay_text.parse({"contentType": "html", "content": attachment.get("content")})
    text = _text(activity, "text")
    kind = "html" if _text(activity, "textFormat") == "xml" else "text"
    return relay_text.parse({"contentType": kind, "content": text})


def _delivery_id(activity: Mapping[str, Any]) -> str:
    """`teams:<activity id>`, scoped to its chat: Teams' ids are timestamps unique per chat only."""
    chat = str(_obj(activity, "conversation").get("id") or "")
    return f"teams:{_text(activity, 'id')}:{hashlib.sha256(chat.encode()).hexdigest()[:16]}"


def _press_data(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("action_id"), str):
        return None
    inner = value.get("value", "")
    return value["action_id"], inner if isinstance(inner, str) else json.dumps(inner)


def parse(
    platform: Platform, activity: Mapping[str, Any]
) -> InboundCommand | ButtonPress | Invoke | None:
    """The activity as a neutral event, an invoke to answer, or None for what the bot ignores."""
    kind = _text(activity, "type")
    if kind not in ("message", "invoke"):
        return None  # conversationUpdate, installationUpdate, typing, reactions …
    sender = _obj(activity, "from")
    if str(sender.get("id") or "").startswith("28:"):
        return None  # another bot
    conversation_id = str(_obj(activity, "conversation").get("id") or "")
    user_id = str(sender.get("aadObjectId") or "")
    if not _text(activity, "id") or not conversation_id or not user_id:
        raise BadActivity("activity lacks id, conversation.id or from.aadObjectId")
    service_url = _text(activity, "serviceUrl")
    target = ReplyTarget(
        platform,
        {
            "service_url": service_url,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "activity_id": _text(activity, "id"),
        },
    )
    delivery_id, user = _delivery_id(activity), PlatformUserId(user_id)
    received_at = datetime.now(UTC)
    card_id = _text(activity, "replyToId")
    ref = (
        MessageRef(platform, conversation_id, card_id, {"service_url": service_url})
        if card_id
        else None
    )

    def press(data: tuple[str, str]) -> ButtonPress:
        return ButtonPress(platform, delivery_id, user, data[0], data[1], ref, target, received_at)

    if kind == "invoke":
        if _text(activity, "name") != CARD_ACTION_INVOKE:
            return None
        action = _obj(_obj(activity, "value"), "action")
        data = _press_data(action.get("data"))
        if data is None:
            raise BadActivity("adaptiveCard/action without action_id in its data")
        return Invoke(press(data))
    if activity.get("value") is not None:  # Action.Submit (§C.2)
        data = _press_data(activity.get("value"))
        return press(data) if data is not None else None  # None: a card that is not ours
    text = command_text(activity)
    if not text:
        return None
    # A message activity: the Bot Connector delivers it again when refused with a 5xx.
    ids = {"conversation_id": conversation_id, "message_id": _text(activity, "id")}
    prose = typed_prose(activity)
    return InboundCommand(
        platform, delivery_id, user, text, target, received_at, True, prose, **ids
    )


def invoke_response(answer: Message | None) -> dict[str, Any]:
    """What Universal Actions expect back: a card replacing the clicked one, or a short note."""
    if answer is None:
        return {
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": "Done.",
        }
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": render_card(answer)}


async def authenticated_activity(
    validator: TokenValidator, tenant_id: str, request: web.Request
) -> dict[str, Any] | web.Response:
    """The delivery's activity once its token, channel and tenant check out; else the answer.

    401 for any doubt about the token, 503 when the signing keys cannot be fetched (the
    connector retries), 400 for a body that is no activity, 403 for a channel other than
    `msteams`, and an empty 200 for another tenant's activity (ignored, never retried).
    """
    try:
        token = await validator.verify(request.headers.get("Authorization"))
    except AuthError as exc:
        log.warning("teams: refused delivery: %s", exc)
        return web.json_response({"error": "Unauthorized"}, status=401)
    except KeysUnavailable as exc:
        log.error("teams: cannot check the delivery's token: %s", exc)
        return web.json_response({"error": "signing keys unavailable"}, status=503)
    try:
        activity = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError):
        return web.json_response({"error": "body is not JSON"}, status=400)
    if not isinstance(activity, dict):
        return web.json_response({"error": "body is not an activity"}, status=400)
    try:
        check_service_url(token.claims, _text(activity, "serviceUrl"))
        check_channel(token, _text(activity, "channelId"))
    except ChannelRefused as exc:
        log.warning("teams: refused delivery: %s", exc)
        return web.json_response({"error": "Forbidden"}, status=403)
    except AuthError as exc:
        log.warning("teams: refused delivery: %s", exc)
        return web.json_response({"error": "Unauthorized"}, status=401)
    if tenants_of(activity) != {tenant_id}:
        log.warning("teams: ignoring an activity from tenant(s) %r", tenants_of(activity))
        return web.json_response({})
    return activity


def messages_handler(
    platform: Platform,
    validator: TokenValidator,
    tenant_id: str,
    handler: EventHandler,
    reply: Reply,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for /api/messages.

    The core's edge has committed before we answer; its answer to a typed command is posted
    into the same chat before the 200, which keeps answers in order. When the edge says
    `Redeliver` we answer 500 and the connector delivers the activity again.
    """

    async def on_activity(request: web.Request) -> web.StreamResponse:
        activity = await authenticated_activity(validator, tenant_id, request)
        if isinstance(activity, web.Response):
            return activity
        try:
            parsed = parse(platform, activity)
        except BadActivity as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if parsed is None:
            if _text(activity, "type") == "invoke":
                return web.json_response({"error": "invoke not supported"}, status=501)
            return web.json_response({})
        event = parsed.press if isinstance(parsed, Invoke) else parsed
        outcome = await handler(event)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
        if isinstance(parsed, Invoke):
            return web.json_response(invoke_response(outcome.message))
        if outcome.message is not None:
            await _answer(reply, event.reply_to, outcome.message)
        return web.json_response({})

    return on_activity


async def _answer(reply: Reply, target: ReplyTarget, answer: Message) -> None:
    # The event is committed: failing the delivery now would only make the connector retry
    # one the core de-duplicates, so a lost answer is logged, not raised.
    try:
        await reply(target, answer)
    except PlatformError:
        log.exception("teams: could not deliver the answer to %s", target.data)
