"""Outbox rows: queued idempotently, leased by one worker at a time, finished by their claim.

Rows that share an `ordering_key` (one relayed conversation) are delivered one at a time in id
order: a row is claimable only while no older row with its key is pending or waiting, so a
retried message holds back the ones after it in its conversation, and no others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from store.models import OutboxItem
from store.repositories.base import Repo
from store.upsert import insert_ignore

# States of an older row that hold back the later rows of its ordering key.
BLOCKING = ("pending", "waiting")
_Older = aliased(OutboxItem)


class Outbox(Repo):
    async def add(self, row: dict[str, Any]) -> bool:
        """Queue a call; a row with the same idempotency key is never queued twice."""
        return await insert_ignore(self.session, OutboxItem, row, ["idempotency_key"])

    @staticmethod
    def _claimable(now: datetime) -> list[ColumnElement[bool]]:
        """Every condition a claim relies on: still pending, due, nobody's live lease, and no
        older row of its ordering key still to deliver (so one row per key is ever leased)."""
        older = exists().where(
            _Older.ordering_key == OutboxItem.ordering_key,
            _Older.id < OutboxItem.id,
            _Older.state.in_(BLOCKING),
        )
        return [
            OutboxItem.state == "pending",
            OutboxItem.next_attempt_at <= now,
            or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
            or_(OutboxItem.ordering_key.is_(None), ~older),
        ]

    def due(self, now: datetime, limit: int, platforms: Sequence[str]) -> Select[int]:
        """Ids of due rows, oldest first; on PostgreSQL rows another claim holds are skipped."""
        return (
            select(OutboxItem.id)
            .where(*self._claimable(now), OutboxItem.platform.in_(platforms))
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def take(
        self,
        candidates: Sequence[int] | Select[int],
        now: datetime,
        until: datetime,
        claim_id: str,
    ) -> list[OutboxItem]:
        """Lease the candidates that are still claimable, in one conditional UPDATE.

        The candidates may be stale (seen before another worker claimed, delivered or put
        back a row), so the UPDATE repeats every condition; the rows it returns are the
        only ones this claim won.
        """
        result = await self.session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(candidates), *self._claimable(now))
            .values(claimed_until=until, claim_id=claim_id)
            .returning(OutboxItem)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return sorted(result.scalars(), key=lambda item: item.id)

    async def claim(
        self, now: datetime, until: datetime, claim_id: str, limit: int, platforms: Sequence[str]
    ) -> list[OutboxItem]:
        """Lease up to `limit` due rows atomically: one UPDATE … WHERE id IN (due rows)."""
        return await self.take(self.due(now, limit, platforms), now, until, claim_id)

    async def finish(self, item_id: int, claim_id: str, **values: Any) -> None:
        await self.session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.claim_id == claim_id)
            .values(claimed_until=None, **values)
        )

    async def renew(self, item_id: int, claim_id: str, until: datetime) -> None:
        """Extend the lease of a row this claim is still running."""
        await self.session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.id == item_id,
                OutboxItem.claim_id == claim_id,
                OutboxItem.state == "pending",
            )
            .values(claimed_until=until)
        )

    async def release(self, sync_id: int, now: datetime) -> int:
        """Waiting rows of a sync back to pending, due now (the person linked again)."""
        result = await self.session.execute(
            update(OutboxItem)
            .where(OutboxItem.sync_id == sync_id, OutboxItem.state == "waiting")
            .values(state="pending", next_attempt_at=now, claimed_until=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def expired_waiting(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Waiting rows past their deadline (`next_attempt_at`), locked so that one process
        expires each."""
        result = await self.session.execute(
            select(OutboxItem)
            .where(OutboxItem.state == "waiting", OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result.scalars())

    async def pending_count(self) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(OutboxItem.state == "pending")
                )
            ).scalar_one()
        )
