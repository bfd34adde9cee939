"""What one row of the User Sync table shows, built from a person, their accounts and syncs.

Kept apart from the handlers so the page, the live status poll and the tests all describe a
row the same way: the poll compares a row's `key` to decide whether the browser must redraw it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.core import Core
from bot.lifecycle import facts
from bot.sync import ICONS, PersonFacts, Rule, Status, describe_reason
from bot.usecases.sync import plan_each
from store.models import Account, Person, Sync

HUB_FIXES = {
    # The rules' fixes name chat commands; in the Hub the same fix is one click away.
    Rule.NO_PRIMARY: "Choose their primary platform in the Primary Platform column first.",
    Rule.PRIMARY_INACTIVE: "Choose another primary platform in the Primary Platform column.",
}
INACTIVE_LABEL = "Inactive: no active account"


@dataclass(frozen=True)
class Cell:
    """One Sync Status cell: a platform other than the person's primary."""

    platform: str
    label: str
    status: str  # a Status value
    icon: str
    hover: str  # the sentence shown on hover and read by screen readers
    # 🔁 and ⚠️ open the sync dialog when a sync could happen; 🕒 and ✅ are states to wait
    # on, and a cell the rules refuse says why on hover instead of offering a button.
    can_request: bool


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    email: str
    primary: str | None
    primary_label: str  # the fixed label, or "" when a drop-down is shown
    choices: tuple[tuple[str, str], ...]  # (platform, label) for the drop-down
    cells: tuple[Cell, ...]
    inactive: bool = False  # every account deactivated or deleted: shown, never synced

    @property
    def statuses(self) -> dict[str, str]:
        return {c.platform: c.status for c in self.cells}

    @property
    def key(self) -> str:
        """Changes whenever anything the row shows changes."""
        parts = [self.name, self.email, str(self.primary), self.primary_label, str(self.inactive)]
        parts += [f"{p}={label}" for p, label in self.choices]
        parts += [f"{c.platform}:{c.status}:{c.hover}" for c in self.cells]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _hover(core: Core, platform: str, sync: Sync | None, why_not: str) -> str:
    """The cell's sentence; where the rules refuse a sync, why instead of an offer."""
    label = core.label(platform)
    status = Status(sync.status) if sync is not None else Status.NOT_CREATED
    refused = f"No sync can be requested: {why_not}"
    if status is Status.NOT_CREATED:
        return f"{label}: not created. " + (refused if why_not else "Press to request a sync.")
    if status is Status.PENDING:
        where = core.label(sync.primary_platform) if sync is not None else "their primary"
        return f"{label}: pending. Waiting for them to allow the link in a DM on {where}."
    if status is Status.SYNCED:
        kind = f" ({sync.kind} sync)" if sync is not None and sync.kind else ""
        return f"{label}: synced{kind}."
    reason = describe_reason(sync.reason or "", label) if sync is not None else ""
    return f"{label}: failed. {reason} " + (refused if why_not else "Press to try again.")


def _refusal(core: Core, person: PersonFacts, platform: str) -> str:
    """Why no sync to `platform` can happen (the state machine's own refusal), or ""."""
    (item,) = plan_each(person, core.org_facts(), [platform], core.label)
    if item.refused is None:
        return ""
    return f"{item.refused.message} {HUB_FIXES.get(item.refused.rule, item.refused.fix)}"


def _cell(core: Core, person: PersonFacts, platform: str, sync: Sync | None) -> Cell:
    status = Status(sync.status) if sync is not None else Status.NOT_CREATED
    can_request = status in (Status.NOT_CREATED, Status.FAILED)
    why_not = _refusal(core, person, platform) if can_request else ""
    return Cell(
        platform=platform,
        label=core.label(platform),
        status=status.value,
        icon=ICONS[status],
        hover=_hover(core, platform, sync, why_not),
        can_request=can_request and not why_not,
    )


def build_row(core: Core, person: Person, accounts: list[Account], syncs: list[Sync]) -> Row:
    connected = list(core.platforms)
    active = {a.platform for a in accounts if a.is_active and not a.is_bot}
    known = facts(person, accounts, syncs)
    choices = [p for p in connected if p in active]
    if person.primary_platform and person.primary_platform not in choices:
        choices.append(person.primary_platform)  # an inactive primary stays visible
    primary_label = ""
    if len(choices) == 1 and person.primary_platform in (None, choices[0]):
        primary_label = core.label(choices[0])
    elif not choices:
        primary_label = INACTIVE_LABEL
    by_platform = {s.platform: s for s in syncs}
    cells = [
        _cell(core, known, platform, by_platform.get(platform))
        for platform in connected
        if platform != person.primary_platform
    ]
    return Row(
        id=person.id,
        name=person.display_name or person.email or f"Person {person.id}",
        email=person.email or "",
        primary=person.primary_platform,
        primary_label=primary_label,
        choices=tuple((p, core.label(p)) for p in choices) if not primary_label else (),
        cells=tuple(cells),
        inactive=not active,
    )


def build_rows(
    core: Core,
    people: list[Person],
    accounts: dict[int, list[Account]],
    syncs: dict[int, list[Sync]],
) -> list[Row]:
    return [build_row(core, p, accounts.get(p.id, []), syncs.get(p.id, [])) for p in people]
