"""What the bot keeps about its own work: processed deliveries, the audit log, platform
connections and actions waiting for a Confirm press."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from store.models import Account, AuditEntry, Connection, PendingAction, ProcessedEvent
from store.repositories.base import Repo
from store.upsert import insert_ignore, upsert


class Events(Repo):
    async def first_time(self, platform: str, delivery_id: str, now: datetime) -> bool:
        """Record a delivery; False when it was processed before (a retry or a replay)."""
        return await insert_ignore(
            self.session,
            ProcessedEvent,
            {"platform": platform, "delivery_id": delivery_id, "received_at": now},
            ["platform", "delivery_id"],
        )

    async def prune(self, before: datetime) -> None:
        await self.session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < before)
        )


class Audit(Repo):
    def add(
        self, at: datetime, actor: str, action: str, person_id: int | None = None, **detail: Any
    ) -> None:
        self.session.add(
            AuditEntry(at=at, actor=actor, action=action, person_id=person_id, detail=detail)
        )

    async def recent(self, limit: int = 50, person_id: int | None = None) -> list[AuditEntry]:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if person_id is not None:
            stmt = stmt.where(AuditEntry.person_id == person_id)
        return list((await self.session.execute(stmt)).scalars())


class Connections(Repo):
    async def save(self, platform: str, **values: Any) -> None:
        await upsert(
            self.session,
            Connection,
            [{"platform": platform, **values}],
            keys=["platform"],
            update=list(values),
        )

    async def all(self) -> dict[str, Connection]:
        return {c.platform: c for c in (await self.session.execute(select(Connection))).scalars()}

    async def count_accounts(self, platform: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(
                        Account.platform == platform, Account.is_active, ~Account.is_bot
                    )
                )
            ).scalar_one()
        )


class PendingActions(Repo):
    def add(self, **values: Any) -> None:
        self.session.add(PendingAction(**values))

    async def take(self, token_hash: str) -> PendingAction | None:
        """The action for a Confirm press, marked used so a second press finds nothing."""
        result = await self.session.execute(
            update(PendingAction)
            .where(and_(PendingAction.token_hash == token_hash, ~PendingAction.used))
            .values(used=True)
            .returning(PendingAction.id)
        )
        found = result.scalar_one_or_none()
        if found is None:
            return None
        return (
            await self.session.execute(select(PendingAction).where(PendingAction.id == found))
        ).scalar_one()
