"""People's relay subscriptions live as long as their consent syncs (issue 10, "What must hold" 4).

A subscription is what makes a person's 1:1 messages reach Mio on a secondary platform (a Graph
change-notification subscription, a Webex user webhook; Slack and Zoom deliver user events to
the app and keep an empty one). It is made by an outbox row when the sync becomes synced, and
for syncs synced before the relay at `mio serve` start (`repair`); renewed before it expires
by the loop here (`forever`), which claims due subscriptions in the database and queues a
renewal row for each; and removed at unsync and reset, before the token is revoked: both rows
carry the ordering key `grant:{person}:{platform}`, so the revoke waits for the unsubscribe.
Graph's lifecycle notifications arrive as `SubscriptionNotice` (`notice`): reauthorize →
renew, removed → subscribe again then backfill, missed → backfill (relay-apis §2.1).

The three kinds of row register themselves in `bot.outbox_kinds.KINDS` when this module is
imported; `bot.lifecycle` imports it, so every process that can queue or run them has them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self, override

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core import Core
from bot.outbox_kinds import KINDS, Kind, Queued, Result, load_grant
from bot.relay import people, tokens
from bot.types import (
    DmSeen,
    PermanentFailure,
    Subscription,
    SubscriptionNotice,
    TokenRefused,
)
from store.relay_models import RelaySubscription
from store.repositories import Audit, Subscriptions, Syncs

log = logging.getLogger(__name__)

MIN_MARGIN = timedelta(minutes=30)  # renew at the latest this long before expiry
CLAIM_LEASE = timedelta(minutes=10)  # a claimed renewal not finished by then is claimed again


Capture = Callable[[AsyncSession, Core, DmSeen], Awaitable[None]]


def _capture() -> Capture:
    """`bot.relay.capture.seen`, the path a webhook's DmSeen takes (relay-core's pipeline),
    looked up when a backfill runs: it imports this module's kinds itself."""
    seen: Capture = importlib.import_module("bot.relay.capture").seen
    return seen


def grant_key(person_id: int, platform: str) -> str:
    """The ordering key of everything done with one person's token on one platform."""
    return f"grant:{person_id}:{platform}"


def renew_at(now: datetime, expires_at: datetime | None) -> datetime | None:
    """When to renew a subscription: once less than a quarter of its lifetime, or 30 minutes,
    remains (whichever comes first). Graph chat subscriptions last up to 3 days (relay-apis
    §2.1, "Maximum lifetime"); None for subscriptions that never expire (Slack, Zoom, Webex)."""
    if expires_at is None:
        return None
    margin = max((expires_at - now) / 4, MIN_MARGIN)
    return max(now, expires_at - margin)


def as_subscription(row: RelaySubscription) -> Subscription:
    return Subscription(row.external_id, row.expires_at, dict(row.data or {}))


def _dump(sub: Subscription) -> dict[str, Any]:
    expires = sub.expires_at.isoformat() if sub.expires_at else None
    return {"external_id": sub.external_id, "expires_at": expires, "data": sub.data}


def _load(data: dict[str, Any]) -> Subscription:
    expires = data.get("expires_at")
    return Subscription(
        data["external_id"], datetime.fromisoformat(expires) if expires else None, data["data"]
    )


async def record(
    session: AsyncSession, core: Core, person_id: int, platform: str, owner: str, sub: Subscription
) -> None:
    """Keep what the adapter made, with the time its renewal is due."""
    now = core.clock.now()
    await Subscriptions(session).save(
        {
            "person_id": person_id,
            "platform": platform,
            "platform_user_id": owner,
            "external_id": sub.external_id,
            "data": sub.data,
            "state": "active",
            "expires_at": sub.expires_at,
            "next_renew_at": renew_at(now, sub.expires_at),
            "created_at": now,
            "updated_at": now,
        }
    )


@dataclass(frozen=True)
class Subscribe(Kind):
    """Make sure the person's DMs reach Mio: subscribe (or repair `existing`), or `renew` the
    current subscription; `fresh` when the platform removed it (then backfill the gap)."""

    name: ClassVar[str] = "relay_subscribe"
    person_id: int
    renew: bool = False
    fresh: bool = False

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(int(data["person_id"]), bool(data.get("renew")), bool(data.get("fresh")))

    @override
    def routing(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "renew": self.renew, "fresh": self.fresh}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        # (a disconnected platform's rows are not claimed: bot.delivery)
        adapter = people.relay_adapter(core, row.platform)
        async with core.sessions() as session:
            sync = await Syncs(session).get(self.person_id, row.platform)
            current = await Subscriptions(session).get(self.person_id, row.platform)
        if sync is None or sync.status != "synced":
            return {"skipped": "not synced"}  # unsynced or failed meanwhile
        existing = None if current is None or self.fresh else as_subscription(current)
        try:
            grant = await tokens.fresh_grant(core, self.person_id, row.platform)
            if grant is None:
                return {"skipped": "no grant"}
            if not adapter.grant_covers_relay(grant):
                return {"skipped": "needs re-link"}
            made = await self._make(core, adapter, grant, existing)
        except TokenRefused as exc:
            return {"refused": exc.reason}
        return {"subscription": made, "owner": grant.identity.user_id}

    async def _make(
        self, core: Core, adapter: Any, grant: Any, existing: Subscription | None
    ) -> Subscription:
        if self.renew and existing is not None and existing.external_id:
            try:
                made: Subscription = await adapter.renew(grant, existing)
                return made
            except TokenRefused:
                raise
            except PermanentFailure:  # gone on the platform's side: make a new one
                existing = None
        made = await adapter.subscribe(grant, core.settings.public_url, existing)
        return made

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        now = core.clock.now()
        if "refused" in result:
            await tokens.token_refused(session, core, self.person_id, row.platform)
            return
        if "subscription" not in result:
            Audit(session).add(
                now, "system", "relay.subscribe_skipped", self.person_id,
                platform=row.platform, why=result.get("skipped"),
            )  # fmt: skip
            return
        sub: Subscription = result["subscription"]
        before = await Subscriptions(session).get(self.person_id, row.platform)
        # The gap a removed subscription left starts at the last message seen through it.
        gap = before.last_seen_at or before.updated_at if before is not None else None
        await record(session, core, self.person_id, row.platform, result["owner"], sub)
        action = "relay.renewed" if self.renew else "relay.subscribed"
        Audit(session).add(now, "system", action, self.person_id, platform=row.platform)
        if self.fresh:
            await queue_backfill(session, core, self.person_id, row.platform, gap, f"o{row.id}")

    @override
    async def failed(self, session: AsyncSession, core: Core, row: Queued, reason: str) -> None:
        await Subscriptions(session).mark_failed(
            self.person_id, row.platform, reason, core.clock.now()
        )


@dataclass(frozen=True)
class Unsubscribe(Kind):
    """Stop the person's DMs reaching Mio (unsync, reset); the grant travels sealed, since its
    row is deleted in the transaction that queues this."""

    name: ClassVar[str] = "relay_unsubscribe"
    person_id: int
    grant: dict[str, Any]
    subscription: dict[str, Any]

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(int(data["person_id"]), data["grant"], data["subscription"])

    @override
    def routing(self) -> dict[str, Any]:
        return {"person_id": self.person_id}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return {"grant": self.grant, "subscription": self.subscription}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        # (a disconnected platform's rows are not claimed: bot.delivery)
        adapter = people.relay_adapter(core, row.platform)
        try:
            await adapter.unsubscribe(load_grant(self.grant), _load(self.subscription))
        except TokenRefused:  # the token is gone already, and its subscription with it
            return {"outcome": "token already refused"}
        return {"outcome": "unsubscribed"}

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        Audit(session).add(
            core.clock.now(), "system", "relay.unsubscribed", self.person_id,
            platform=row.platform, outcome=result["outcome"],
        )  # fmt: skip


@dataclass(frozen=True)
class Backfill(Kind):
    """Read the person's 1:1s since `since` (default: the last message seen) after lost
    notifications, and hand each message to the capture, as a webhook would."""

    name: ClassVar[str] = "relay_backfill"
    person_id: int
    since: datetime | None = None

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        since = data.get("since")
        return cls(int(data["person_id"]), datetime.fromisoformat(since) if since else None)

    @override
    def routing(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "since": self.since and self.since.isoformat()}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        # (a disconnected platform's rows are not claimed: bot.delivery)
        adapter = people.relay_adapter(core, row.platform)
        async with core.sessions() as session:
            current = await Subscriptions(session).get(self.person_id, row.platform)
        if current is None or current.state != "active":
            return {"skipped": "no active subscription"}
        since = self.since or current.last_seen_at or current.updated_at
        try:
            grant = await tokens.fresh_grant(core, self.person_id, row.platform)
            if grant is None:
                return {"skipped": "no grant"}
            found = await adapter.messages_since(grant, as_subscription(current), since)
        except TokenRefused as exc:
            return {"refused": exc.reason}
        return {"seen": list(found), "owner": grant.identity.user_id}

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        if "refused" in result:
            await tokens.token_refused(session, core, self.person_id, row.platform)
            return
        now = core.clock.now()
        seen = result.get("seen", [])
        for event in seen:
            await _capture()(session, core, replace(event, received_at=event.received_at or now))
        newest = max((e.sent_at for e in seen if e.sent_at is not None), default=None)
        if newest is not None:
            await Subscriptions(session).seen(row.platform, result["owner"], newest)
        Audit(session).add(
            now, "system", "relay.backfilled", self.person_id,
            platform=row.platform, messages=len(seen),
        )  # fmt: skip


KINDS.update({kind.name: kind for kind in (Subscribe, Unsubscribe, Backfill)})


# --- Queueing: from the lifecycle, the notices and the scheduler ---------------------------


async def subscribe(
    session: AsyncSession, core: Core, person_id: int, platform: str, key: str, **how: bool
) -> None:
    """Queue a subscribe (or `renew=True`, `fresh=True`) for a relay platform; other
    platforms have nothing to subscribe to."""
    if tokens.relay_adapter(core, platform) is None:
        return
    await outbox.queue(
        session, core, platform, Subscribe(person_id, **how),
        key=key, ordering_key=grant_key(person_id, platform),
    )  # fmt: skip


async def queue_backfill(
    session: AsyncSession,
    core: Core,
    person_id: int,
    platform: str,
    since: datetime | None,
    why: str,
) -> None:
    await outbox.queue(
        session, core, platform, Backfill(person_id, since),
        key=f"backfill:{person_id}:{platform}:{why}", ordering_key=grant_key(person_id, platform),
    )  # fmt: skip


async def synced(
    session: AsyncSession, core: Core, person_id: int, platform: str, sign_in: str
) -> None:
    """A consent sync became synced (first link, re-consent, re-link): subscribe. `sign_in`
    names the sign-in that did it (the spent OAuth state's hash), one row each."""
    key = f"subscribe:{person_id}:{platform}:{sign_in}"
    await subscribe(session, core, person_id, platform, key)


async def before_revoke(
    session: AsyncSession, core: Core, person_id: int, platform: str, sealed_grant: str
) -> None:
    """Unsync or reset: queue the unsubscribe (with the grant, sealed) ahead of the revoke
    the caller queues next with the same ordering key, and forget the subscription."""
    current = await Subscriptions(session).get(person_id, platform, lock=True)
    if current is None or tokens.relay_adapter(core, platform) is None:
        return
    kind = Unsubscribe(person_id, core.vault.open(sealed_grant), _dump(as_subscription(current)))
    await outbox.queue(
        session, core, platform, kind,
        key=f"unsubscribe:{current.id}:{core.clock.now().timestamp()}",
        ordering_key=grant_key(person_id, platform),
    )  # fmt: skip
    await Subscriptions(session).remove(person_id, platform)


async def notice(session: AsyncSession, core: Core, event: SubscriptionNotice) -> None:
    """Graph lifecycle notifications (relay-apis §2.1): `reauthorize` → renew (PATCH, which
    reauthorizes too); `removed` → subscribe anew, then backfill the gap; `missed` → backfill
    from the last message seen. Queued, so the webhook answers at once (within 3 s)."""
    repo = Subscriptions(session)
    current = await repo.by_external(event.platform, event.subscription_id)
    current = current or await repo.by_owner(event.platform, event.owner_id)
    now = core.clock.now()
    if current is None:
        Audit(session).add(
            now, "system", "relay.notice_unknown", None,
            platform=event.platform, what=event.what,
        )  # fmt: skip
        return
    person, platform = current.person_id, current.platform
    key = f"notice:{platform}:{event.delivery_id}"
    if event.what == "reauthorize":
        await subscribe(session, core, person, platform, key, renew=True)
    elif event.what == "removed":
        await subscribe(session, core, person, platform, key, fresh=True)
    elif event.what == "missed":
        await queue_backfill(session, core, person, platform, current.last_seen_at, key)
    Audit(session).add(now, "system", "relay.notice", person, platform=platform, what=event.what)


async def renew_due(core: Core, batch: int = 100) -> int:
    """Claim the subscriptions due for renewal and queue a renewal row for each; the claim
    and the rows commit together, and the row's key (the expiry it renews) makes a second
    claim after a slow renewal queue nothing twice."""
    claimed = 0
    while True:
        async with core.transaction() as session:
            now = core.clock.now()
            due = await Subscriptions(session).claim_due(now, now + CLAIM_LEASE, batch)
            for row in due:
                expires = row.expires_at.timestamp() if row.expires_at else 0
                key = f"renew:{row.id}:{expires}"
                await subscribe(session, core, row.person_id, row.platform, key, renew=True)
        claimed += len(due)
        if len(due) < batch:
            return claimed
