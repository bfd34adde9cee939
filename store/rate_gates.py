"""Rate gates: each turn is one compare-and-set on the gate's version, never a lock held.

A reader computes the next marks from what it read and writes them `WHERE version` is still
the one it read; the row count says whether it got the turn. That is atomic on SQLite and on
PostgreSQL alike, and no transaction spans the wait for a free turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update

from store.models import RateGateRow
from store.repositories.base import Repo
from store.upsert import insert_ignore


@dataclass(frozen=True)
class GateState:
    marks: list[float]
    version: int
    paused_until: datetime | None


class RateGates(Repo):
    async def get(self, key: str) -> GateState | None:
        found = (
            await self.session.execute(
                select(RateGateRow.marks, RateGateRow.version, RateGateRow.paused_until).where(
                    RateGateRow.key == key
                )
            )
        ).one_or_none()
        if found is None:
            return None
        marks, version, paused_until = found
        return GateState([float(m) for m in marks], int(version), paused_until)

    async def create(self, key: str) -> None:
        """An empty gate, unless another process made it first."""
        await insert_ignore(
            self.session, RateGateRow, {"key": key, "marks": [], "version": 0}, ["key"]
        )

    async def swap(self, key: str, version: int, marks: Sequence[float]) -> bool:
        """Write the marks if nobody did since `version` was read; True when this call did."""
        result = await self.session.execute(
            update(RateGateRow)
            .where(RateGateRow.key == key, RateGateRow.version == version)
            .values(marks=list(marks), version=version + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def pause(self, key: str, until: datetime) -> None:
        """Hold every caller off until `until`, unless a later pause is already recorded."""
        await self.create(key)  # a write first: SQLite takes its write lock before any read
        await self.session.execute(
            update(RateGateRow)
            .where(
                RateGateRow.key == key,
                or_(RateGateRow.paused_until.is_(None), RateGateRow.paused_until < until),
            )
            .values(paused_until=until)
        )
