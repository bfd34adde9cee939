"""People's relay subscriptions (one per person × consent-synced secondary platform), the
outbox rows a revoked token holds back, and the relay's figures for /metrics.

Renewal is claimed like a reminder: a process renews a subscription only if its conditional
UPDATE moved `next_renew_at` forward first, so several processes on one PostgreSQL never renew
the same subscription twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from store.models import Connection, Grant, OutboxItem, Sync
from store.relay_models import RelayMessage, RelayPrompt, RelaySubscription
from store.repositories.base import Repo
from store.upsert import insert_ignore, upsert

# What an upsert replaces: everything the adapter said, and the schedule derived from it.
_SAVED = ("platform_user_id", "external_id", "data", "state", "expires_at", "next_renew_at")


class Subscriptions(Repo):
    async def get(
        self, person_id: int, platform: str, *, lock: bool = False
    ) -> RelaySubscription | None:
        stmt = select(RelaySubscription).where(
            RelaySubscription.person_id == person_id, RelaySubscription.platform == platform
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def of_person(self, person_id: int) -> list[RelaySubscription]:
        stmt = select(RelaySubscription).where(RelaySubscription.person_id == person_id)
        return list((await self.session.execute(stmt)).scalars())

    async def save(self, row: dict[str, Any]) -> None:
        """Insert or replace the person's subscription on the platform (one per pair); the
        error of an earlier failure is cleared, `last_seen_at` is kept."""
        await upsert(
            self.session,
            RelaySubscription,
            [{"last_error": None, **row}],
            keys=["person_id", "platform"],
            update=[*_SAVED, "last_error", "updated_at"],
        )

    async def by_external(self, platform: str, external_id: str) -> RelaySubscription | None:
        if not external_id:  # Slack and Zoom subscriptions have none: never match on ""
            return None
        stmt = select(RelaySubscription).where(
            RelaySubscription.platform == platform, RelaySubscription.external_id == external_id
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def by_owner(self, platform: str, platform_user_id: str) -> RelaySubscription | None:
        stmt = select(RelaySubscription).where(
            RelaySubscription.platform == platform,
            RelaySubscription.platform_user_id == platform_user_id,
        )
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def claim_due(
        self, now: datetime, until: datetime, limit: int
    ) -> list[RelaySubscription]:
        """Active subscriptions due for renewal, each moved to `until` by this claim: the rows
        returned are the ones this process won (the UPDATE repeats every condition)."""
        due = (
            select(RelaySubscription.id)
            .where(RelaySubscription.state == "active", RelaySubscription.next_renew_at <= now)
            .order_by(RelaySubscription.next_renew_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            update(RelaySubscription)
            .where(
                RelaySubscription.id.in_(due),
                RelaySubscription.state == "active",
                RelaySubscription.next_renew_at <= now,
            )
            .values(next_renew_at=until)
            .returning(RelaySubscription)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return sorted(result.scalars(), key=lambda row: row.id)

    async def earliest_due(self) -> datetime | None:
        return await self.session.scalar(
            select(func.min(RelaySubscription.next_renew_at)).where(
                RelaySubscription.state == "active"
            )
        )

    async def mark_failed(self, person_id: int, platform: str, error: str, now: datetime) -> None:
        await self.session.execute(
            update(RelaySubscription)
            .where(RelaySubscription.person_id == person_id, RelaySubscription.platform == platform)
            .values(state="failed", last_error=error, next_renew_at=None, updated_at=now)
        )

    async def seen(self, platform: str, platform_user_id: str, at: datetime) -> None:
        """The newest message seen through the owner's subscription (where a backfill starts);
        never moved back by a late, older delivery."""
        newest = RelaySubscription.last_seen_at
        await self.session.execute(
            update(RelaySubscription)
            .where(
                RelaySubscription.platform == platform,
                RelaySubscription.platform_user_id == platform_user_id,
                (newest.is_(None)) | (newest < at),
            )
            .values(last_seen_at=at)
        )

    async def remove(self, person_id: int, platform: str) -> None:
        await self.session.execute(
            delete(RelaySubscription).where(
                RelaySubscription.person_id == person_id, RelaySubscription.platform == platform
            )
        )

    async def synced_consent(
        self, platforms: Sequence[str], after_id: int, limit: int
    ) -> list[tuple[int, int, str]]:
        """(sync id, person id, platform) of synced consent syncs with a grant, by id, a page
        at a time (start-up repair over 100,000 people never loads them all)."""
        result = await self.session.execute(
            select(Sync.id, Sync.person_id, Sync.platform)
            .join(Grant, (Grant.person_id == Sync.person_id) & (Grant.platform == Sync.platform))
            .where(
                Sync.status == "synced",
                Sync.kind == "consent",
                Sync.platform.in_(platforms),
                Sync.id > after_id,
            )
            .order_by(Sync.id)
            .limit(limit)
        )
        return [(int(s), int(p), str(pl)) for s, p, pl in result.all()]

    async def first_prompt(self, kind: str, person_id: int, other: int, now: datetime) -> bool:
        """Record that `kind` was said to the person about `other` (a sync id for "relink");
        True only for the first caller ever, so the DM is sent once across processes."""
        row = {"kind": kind, "person_id": person_id, "other_person_id": other, "last_at": now}
        return await insert_ignore(
            self.session, RelayPrompt, row, ["kind", "person_id", "other_person_id"]
        )

    async def counts(self) -> dict[tuple[str, str], int]:
        result = await self.session.execute(
            select(RelaySubscription.platform, RelaySubscription.state, func.count()).group_by(
                RelaySubscription.platform, RelaySubscription.state
            )
        )
        return {(p, s): int(n) for p, s, n in result.all()}


class Disconnections(Repo):
    """Platforms that removed the app: nothing is sent to them until they are connected again."""

    async def mark(self, platform: str, reason: str, now: datetime) -> None:
        await upsert(
            self.session,
            Connection,
            [{"platform": platform, "disconnected_at": now, "disconnected_reason": reason}],
            keys=["platform"],
            update=["disconnected_at", "disconnected_reason"],
        )

    async def clear(self, platform: str) -> None:
        await self.session.execute(
            update(Connection)
            .where(Connection.platform == platform)
            .values(disconnected_at=None, disconnected_reason=None)
        )

    async def platforms(self) -> set[str]:
        result = await self.session.execute(
            select(Connection.platform).where(Connection.disconnected_at.is_not(None))
        )
        return set(result.scalars())


class RelayFigures(Repo):
    """What /metrics reports, computed in the database so every process reports the same."""

    async def messages(self) -> dict[tuple[str, str, str], int]:
        """Relayed messages by (source platform, target platform, state)."""
        target = func.coalesce(RelayMessage.target_platform, "")
        result = await self.session.execute(
            select(RelayMessage.source_platform, target, RelayMessage.state, func.count()).group_by(
                RelayMessage.source_platform, target, RelayMessage.state
            )
        )
        return {(s, t, st): int(n) for s, t, st, n in result.all()}

    async def latency(self, since: datetime, sample: int) -> tuple[int, float, list[float]]:
        """Messages delivered since `since`: their count and summed latency (delivered_at −
        received_at, seconds), and the latencies of the newest `sample` of them, for the
        quantiles (a bounded read however busy the hour was)."""
        seconds = self._seconds(RelayMessage.delivered_at, RelayMessage.received_at)
        recent = RelayMessage.delivered_at >= since
        count, total = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.sum(seconds), 0.0)).where(recent)
            )
        ).one()
        newest = await self.session.execute(
            select(seconds).where(recent).order_by(RelayMessage.delivered_at.desc()).limit(sample)
        )
        return int(count), float(total), sorted(float(s) for s in newest.scalars())

    def _seconds(self, later: Any, earlier: Any) -> Any:
        """`later - earlier` in seconds, in the database's own arithmetic."""
        dialect = self.session.bind.dialect.name if self.session.bind is not None else "sqlite"
        if dialect == "postgresql":
            return func.extract("epoch", later - earlier)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    async def oldest_pending(self) -> datetime | None:
        """When the oldest row still to deliver was queued (rows `waiting` for a person to
        link again are left out: they may rightly wait a day)."""
        return await self.session.scalar(
            select(func.min(OutboxItem.created_at)).where(OutboxItem.state == "pending")
        )

    async def last_relayed(self, person_id: int) -> dict[str, datetime]:
        """When a message from or to this person was last delivered, per platform it was
        written on or delivered to."""
        theirs = (RelayMessage.sender_person_id == person_id) | (
            RelayMessage.recipient_person_id == person_id
        )
        found: dict[str, datetime] = {}
        for side in (RelayMessage.source_platform, RelayMessage.target_platform):
            result = await self.session.execute(
                select(side, func.max(RelayMessage.delivered_at))
                .where(theirs, side.is_not(None), RelayMessage.delivered_at.is_not(None))
                .group_by(side)
            )
            for platform, at in result.all():
                if platform is not None and at is not None:
                    found[platform] = max(at, found.get(platform, at))
        return found
