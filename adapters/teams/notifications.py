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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.teams.relay import ONE_ON_ONE_ID
from adapters.teams.subscriptions import LIFECYCLE_PATH, NOTIFICATIONS_PATH, state_matches
from adapters.teams.tenant import TENANT_OWNER
from bot.platform import EventHandler, redeliver_response
from bot.types import (
    DmSeen,
    InboundEvent,
    Platform,
    PlatformError,
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


def dm_seen(platform: Platform, owner: str, item: Mapping[str, Any]) -> list[DmSeen]:
    """A `created` chat-message notification as DmSeen the core completes with fetch_dm: one
    for the subscription's owner, or, from the tenant-wide subscription, one per member of a
    1:1 named by its chat id (any other chat is dropped unread, tenant.py)."""
    if item.get("changeType") != "created":
        return []
    resource = str(item.get("resource") or "")
    ids = chat_and_message(resource)
    if ids is None:
        return []
    data = item.get("resourceData")
    message_id = str(data.get("id") or ids[1]) if isinstance(data, Mapping) else ids[1]
    subscription = str(item.get("subscriptionId") or "")
    delivery_id = f"{subscription}:created:{resource}"
    owners: list[str] = [owner]
    if owner == TENANT_OWNER:
        pair = ONE_ON_ONE_ID.match(ids[0])
        owners = [pair.group(1).lower(), pair.group(2).lower()] if pair else []
    return [
        DmSeen(
            platform=platform,
            delivery_id=delivery_id if owner != TENANT_OWNER else f"{delivery_id}:{member}",
            owner_id=PlatformUserId(member),
            conversation_id=ids[0],
            message_id=message_id,
            sender_id=PlatformUserId(""),  # unknown until fetch_dm reads the message
            other_id=None,
            prose=None,
            fetch={"subscription_id": subscription, "resource": resource},
            received_at=datetime.now(UTC),
        )
        for member in owners
    ]


def notice(platform: Platform, owner: str, item: Mapping[str, Any]) -> list[SubscriptionNotice]:
    what = LIFECYCLE_EVENTS.get(str(item.get("lifecycleEvent") or ""))
    if what is None:
        return []
    subscription = str(item.get("subscriptionId") or "")
    expiry = str(item.get("subscriptionExpirationDateTime") or "")
    return [
        SubscriptionNotice(
            platform=platform,
            delivery_id=f"{subscription}:{item.get('lifecycleEvent')}:{expiry}",
            owner_id=PlatformUserId(owner),
            subscription_id=subscription,
            what=what,
            received_at=datetime.now(UTC),
        )
    ]


Parse = Callable[[Platform, str, Mapping[str, Any]], Sequence[InboundEvent]]
TenantHook = Callable[[SubscriptionNotice], Awaitable[None]]


async def _handled(
    events: list[InboundEvent], handler: EventHandler, tenant: TenantHook
) -> web.Response | None:
    """Each event through the core (or the tenant subscription's own lifecycle); the error
    answer on the first refusal, else None."""
    for event in events:
        if isinstance(event, SubscriptionNotice) and event.owner_id == TENANT_OWNER:
            try:
                await tenant(event)
            except PlatformError as exc:
                log.error("teams: tenant subscription %s failed: %s", event.what, exc.reason)
                return web.json_response({"error": "try again"}, status=503)
            continue
        outcome = await handler(event)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
    return None


def notification_route(
    platform: Platform,
    tenant_id: str,
    key: KeySource,
    handler: EventHandler,
    parse: Parse,
    tenant: TenantHook,
) -> Route:
    """One aiohttp handler for a notification URL; `parse` makes an item events."""

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
        events = [event for item in valid for event in parse(platform, owner, item)]
        refused = await _handled(events, handler, tenant)
        return refused or web.Response(status=202)

    return on_delivery


def routes(
    platform: Platform, tenant_id: str, key: KeySource, handler: EventHandler, tenant: TenantHook
) -> list[web.RouteDef]:
    def route(parse: Parse) -> Route:
        return notification_route(platform, tenant_id, key, handler, parse, tenant)

    return [web.post(NOTIFICATIONS_PATH, route(dm_seen)), web.post(LIFECYCLE_PATH, route(notice))]
