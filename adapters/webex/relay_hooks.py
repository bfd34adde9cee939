"""A person's relay webhook: created with their own token, repaired, removed (relay-apis §3.1).

Webex tells an integration about a person's 1:1 messages only through a webhook created with
that person's token: `resource=messages`, `event=created`, `filter=roomType=direct`. It points
at `{public_url}/webex/events?owner={personId}` and is signed with its own secret,
HMAC(relay key, owner) in hex, so the route checks a delivery without the database. Webex
webhooks never expire, but one turns `inactive` after delivery failures and then stays silent
until PUT back to `active` (§3.1); a PUT can change only name, targetUrl, secret and status
(platform-apis §F.3), so a webhook with another resource or filter is deleted and recreated.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from adapters.webex.errors import NotFound
from adapters.webex.relay_api import RelayApi
from bot.types import Subscription, TokenGrant

NAME = "Mio User Sync: relay"
RESOURCE, EVENT, FILTER = "messages", "created", "roomType=direct"
OWNER = "owner"  # the query parameter naming whose webhook delivered


def target_url(public_url: str, events_path: str, owner: str) -> str:
    query = urllib.parse.urlencode({OWNER: owner})
    return f"{public_url.rstrip('/')}{events_path}?{query}"


def _hook_path(hook_id: str) -> str:
    return "webhooks/" + urllib.parse.quote(hook_id, safe="")


def _shape_ok(hook: Mapping[str, Any]) -> bool:
    return (hook.get("resource"), hook.get("event"), hook.get("filter") or "") == (
        RESOURCE,
        EVENT,
        FILTER,
    )


def _subscription(hook: Mapping[str, Any], target: str) -> Subscription:
    return Subscription(external_id=str(hook["id"]), data={"target_url": target})


class RelayHooks:
    """Webhook calls with the person's token (`grant.access_token`)."""

    def __init__(self, api: RelayApi) -> None:
        self._api = api

    async def _call(self, grant: TokenGrant, method: str, path: str, **kwargs: Any) -> Any:
        body, _ = await self._api.call(method, path, grant.access_token, user=True, **kwargs)
        return body

    async def _create(self, grant: TokenGrant, target: str, secret: str) -> Subscription:
        hook = await self._call(
            grant,
            "POST",
            "webhooks",
            json={
                "name": NAME,
                "targetUrl": target,
                "resource": RESOURCE,
                "event": EVENT,
                "filter": FILTER,
                "secret": secret,
            },
        )
        return _subscription(hook, target)

    async def _activate(
        self, grant: TokenGrant, hook: Mapping[str, Any], target: str, secret: str
    ) -> Subscription:
        """PUT the webhook back to active, at `target`, with our secret (§3.1, §F.3)."""
        updated = await self._call(
            grant,
            "PUT",
            _hook_path(str(hook["id"])),
            json={"name": NAME, "targetUrl": target, "secret": secret, "status": "active"},
        )
        return _subscription(updated, target)

    async def ensure(
        self, grant: TokenGrant, target: str, secret: str, existing: Subscription | None
    ) -> Subscription:
        """The person's webhook exists, is active, points at `target` and signs with `secret`.

        With `existing`, that webhook is read and repaired (recreated when gone or of the
        wrong shape, PUT active when `inactive` or aimed elsewhere). Without it, the person's
        webhooks are listed first, so a create whose answer was lost (`Unanswered`) is adopted
        rather than doubled: two webhooks would deliver every message twice.
        """
        if existing is not None and existing.external_id:
            try:
                hook = await self._call(grant, "GET", _hook_path(existing.external_id))
            except NotFound:
                hook = None
            if isinstance(hook, Mapping):
                return await self._repair(grant, hook, target, secret)
        listed = await self._call(grant, "GET", "webhooks", params={"max": "100"})
        ours = [
            h
            for h in (listed.get("items") or [] if isinstance(listed, Mapping) else [])
            if isinstance(h, Mapping) and h.get("targetUrl") == target
        ]
        for extra in ours[1:]:
            await self.delete(grant, str(extra.get("id")))
        if ours:
            return await self._repair(grant, ours[0], target, secret)
        return await self._create(grant, target, secret)

    async def _repair(
        self, grant: TokenGrant, hook: Mapping[str, Any], target: str, secret: str
    ) -> Subscription:
        if not _shape_ok(hook):
            await self.delete(grant, str(hook.get("id")))
            return await self._create(grant, target, secret)
        healthy = (
            hook.get("status", "active") == "active"
            and hook.get("targetUrl") == target
            and hook.get("secret", secret) == secret  # Webex may leave the secret out
            and hook.get("name") == NAME
        )
        if healthy:
            return _subscription(hook, target)
        return await self._activate(grant, hook, target, secret)

    async def delete(self, grant: TokenGrant, hook_id: str) -> None:
        """DELETE the webhook; one already gone (404) is what was wanted."""
        if not hook_id:
            return
        try:
            await self._call(grant, "DELETE", _hook_path(hook_id), ok=(200, 204))
        except NotFound:
            return
