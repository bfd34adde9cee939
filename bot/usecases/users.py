"""The people list: who is in the directory and how far each one's syncs are.

One query path for every front end: `store.hub_queries.people_page` (keyset paging over the
name index, LIKE wildcards escaped) plus one query each for the page's accounts and syncs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sync import Status
from store.hub_queries import SEARCH_COUNT_CAP, PeopleFilter, people_by_ids, people_page
from store.models import Account, Person, Sync
from store.repositories import Directory, Syncs

INACTIVE = "inactive: all their accounts are deactivated or deleted"


@dataclass(frozen=True)
class UsersPage:
    people: list[Person]
    accounts: dict[int, list[Account]]
    syncs: dict[int, list[Sync]]
    total: int  # SEARCH_COUNT_CAP + 1 means "more than the cap"
    has_next: bool = False
    has_previous: bool = False

    def more(self) -> str:
        """How many match beyond this page, as a count or as "more than …"; "" for none."""
        if self.total <= len(self.people):
            return ""
        if self.total > SEARCH_COUNT_CAP:
            return f"more than {SEARCH_COUNT_CAP - len(self.people)}"
        return str(self.total - len(self.people))


async def page(
    session: AsyncSession,
    flt: PeopleFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> UsersPage:
    """A page of people in name order, with their accounts and syncs: three queries."""
    found = await people_page(session, flt, after=after, before=before, limit=limit)
    return await _with_details(
        session, found.people, found.total, found.has_next, found.has_previous
    )


async def by_ids(session: AsyncSession, ids: Sequence[int]) -> UsersPage:
    """The rows a live status poll asks about."""
    people = await people_by_ids(session, ids)
    return await _with_details(session, people, len(people), False, False)


async def _with_details(
    session: AsyncSession, people: list[Person], total: int, more: bool, less: bool
) -> UsersPage:
    ids = [p.id for p in people]
    accounts = await Directory(session).accounts_for(ids)
    syncs = await Syncs(session).for_people(ids)
    return UsersPage(people, accounts, syncs, total, more, less)


def is_inactive(accounts: list[Account]) -> bool:
    """Every account the person had is deactivated or deleted: nothing can be synced."""
    return not any(a.is_active and not a.is_bot for a in accounts)


def primary_text(label: Callable[[str], str], person: Person) -> str:
    return label(person.primary_platform) if person.primary_platform else "not chosen"


def statuses(
    platforms: Sequence[str], person: Person, syncs: list[Sync]
) -> list[tuple[str, Status | None]]:
    """Each platform's sync status; None for the primary, which is never synced to."""
    by_platform = {s.platform: Status(s.status) for s in syncs}
    return [
        (p, None if p == person.primary_platform else by_platform.get(p, Status.NOT_CREATED))
        for p in platforms
    ]
