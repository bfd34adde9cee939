"""Syncs and the consent grants behind them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from store.models import Grant, Sync
from store.repositories.base import Repo
from store.upsert import upsert


class Syncs(Repo):
    async def of_person(self, person_id: int, *, lock: bool = False) -> list[Sync]:
        stmt = select(Sync).where(Sync.person_id == person_id).order_by(Sync.platform)
        if lock:
            stmt = stmt.with_for_update()
        return list((await self.session.execute(stmt)).scalars())

    async def for_people(self, person_ids: Sequence[int]) -> dict[int, list[Sync]]:
        result = await self.session.execute(select(Sync).where(Sync.person_id.in_(person_ids)))
        out: dict[int, list[Sync]] = {pid: [] for pid in person_ids}
        for s in result.scalars():
            out[s.person_id].append(s)
        return out

    async def get(self, person_id: int, platform: str, *, lock: bool = False) -> Sync | None:
        stmt = select(Sync).where(Sync.person_id == person_id, Sync.platform == platform)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_token(self, token_hash: str, *, lock: bool = True) -> Sync | None:
        stmt = select(Sync).where(Sync.token_hash == token_hash)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_id(self, sync_id: int, *, lock: bool = False) -> Sync | None:
        stmt = select(Sync).where(Sync.id == sync_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def claim_token(self, sync_id: int, token_hash: str) -> bool:
        """Use a token once: only the first of concurrent callers gets True."""
        result = await self.session.execute(
            update(Sync)
            .where(Sync.id == sync_id, Sync.token_hash == token_hash, ~Sync.token_used)
            .values(token_used=True)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int) -> list[Sync]:
        """Pending syncs whose reminder or expiry is due, locked so other processes skip them."""
        result = await self.session.execute(
            select(Sync)
            .where(Sync.status == "pending", Sync.next_due_at <= now)
            .order_by(Sync.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result.scalars())

    async def advance_reminder(self, sync: Sync, sent: int, next_due: datetime) -> bool:
        """Count a reminder only if nobody else did (compare-and-set on the count)."""
        result = await self.session.execute(
            update(Sync)
            .where(
                Sync.id == sync.id,
                Sync.reminders_sent == sync.reminders_sent,
                Sync.status == "pending",
            )
            .values(reminders_sent=sent, next_due_at=next_due)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, sync_ids: Sequence[int]) -> None:
        if sync_ids:
            await self.session.execute(delete(Sync).where(Sync.id.in_(sync_ids)))

    async def counts(self) -> dict[tuple[str, str], int]:
        result = await self.session.execute(
            select(Sync.platform, Sync.status, func.count()).group_by(Sync.platform, Sync.status)
        )
        return {(p, s): int(n) for p, s, n in result.all()}


class Grants(Repo):
    async def of_person(self, person_id: int, platform: str | None = None) -> list[Grant]:
        stmt = select(Grant).where(Grant.person_id == person_id)
        if platform is not None:
            stmt = stmt.where(Grant.platform == platform)
        return list((await self.session.execute(stmt)).scalars())

    async def save(self, row: dict[str, Any]) -> None:
        await upsert(
            self.session,
            Grant,
            [row],
            keys=["person_id", "platform"],
            update=["platform_user_id", "tokens", "expires_at", "created_at"],
        )

    async def delete(self, grant_ids: Sequence[int]) -> None:
        if grant_ids:
            await self.session.execute(delete(Grant).where(Grant.id.in_(grant_ids)))
