"""Queries, as objects that receive their session. Plain values in and out: no bot types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    Account,
    AuditEntry,
    Connection,
    Grant,
    OutboxItem,
    PendingAction,
    Person,
    ProcessedEvent,
    Sync,
)
from store.upsert import insert_ignore, upsert


class Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class Directory(Repo):
    """People and accounts."""

    async def upsert_people(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Create people by match key (name and email follow the latest import); key → id."""
        # One row a key: PostgreSQL refuses to update the same row twice in one statement.
        unique = list({r["match_key"]: r for r in rows}.values())
        found = await upsert(
            self.session,
            Person,
            unique,
            keys=["match_key"],
            update=["display_name", "email"],
            returning=["match_key", "id"],
        )
        return {k: i for k, i in found}

    async def upsert_accounts(self, rows: Sequence[dict[str, Any]]) -> None:
        cols = [
            "person_id",
            "email",
            "display_name",
            "is_bot",
            "is_guest",
            "is_active",
            "is_admin",
            "extra",
            "seen_at",
        ]
        await upsert(
            self.session, Account, rows, keys=["platform", "platform_user_id"], update=cols
        )

    async def count_on(self, platform: str) -> int:
        return int(
            (
                await self.session.execute(select(func.count()).where(Account.platform == platform))
            ).scalar_one()
        )

    async def mark_vanished(self, platform: str, before: datetime) -> list[tuple[int, int | None]]:
        """Accounts the last import did not list go inactive; returns (account id, person id)."""
        result = await self.session.execute(
            update(Account)
            .where(Account.platform == platform, Account.seen_at < before, Account.is_active)
            .values(is_active=False)
            .returning(Account.id, Account.person_id)
        )
        return [(a, p) for a, p in result.all()]

    async def inactive_people_on(self, platform: str) -> list[int]:
        """People whose account on `platform` is inactive while a sync still relies on it."""
        relies = or_(Sync.platform == platform, Sync.primary_platform == platform)
        result = await self.session.execute(
            select(Account.person_id)
            .join(Sync, Sync.person_id == Account.person_id)
            .where(
                Account.platform == platform,
                ~Account.is_active,
                Sync.status.in_(("pending", "synced")),
                relies,
            )
            .distinct()
        )
        return [p for p in result.scalars() if p is not None]

    async def active_platforms(self, person_ids: Sequence[int]) -> dict[int, set[str]]:
        result = await self.session.execute(
            select(Account.person_id, Account.platform).where(
                Account.person_id.in_(person_ids), Account.is_active, ~Account.is_bot
            )
        )
        found: dict[int, set[str]] = {pid: set() for pid in person_ids}
        for pid, platform in result.all():
            if pid is not None:
                found[pid].add(platform)
        return found

    async def people_on(self, platform: str, after_id: int, limit: int) -> list[Person]:
        """The next `limit` people with an account on `platform`, walked by person id."""
        ids = (
            select(Account.person_id)
            .where(Account.platform == platform, Account.person_id > after_id)
            .group_by(Account.person_id)
            .order_by(Account.person_id)
            .limit(limit)
            .subquery()
        )
        result = await self.session.execute(
            select(Person).join(ids, Person.id == ids.c.person_id).order_by(Person.id)
        )
        return list(result.scalars())

    async def set_primaries(self, changes: Sequence[dict[str, Any]]) -> None:
        """Rows of {id, primary_platform, primary_chosen_by_admin}: an executemany by key."""
        if changes:
            await self.session.execute(update(Person), list(changes))

    async def person(self, person_id: int, *, lock: bool = False) -> Person | None:
        stmt = select(Person).where(Person.id == person_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def accounts_of(self, person_id: int) -> list[Account]:
        result = await self.session.execute(
            select(Account).where(Account.person_id == person_id).order_by(Account.platform)
        )
        return list(result.scalars())

    async def account(self, platform: str, user_id: str) -> Account | None:
        result = await self.session.execute(
            select(Account).where(Account.platform == platform, Account.platform_user_id == user_id)
        )
        return result.scalar_one_or_none()

    async def find_people(self, text: str, limit: int = 10) -> list[Person]:
        """By normalised email, then exact name, then names or emails containing the text."""
        needle = text.strip().lower()
        by_email = select(Person.id).where(Person.match_key == needle)
        by_account_email = select(Account.person_id).where(
            func.lower(func.trim(Account.email)) == needle
        )
        exact = (
            (
                await self.session.execute(
                    select(Person).where(
                        or_(Person.id.in_(by_email), Person.id.in_(by_account_email))
                    )
                )
            )
            .scalars()
            .all()
        )
        if exact:
            return list(exact)
        named = (
            (
                await self.session.execute(
                    select(Person)
                    .where(
                        or_(
                            func.lower(Person.display_name) == needle,
                            Person.id.in_(
                                select(Account.person_id).where(
                                    func.lower(Account.display_name) == needle
                                )
                            ),
                        )
                    )
                    .order_by(Person.display_name)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        if named:
            return list(named)
        # `50%` or `a_b` means those characters, not LIKE wildcards.
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        fuzzy = await self.session.execute(
            select(Person)
            .where(
                or_(
                    func.lower(Person.display_name).like(like, escape="\\"),
                    Person.match_key.like(like, escape="\\"),
                )
            )
            .order_by(Person.display_name)
            .limit(limit)
        )
        return list(fuzzy.scalars())

    async def accounts_for(self, person_ids: Sequence[int]) -> dict[int, list[Account]]:
        result = await self.session.execute(
            select(Account).where(Account.person_id.in_(person_ids)).order_by(Account.platform)
        )
        out: dict[int, list[Account]] = {pid: [] for pid in person_ids}
        for acc in result.scalars():
            if acc.person_id is not None:
                out[acc.person_id].append(acc)
        return out

    async def count_inactive(self, platform: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(Account.platform == platform, ~Account.is_active)
                )
            ).scalar_one()
        )

    async def count_apart(self) -> dict[str, int]:
        """How many bot and guest accounts were kept apart."""
        bots = (await self.session.execute(select(func.count()).where(Account.is_bot))).scalar_one()
        guests = (
            await self.session.execute(
                select(func.count()).where(Account.is_guest, ~Account.is_bot)
            )
        ).scalar_one()
        return {"bots": int(bots), "guests": int(guests)}


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


class Outbox(Repo):
    async def add(self, row: dict[str, Any]) -> bool:
        """Queue a call; a row with the same idempotency key is never queued twice."""
        return await insert_ignore(self.session, OutboxItem, row, ["idempotency_key"])

    @staticmethod
    def _claimable(now: datetime) -> list[ColumnElement[bool]]:
        """Every condition a claim relies on: still pending, due, and nobody's live lease."""
        return [
            OutboxItem.state == "pending",
            OutboxItem.next_attempt_at <= now,
            or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
        ]

    def due(self, now: datetime, limit: int, platforms: Sequence[str]) -> Select[tuple[int]]:
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
        candidates: Sequence[int] | Select[tuple[int]],
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

    async def pending_count(self) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(OutboxItem.state == "pending")
                )
            ).scalar_one()
        )

    async def next_due(self) -> datetime | None:
        return (
            await self.session.execute(
                select(func.min(OutboxItem.next_attempt_at)).where(OutboxItem.state == "pending")
            )
        ).scalar_one()


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
