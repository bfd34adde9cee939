"""Read-only answers: the user list and one person's status."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.sync import ICONS, Status, describe_reason
from bot.types import Message, Rich, Text
from store.models import Account, Person, Sync
from store.repositories import Directory, Syncs

PAGE = 15


def status_cells(core: Core, person: Person, accounts: list[Account], syncs: list[Sync]) -> str:
    """One line of platform icons, as on the Hub's User Sync page."""
    by_platform = {s.platform: s for s in syncs}
    cells = []
    for platform in core.platforms:
        if platform == person.primary_platform:
            continue
        sync = by_platform.get(platform)
        status = Status(sync.status) if sync else Status.NOT_CREATED
        cells.append(f"{core.label(platform)} {ICONS[status]}")
    return " · ".join(cells)


def is_inactive(accounts: list[Account]) -> bool:
    """Every account the person had is deactivated or deleted: nothing can be synced."""
    return not any(a.is_active and not a.is_bot for a in accounts)


INACTIVE = "inactive: all their accounts are deactivated or deleted"


def primary_text(core: Core, person: Person) -> str:
    return core.label(person.primary_platform) if person.primary_platform else "not chosen"


async def users(session: AsyncSession, core: Core, text: str | None) -> Message:
    people, total = await Directory(session).list_people(text, 0, PAGE)
    ids = [p.id for p in people]
    accounts = await Directory(session).accounts_for(ids)
    syncs = await Syncs(session).for_people(ids)
    lines: list[Rich] = [
        Text.format("*{name}* ({email})", name=p.display_name, email=p.email or "no email")
        + " · "
        + (
            INACTIVE
            if is_inactive(accounts[p.id])
            else f"primary: {primary_text(core, p)} · "
            f"{status_cells(core, p, accounts[p.id], syncs[p.id])}"
        )
        for p in people
    ]
    if total > len(people):
        lines.append(f"…and {total - len(people)} more. Narrow it down: `/mio users <name>`.")
    if not lines:
        lines = ["Nobody matches. Run `/mio import` if the directory was never imported."]
    apart = await Directory(session).count_apart()
    lines.append(
        f"Legend: ✅ synced · 🕒 pending · ⚠️ failed · 🔁 not created. "
        f"{apart['bots']} bot and {apart['guests']} guest account(s) kept apart."
    )
    title: Rich = Text.format("People matching “{text}”", text=text) if text else "People"
    return Message(text=title + f": {total}", title=title + f" ({total})", lines=tuple(lines))


async def status(session: AsyncSession, core: Core, person_id: int) -> Message:
    person = await Directory(session).person(person_id)
    assert person is not None
    accounts = await Directory(session).accounts_of(person_id)
    syncs = {s.platform: s for s in await Syncs(session).of_person(person_id)}
    lines: list[Rich] = [
        Text.format("Email: {email}", email=person.email or "none")
        + f" · Primary: {primary_text(core, person)}"
    ]
    for acc in accounts:
        state = "active" if acc.is_active else "inactive"
        lines.append(
            Text.format(
                "{label} account: {name}", label=core.label(acc.platform), name=acc.display_name
            )
            + f" ({state})"
        )
    for platform in core.platforms:
        if platform == person.primary_platform:
            continue
        sync = syncs.get(platform)
        st = Status(sync.status) if sync else Status.NOT_CREATED
        line = f"{ICONS[st]} {core.label(platform)}: {st.value.replace('_', ' ')}"
        if sync is not None and sync.kind:
            line += f" ({sync.kind})"
        if sync is not None and sync.reason:
            line += f". {describe_reason(sync.reason, core.label(platform))}"
        lines.append(line)
    name = Text.plain(person.display_name)
    return Message(text=name + ": " + Text.join(lines, "; "), title=name, lines=tuple(lines))
