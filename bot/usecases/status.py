"""One person at a glance: their accounts, primary platform and each sync with its reason."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.sync import ICONS, LABELS, Status, describe_reason
from bot.types import Message, Rich, Text
from bot.usecases.users import primary_text


async def status(session: AsyncSession, core: Core, person_id: int) -> Message:
    """Names are plain spans (shown as written); `lifecycle.NotFound` when the person is gone."""
    person, accounts, sync_rows = await lifecycle.load(session, person_id)
    syncs = {s.platform: s for s in sync_rows}
    lines: list[Rich] = [
        Text.format("Email: {email}", email=person.email or "none")
        + f" · Primary: {primary_text(core.label, person)}"
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
        line = f"{ICONS[st]} {core.label(platform)}: {LABELS[st]}"
        if sync is not None and sync.kind:
            line += f" ({sync.kind})"
        if sync is not None and sync.reason:
            line += f". {describe_reason(sync.reason, core.label(platform))}"
        lines.append(line)
    name = Text.plain(person.display_name)
    return Message(text=name + ": " + Text.join(lines, "; "), title=name, lines=tuple(lines))
