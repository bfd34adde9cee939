"""What one row of the User Sync table shows, built from a person, their accounts and syncs.

Kept apart from the handlers so the page, the live status poll and the tests all describe a
row the same way: the poll compares a row's `key` to decide whether the browser must redraw it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.core import Core
from bot.sync import ICONS, Status, describe_reason
from store.models import Account, Person, Sync


@dataclass(frozen=True)
class Cell:
    """One Sync Status cell: a platform other than the person's primary."""

    platform: str
    label: str
    status: str  # a Status value
    icon: str
    hover: str  # the sentence shown on hover and read by screen readers
    can_request: bool  # 🔁 and ⚠️ open the sync dialog; 🕒 and ✅ are states to wait on


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    email: str
    primary: str | None
    primary_label: str  # the fixed label, or "" when a drop-down is shown
    choices: tuple[tuple[str, str], ...]  # (platform, label) for the drop-down
    cells: tuple[Cell, ...]

    @property
    def statuses(self) -> dict[str, str]:
        return {c.platform: c.status for c in self.cells}

    @property
    def key(self) -> str:
        """Changes whenever anything the row shows changes."""
        parts = [self.name, self.email, str(self.primary), self.primary_label]
        parts += [f"{p}={label}" for p, label in self.choices]
        parts += [f"{c.platform}:{c.status}:{c.hover}" for c in self.cells]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _hover(core: Core, person: Person, platform: str, sync: Sync | None) -> str:
    label = core.label(platform)
    status = Status(sync.status) if sync is not None else Status.NOT_CREATED
    if status is Status.NOT_CREATED:
        return f"{label}: not created. Press to request a sync."
    if status is Status.PENDING:
        where = core.label(sync.primary_platform) if sync is not None else "their primary"
        return f"{label}: pending. Waiting for them to allow the link in a DM on {where}."
    if status is Status.SYNCED:
        kind = f" ({sync.kind} sync)" if sync is not None and sync.kind else ""
        return f"{label}: synced{kind}."
    reason = describe_reason(sync.reason or "", label) if sync is not None else ""
    return f"{label}: failed. {reason} Press to try again."


def build_row(core: Core, person: Person, accounts: list[Account], syncs: list[Sync]) -> Row:
    connected = list(core.platforms)
    active = {a.platform for a in accounts if a.is_active and not a.is_bot}
    choices = [p for p in connected if p in active]
    if person.primary_platform and person.primary_platform not in choices:
        choices.append(person.primary_platform)  # an inactive primary stays visible
    primary_label = ""
    if len(choices) == 1 and person.primary_platform in (None, choices[0]):
        primary_label = core.label(choices[0])
    elif not choices:
        primary_label = "No active account"
    by_platform = {s.platform: s for s in syncs}
    cells = []
    for platform in connected:
        if platform == person.primary_platform:
            continue
        sync = by_platform.get(platform)
        status = Status(sync.status) if sync is not None else Status.NOT_CREATED
        cells.append(
            Cell(
                platform=platform,
                label=core.label(platform),
                status=status.value,
                icon=ICONS[status],
                hover=_hover(core, person, platform, sync),
                can_request=status in (Status.NOT_CREATED, Status.FAILED),
            )
        )
    return Row(
        id=person.id,
        name=person.display_name or person.email or f"Person {person.id}",
        email=person.email or "",
        primary=person.primary_platform,
        primary_label=primary_label,
        choices=tuple((p, core.label(p)) for p in choices) if not primary_label else (),
        cells=tuple(cells),
    )


def build_rows(
    core: Core,
    people: list[Person],
    accounts: dict[int, list[Account]],
    syncs: dict[int, list[Sync]],
) -> list[Row]:
    return [build_row(core, p, accounts.get(p.id, []), syncs.get(p.id, [])) for p in people]
