"""The chat's read-only answers: the people list as a message (the status is the use case's)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.sync import ICONS
from bot.types import Message, Rich, Text
from bot.usecases import users as listing
from store.hub_queries import SEARCH_COUNT_CAP, PeopleFilter
from store.models import Person
from store.repositories import Directory

PAGE = 15


def status_cells(core: Core, person: Person, page: listing.UsersPage) -> str:
    """One line of platform icons, as on the Hub's User Sync page."""
    return " · ".join(
        f"{core.label(platform)} {ICONS[status]}"
        for platform, status in listing.statuses(
            list(core.platforms), person, page.syncs[person.id]
        )
        if status is not None
    )


def _line(core: Core, person: Person, page: listing.UsersPage) -> Rich:
    name = Text.format(
        "*{name}* ({email})", name=person.display_name, email=person.email or "no email"
    )
    if listing.is_inactive(page.accounts[person.id]):
        return name + " · " + listing.INACTIVE
    primary = listing.primary_text(core.label, person)
    return name + f" · primary: {primary} · {status_cells(core, person, page)}"


async def users(session: AsyncSession, core: Core, text: str | None) -> Message:
    page = await listing.page(session, PeopleFilter(search=text or ""), limit=PAGE)
    lines: list[Rich] = [_line(core, p, page) for p in page.people]
    if page.more():
        lines.append(f"…and {page.more()} more. Narrow it down: `/mio users <name>`.")
    if not lines:
        lines = ["Nobody matches. Run `/mio import` if the directory was never imported."]
    apart = await Directory(session).count_apart()
    lines.append(
        f"Legend: ✅ synced · 🕒 pending · ⚠️ failed · 🔁 not created. "
        f"{apart['bots']} bot and {apart['guests']} guest account(s) kept apart."
    )
    total = f"{SEARCH_COUNT_CAP:,}+" if page.total > SEARCH_COUNT_CAP else str(page.total)
    title: Rich = Text.format("People matching “{text}”", text=text) if text else "People"
    return Message(text=title + f": {total}", title=title + f" ({total})", lines=tuple(lines))
