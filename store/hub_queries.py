"""Queries behind the web Hub: people for User Sync, the audit log, sign-in sessions and tickets.

Every page is one bounded query that walks an index (keyset paging on `(display_name, id)`,
newest first on the audit id) plus one count, so a page costs about the same with 100 people
as with 100,000. Every row of `people` is listed: import creates a person only from an
account that is not a bot or a guest, so no per-row check is needed (a person whose accounts
all left is shown as inactive, with no sync offered, which is worth seeing). The page's
accounts and syncs are then loaded in two queries (`Directory.accounts_for`,
`Syncs.for_people`), never one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    Account,
    AuditEntry,
    Grant,
    HubSession,
    HubTicket,
    PendingAction,
    Person,
    ProcessedEvent,
    Sync,
)
from store.repositories import Repo

SYNC_STATUSES = ("not_created", "pending", "synced", "failed")
# Filter values of the status drop-down: the four sync statuses, and people still to be given
# a primary platform (the guide's step 2).
STATUS_FILTERS = (*SYNC_STATUSES, "no_primary")
SEARCH_COUNT_CAP = 1000  # a search shows "1,000+ people match" beyond this


@dataclass(frozen=True)
class PeopleFilter:
    """What the User Sync page was asked for; validated by the caller against `connected`."""

    search: str = ""
    status: str = ""  # one of STATUS_FILTERS, or "" for any
    platform: str = ""  # a connected platform, or "" for any
    connected: tuple[str, ...] = ()  # the platforms a Sync Status column exists for


@dataclass(frozen=True)
class PeoplePage:
    people: list[Person]
    total: int  # people matching the filter; SEARCH_COUNT_CAP + 1 means "more than the cap"
    has_next: bool
    has_previous: bool


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    names: dict[int, str] = field(default_factory=dict)  # person id → display name
    has_older: bool = False
    has_newer: bool = False


def _escape_like(text: str) -> str:
    """A search for `50%` or `a_b` means those characters, not LIKE wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _not_created_on(platform: str) -> ColumnElement[bool]:
    """A 🔁 cell: the platform is a secondary for this person and no sync row exists."""
    return and_(
        or_(Person.primary_platform.is_(None), Person.primary_platform != platform),
        Person.id.not_in(select(Sync.person_id).where(Sync.platform == platform)),
    )


def _contains(column: Any, needle: str, dialect: str) -> ColumnElement[bool]:
    """Case-insensitive substring match. SQLite's LIKE already ignores ASCII case (lower()
    is ASCII-only there too) and is twice as fast without ESCAPE, so escape only when the
    text holds a wildcard; PostgreSQL has ILIKE."""
    escaped = _escape_like(needle)
    options = {"escape": "\\"} if escaped != needle else {}
    pattern = f"%{escaped}%"
    if dialect == "sqlite":
        return column.like(pattern, **options)  # type: ignore[no-any-return]
    return column.ilike(pattern, **options)  # type: ignore[no-any-return]


def _conditions(flt: PeopleFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Filters as `IN (subquery)` over an index, which both databases evaluate once, rather
    than a correlated EXISTS per person (100,000 probes for a count)."""
    conds: list[ColumnElement[bool]] = []
    needle = flt.search.strip().lower()
    if needle:
        conds.append(
            or_(
                _contains(Person.display_name, needle, dialect),
                _contains(Person.email, needle, dialect),
            )
        )
    platforms = [flt.platform] if flt.platform else list(flt.connected)
    if flt.status == "no_primary":
        conds.append(Person.primary_platform.is_(None))
        if flt.platform:
            conds.append(_on_platform(flt.platform))
    elif flt.status == "not_created":
        conds.append(or_(false(), *(_not_created_on(p) for p in platforms)))
    elif flt.status in SYNC_STATUSES:
        conds.append(
            Person.id.in_(
                select(Sync.person_id).where(
                    Sync.platform.in_(platforms), Sync.status == flt.status
                )
            )
        )
    elif flt.platform:
        conds.append(_on_platform(flt.platform))
    return conds


def _on_platform(platform: str) -> ColumnElement[bool]:
    return Person.id.in_(
        select(Account.person_id).where(
            Account.platform == platform, Account.is_active, ~Account.is_bot
        )
    )


async def people_page(
    session: AsyncSession,
    flt: PeopleFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> PeoplePage:
    """One page in name order: after the person `after`, before the person `before`, or first.

    Keyset paging: the cursor is a person id, whose (name, id) position is looked up by key,
    so page 2,000 costs what page 1 does (OFFSET would walk every row before it).
    """
    bind = session.bind
    conds = _conditions(flt, bind.dialect.name if bind is not None else "sqlite")
    counted = select(Person.id).where(*conds)
    if flt.search.strip():
        # A substring search reads every row it counts; stop counting at the cap.
        counted = counted.limit(SEARCH_COUNT_CAP + 1)
    total = int(
        (await session.execute(select(func.count()).select_from(counted.subquery()))).scalar_one()
    )
    key = tuple_(Person.display_name, Person.id)
    stmt = select(Person).where(*conds)
    cursor_id = after if after is not None else before
    cursor = None
    if cursor_id is not None:
        cursor = (
            await session.execute(select(Person.display_name).where(Person.id == cursor_id))
        ).scalar_one_or_none()
    if cursor is not None and before is not None and after is None:
        stmt = stmt.where(key < tuple_(cursor, before))
        stmt = stmt.order_by(Person.display_name.desc(), Person.id.desc()).limit(limit + 1)
        rows = list((await session.execute(stmt)).scalars())
        more = len(rows) > limit
        return PeoplePage(list(reversed(rows[:limit])), total, has_next=True, has_previous=more)
    if cursor is not None and after is not None:
        stmt = stmt.where(key > tuple_(cursor, after))
    stmt = stmt.order_by(Person.display_name, Person.id).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    return PeoplePage(
        rows[:limit], total, has_next=len(rows) > limit, has_previous=cursor is not None
    )


async def people_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Person]:
    """The rows the live status poll asks about (one page at most), in name order."""
    if not ids:
        return []
    result = await session.execute(
        select(Person).where(Person.id.in_(ids)).order_by(Person.display_name, Person.id)
    )
    return list(result.scalars())


async def audit_page(
    session: AsyncSession,
    *,
    older_than: int | None = None,
    newer_than: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """Newest first, keyset on the entry id, with the names of the people it mentions."""
    stmt = select(AuditEntry)
    if newer_than is not None and older_than is None:
        stmt = stmt.where(AuditEntry.id > newer_than).order_by(AuditEntry.id).limit(limit + 1)
        rows = list((await session.execute(stmt)).scalars())
        entries = list(reversed(rows[:limit]))
        has_newer, has_older = len(rows) > limit, True
    else:
        if older_than is not None:
            stmt = stmt.where(AuditEntry.id < older_than)
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)
        rows = list((await session.execute(stmt)).scalars())
        entries = rows[:limit]
        has_older, has_newer = len(rows) > limit, older_than is not None
    ids = {e.person_id for e in entries if e.person_id is not None}
    names: dict[int, str] = {}
    if ids:
        result = await session.execute(
            select(Person.id, Person.display_name, Person.email).where(Person.id.in_(ids))
        )
        names = {pid: name or email or f"person {pid}" for pid, name, email in result.all()}
    return AuditPage(entries, names, has_older=has_older, has_newer=has_newer)


async def last_events(session: AsyncSession) -> dict[str, datetime]:
    """When each platform last delivered a webhook: proof that its webhooks reach the bot."""
    result = await session.execute(
        select(ProcessedEvent.platform, func.max(ProcessedEvent.received_at)).group_by(
            ProcessedEvent.platform
        )
    )
    # max() keeps the column's type, so the values come back timezone-aware like the rest.
    return {platform: at for platform, at in result.all() if at is not None}


async def accounts_with_email(session: AsyncSession, email: str) -> list[Account]:
    """Every account carrying a (normalised) email, on any platform: who a Hub actor is."""
    result = await session.execute(
        select(Account).where(func.lower(func.trim(Account.email)) == email).limit(50)
    )
    return list(result.scalars())


async def grant_backs_sync(session: AsyncSession, platform: str, user_id: str) -> bool:
    """Whether Mio keeps this account's consent as a person's grant (their sync relies on it)."""
    result = await session.execute(
        select(Grant.id)
        .where(Grant.platform == platform, Grant.platform_user_id == user_id)
        .limit(1)
    )
    return result.scalar_one_or_none() is not None


async def prune_expired(session: AsyncSession, now: datetime) -> None:
    """The hourly job: ended Hub sessions, spent or expired sign-in tickets, and chat
    confirmations nobody can press any more."""
    await HubSessions(session).prune(now)
    await session.execute(
        delete(PendingAction).where(or_(PendingAction.expires_at <= now, PendingAction.used))
    )


class HubSessions(Repo):
    """Signed-in Hub admins, found by the hash of the cookie's random id."""

    def add(self, **values: object) -> None:
        self.session.add(HubSession(**values))

    async def get(self, token_hash: str, now: datetime) -> HubSession | None:
        result = await self.session.execute(
            select(HubSession).where(
                HubSession.token_hash == token_hash, HubSession.expires_at > now
            )
        )
        return result.scalar_one_or_none()

    async def end(self, token_hash: str) -> None:
        await self.session.execute(delete(HubSession).where(HubSession.token_hash == token_hash))

    async def end_all(self, actor: str) -> int:
        """Every session of one identity (sign out everywhere); returns how many ended."""
        result = await self.session.execute(delete(HubSession).where(HubSession.actor == actor))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def prune(self, now: datetime) -> None:
        """Expired sessions, and tickets expired or already used, are useless: drop them
        (the hourly job, and whenever someone signs in)."""
        await self.session.execute(delete(HubSession).where(HubSession.expires_at <= now))
        await self.session.execute(
            delete(HubTicket).where(or_(HubTicket.expires_at <= now, HubTicket.used))
        )


class HubTickets(Repo):
    """Single-use sign-in links and OAuth states."""

    def add(self, **values: object) -> None:
        self.session.add(HubTicket(**values))

    async def peek(self, token_hash: str, kind: str) -> HubTicket | None:
        """The ticket as it stands, without spending it (to word a refusal)."""
        result = await self.session.execute(
            select(HubTicket).where(HubTicket.token_hash == token_hash, HubTicket.kind == kind)
        )
        return result.scalar_one_or_none()

    async def take(self, token_hash: str, kind: str) -> HubTicket | None:
        """Mark the ticket used and return it; None when unknown or already used, so
        two concurrent clicks on one link sign in once."""
        result = await self.session.execute(
            update(HubTicket)
            .where(HubTicket.token_hash == token_hash, HubTicket.kind == kind, ~HubTicket.used)
            .values(used=True)
            .returning(HubTicket.id)
        )
        found = result.scalar_one_or_none()
        if found is None:
            return None
        return (
            await self.session.execute(select(HubTicket).where(HubTicket.id == found))
        ).scalar_one()
