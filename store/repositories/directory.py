"""People and their accounts on each platform: what an import writes and searches read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update

from store.models import Account, Person, Sync
from store.repositories.base import Repo
from store.upsert import upsert

# Every webhook looks its caller up: built once, run with parameters (benchmarks/README.md).
_ACCOUNT_BY_ID = select(Account).where(
    Account.platform == bindparam("platform"), Account.platform_user_id == bindparam("user_id")
)


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
            _ACCOUNT_BY_ID, {"platform": platform, "user_id": user_id}
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
