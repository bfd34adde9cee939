"""One Graph change-notification subscription per consenting person (relay-apis §2.1).

The resource is `/users/{id}/chats/getAllMessages` with the person's delegated token
(`Chat.ReadWrite` covers the documented `Chat.Read`), `changeType: created`. Graph validates
both URLs before it answers the create (§2.1, surprise 8: `notifications.py` echoes the
token), and refuses lifetimes over 1 h without a `lifecycleNotificationUrl` (surprise 9), so we
always send one and read the expiry Graph actually granted from its answer. The owner's Entra id
rides in both URLs' query string, which Graph echoes on every delivery (§2.1), and `clientState`
is HMAC(relay key, owner): each notification is checked without the database.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.teams.delegated import Delegated, graph_time, parse_time
from adapters.teams.errors import PLATFORM
from bot.types import PermanentFailure, RetryLater, Subscription, TokenGrant

NOTIFICATIONS_PATH = "/teams/notifications"
LIFECYCLE_PATH = "/teams/lifecycle"
# Below Graph's documented 4,320 minutes for chat messages (§2.1), and what Mattermost's
# plugin uses (2 h, renewed when under 5 min are left, §6.1): delegated access tokens last about
# an hour anyway, so a longer subscription would only wait for `reauthorizationRequired`.
LIFETIME = timedelta(hours=2)


def client_state(key: bytes, owner_id: str) -> str:
    """HMAC-SHA256(relay key, owner id) in hex: 64 characters, under Graph's 128 (§2.1)."""
    return hmac.new(key, owner_id.encode(), hashlib.sha256).hexdigest()


def state_matches(key: bytes, owner_id: str, value: Any) -> bool:
    """The echoed clientState is ours for this owner (constant-time comparison)."""
    return isinstance(value, str) and hmac.compare_digest(client_state(key, owner_id), value)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def as_subscription(body: Any, owner_id: str) -> Subscription:
    if not isinstance(body, dict) or not body.get("id"):
        raise RetryLater(PLATFORM, "Graph answered a subscription without an id", after=10.0)
    return Subscription(
        external_id=str(body["id"]),
        expires_at=parse_time(body.get("expirationDateTime")),  # what Graph granted (surprise 9)
        data={"owner": owner_id, "resource": str(body.get("resource") or "")},
    )


class Subscriptions:
    """Create, repair, renew and delete a person's chat-message subscription."""

    def __init__(self, graph: Delegated) -> None:
        self._graph = graph
        self.key: bytes | None = None

    def _key(self) -> bytes:
        if self.key is None:
            raise PermanentFailure(PLATFORM, "no relay key: the core must call use_relay_key")
        return self.key

    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        """Renew `existing` while Graph still has it at this URL; otherwise create a new one."""
        owner = grant.identity.user_id
        base = public_url.rstrip("/")
        query = urllib.parse.urlencode({"owner": owner})
        notification_url = f"{base}{NOTIFICATIONS_PATH}?{query}"
        if existing is not None and existing.external_id:
            path = f"subscriptions/{_quote(existing.external_id)}"
            status, found = await self._graph.call(grant, "GET", path, ok=(200, 404))
            if status == 200 and isinstance(found, dict):
                if found.get("notificationUrl") == notification_url:
                    return await self.renew(grant, existing)
                # Mio moved (a new public URL): notifications must follow it.
                await self._graph.call(grant, "DELETE", path, ok=(200, 204, 404))
        body = {
            "changeType": "created",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": f"{base}{LIFECYCLE_PATH}?{query}",
            "resource": f"/users/{owner}/chats/getAllMessages",
            "expirationDateTime": graph_time(datetime.now(UTC) + LIFETIME),
            "clientState": client_state(self._key(), owner),
        }
        _, answer = await self._graph.call(grant, "POST", "subscriptions", ok=(201,), json=body)
        return as_subscription(answer, owner)

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        """PATCH `expirationDateTime`: renews and reauthorizes with the fresh token (§2.1)."""
        body = {"expirationDateTime": graph_time(datetime.now(UTC) + LIFETIME)}
        _, answer = await self._graph.call(
            grant,
            "PATCH",
            f"subscriptions/{_quote(subscription.external_id)}",
            json=body,
        )
        return as_subscription(answer, grant.identity.user_id)

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        """DELETE answers 204; 404 means it expired or was removed already: the goal holds."""
        if subscription.external_id:
            await self._graph.call(
                grant,
                "DELETE",
                f"subscriptions/{_quote(subscription.external_id)}",
                ok=(200, 204, 404),
            )
