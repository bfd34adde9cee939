"""Graph change and lifecycle notifications for people's chats, turned into neutral events.

Both URLs first answer Graph's validation handshake: `POST ?validationToken=…` gets `200`,
`text/plain`, the token URL-decoded (aiohttp's `request.query` decodes it), at once (§2.1,
surprise 8). Every other delivery is `{"value": [...]}`, possibly mixing subscriptions; each
item's `clientState` must equal HMAC(relay key, owner) for the owner named in the URL's query
string (Graph echoes it, §2.1), compared in constant time, and its `tenantId` must be ours.
Items that fail are dropped and change nothing; a delivery with no valid item at all is
answered 403: Graph itself never sends one (it echoes what we stored), so it is a forgery or
a subscription from an older relay key, and a refusal tells its sender nothing a 202 would not
while keeping it visible in access logs. Valid items go through the core's edge one by one;
`202` once all are committed (§2.1: "return 202 if you persist and process later"), `5xx` on
any `Redeliver`, so Graph delivers the batch again (the edge de-duplicates by delivery id).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.teams.subscriptions import LIFECYCLE_PATH, NOTIFICATIONS_PATH, state_matches
from bot.platform import EventHandler, redeliver_response
from bot.types import (
    DmSeen,
    InboundEvent,
    Platform,
    PlatformUserId,
    Redeliver,
    SubscriptionNotice,
)

log = logging.getLogger(__name__)

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
KeySource = Callable[[], bytes | None]

# `chats('19:…@unq.gbl.spaces')/messages('1612289765949')` (§2.1), or the slash form.
_RESOURCE = re.compile(r"chats(?:\('([^']+)'\)|/([^/]+))/messages(?:\('([^']+)'\)|/([^/]+))")
LIFECYCLE_EVENTS = {
    "reauthorizationRequired": "reauthorize",
    "subscriptionRemoved": "removed",
    "missed": "missed",
}


def validation(request: web.Request) -> web.Response | None:
    """The handshake's answer when this is one (§2.1): the decoded token as plain text."""
    token = request.query.get("validationToken")
    if token is None:
        return None
    return web.Response(text=token, content_type="text/plain")


def chat_and_message(resource: str) -> tuple[str, str] | None:
    match = _RESOURCE.search(resource)
    if match is None:
        return None
    chat = match.group(1) or match.group(2)
    message = match.group(3) or match.group(4)
    return (chat, message) if chat and message else None


def dm_seen(platform: Platform, owner: str, item: Mapping[str, Any]) -> DmSeen | None:
    """A `created` chat-message notification as a DmSeen the core completes with fetch_dm."""
    if item.get("changeType") != "created":
        return None
    resource = str(item.get("resource") or "")
    ids = chat_and_message(resource)
    if ids is None:
        return None
    data = item.get("resourceData")
    message_id = str(data.get("id") or ids[1]) if isinstance(data, Mapping) else ids[1]
    subscription = str(item.get("subscriptionId") or "")
    return DmSeen(
        platform=platform,
        delivery_id=f"{subscription}:created:{resource}",
        owner_id=PlatformUserId(owner),
        conversation_id=ids[0],
        message_id=message_id,
        sender_id=PlatformUserId(""),  # unknown until fetch_dm reads the message
        other_id=None,
        prose=None,
        fetch={"subscription_id": subscription, "resource": resource},
        received_at=datetime.now(UTC),
    )


def notice(platform: Platform, owner: str, item: Mapping[str, Any]) -> SubscriptionNotice | None:
    what = LIFECYCLE_EVENTS.get(str(item.get("lifecycleEvent") or ""))
    if what is None:
        return None
    subscription = str(item.get("subscriptionId") or "")
    expiry = str(item.get("subscriptionExpirationDateTime") or "")
    return SubscriptionNotice(
        platform=platform,
        delivery_id=f"{subscription}:{item.get('lifecycleEvent')}:{expiry}",
        owner_id=PlatformUserId(owner),
        subscription_id=subscription,
        what=what,
        received_at=datetime.now(UTC),
    )


Parse = Callable[[Platform, str, Mapping[str, Any]], InboundEvent | None]


def notification_route(
    platform: Platform, tenant_id: str, key: KeySource, handler: EventHandler, parse: Parse
) -> Route:
    """One aiohttp handler for a notification URL; `parse` makes an item an event."""

    async def on_delivery(request: web.Request) -> web.StreamResponse:
        answer = validation(request)
        if answer is not None:
            return answer
        secret, owner = key(), request.query.get("owner", "")
        if secret is None:
            log.error("teams: a notification came before the relay key was set")
            return web.json_response({"error": "not ready"}, status=503)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        items = body.get("value") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            return web.json_response({"error": "no value array"}, status=400)
        valid = [
            item
            for item in items
            if isinstance(item, Mapping)
            and owner
            and item.get("tenantId", tenant_id) == tenant_id
            and state_matches(secret, owner, item.get("clientState"))
        ]
        if len(valid) < len(items):
            log.warning("teams: %d notification(s) refused: clientState", len(items) - len(valid))
        if items and not valid:
            return web.json_response({"error": "clientState does not match"}, status=403)
        for item in valid:
            event = parse(platform, owner, item)
            if event is None:
                continue
            outcome = await handler(event)
            if isinstance(outcome, Redeliver):
                return redeliver_response(outcome)
        return web.Response(status=202)

    return on_delivery


def routes(
    platform: Platform, tenant_id: str, key: KeySource, handler: EventHandler
) -> list[web.RouteDef]:
    return [
        web.post(
            NOTIFICATIONS_PATH, notification_route(platform, tenant_id, key, handler, dm_seen)
        ),
        web.post(LIFECYCLE_PATH, notification_route(platform, tenant_id, key, handler, notice)),
    ]
