"""`TEAMS_CHAT_SUBSCRIPTION=tenant`: one subscription for the whole tenant (issue 10 §4).

Instead of one delegated subscription per consenting person, the app subscribes once to
`/chats/getAllMessages` with its application permission `Chat.Read.All` (relay-apis §2.1;
application-only, surprise 7; a protected API that needs Microsoft's approval, surprise 15).
It sees every chat in the tenant, so nothing is read from the notification itself: its chat id
names the two members of a 1:1 (`19:{a}_{b}@unq.gbl.spaces`, §2.3), each becomes the owner of a
`DmSeen`, and the core completes one only with that member's own grant — people who never
consented are never read, and any other chat is dropped unopened.

The subscription is Mio's, not a person's: it is found or created at start-up (`prepare`) and
whenever a person's sync subscribes, renewed on `reauthorizationRequired` (which Graph sends
before it expires, §2.1) and recreated on `subscriptionRemoved`, all here; a `missed` is logged
(per-person backfills need the people's own `messages_since`, which the core runs on their
`missed` notices in per-user mode).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapters.teams.client import AppToken
from adapters.teams.delegated import graph_time
from adapters.teams.errors import PLATFORM
from adapters.teams.subscriptions import (
    LIFECYCLE_PATH,
    LIFETIME,
    NOTIFICATIONS_PATH,
    as_subscription,
    client_state,
)
from bot.types import PermanentFailure, Subscription, SubscriptionNotice

log = logging.getLogger(__name__)

TENANT_OWNER = "tenant"  # the `owner` of the tenant subscription's URLs and clientState
RESOURCE = "/chats/getAllMessages"


class TenantChats:
    """The one application-permission chat subscription of this deployment."""

    def __init__(self, app: AppToken, graph_url: str, key: Callable[[], bytes | None]) -> None:
        self._app = app
        self._graph_url = graph_url
        self._key = key
        self._lock = asyncio.Lock()
        self.public_url: str | None = None

    def _state(self) -> str:
        key = self._key()
        if key is None:
            raise PermanentFailure(PLATFORM, "no relay key: the core must call use_relay_key")
        return client_state(key, TENANT_OWNER)

    async def ensure(self, public_url: str) -> Subscription:
        """Ours if Graph still has it (renewed when half its life is gone), else a new one."""
        async with self._lock:
            self.public_url = public_url.rstrip("/")
            found = await self._find()
            if found is None:
                return await self._create()
            left = (found.expires_at or datetime.now(UTC)) - datetime.now(UTC)
            if left < LIFETIME / 2:
                return await self.renew(found.external_id)
            return found

    async def _find(self) -> Subscription | None:
        """`GET /subscriptions` lists the app's own; ours is the one on our notification URL."""
        body = await self._app.expect("GET", self._graph_url + "subscriptions")
        ours = f"{self.public_url}{NOTIFICATIONS_PATH}"
        for item in (body.get("value") if isinstance(body, dict) else None) or []:
            if (
                isinstance(item, dict)
                and item.get("resource") == RESOURCE
                and str(item.get("notificationUrl") or "").startswith(ours)
            ):
                return as_subscription(item, TENANT_OWNER)
        return None

    async def _create(self) -> Subscription:
        query = urllib.parse.urlencode({"owner": TENANT_OWNER})
        body: dict[str, Any] = {
            "changeType": "created",
            "notificationUrl": f"{self.public_url}{NOTIFICATIONS_PATH}?{query}",
            "lifecycleNotificationUrl": f"{self.public_url}{LIFECYCLE_PATH}?{query}",
            "resource": RESOURCE,
            "expirationDateTime": graph_time(datetime.now(UTC) + LIFETIME),
            "clientState": self._state(),
        }
        made = await self._app.expect(
            "POST", self._graph_url + "subscriptions", ok=(201,), json=body
        )
        log.info("teams: created the tenant-wide chat subscription")
        return as_subscription(made, TENANT_OWNER)

    async def renew(self, subscription_id: str) -> Subscription:
        body = {"expirationDateTime": graph_time(datetime.now(UTC) + LIFETIME)}
        url = f"{self._graph_url}subscriptions/{urllib.parse.quote(subscription_id, safe='')}"
        return as_subscription(await self._app.expect("PATCH", url, json=body), TENANT_OWNER)

    async def on_lifecycle(self, notice: SubscriptionNotice) -> None:
        """Graph's lifecycle events for the tenant subscription, handled by the adapter."""
        if notice.what == "reauthorize":
            await self.renew(notice.subscription_id)
        elif notice.what == "removed" and self.public_url is not None:
            await self.ensure(self.public_url)
        else:
            log.warning("teams: the tenant chat subscription reports %s", notice.what)
