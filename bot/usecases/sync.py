"""Sync a person to other platforms: plan first (what would happen, or which rule refuses),
then request what the admin confirmed.

Planning is one pure function (`plan_each`) over the facts `bot.sync` reads, so the chat's
confirmation, the CLI's preview and the Hub's dialog say the same thing for the same person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.sync import OrgFacts, PersonFacts, SyncKind, SyncRefused, plan_sync
from bot.usecases import Question
from store.models import Person


@dataclass(frozen=True)
class Planned:
    """One platform of a plan: the kind of sync that would happen, or the rule's refusal."""

    platform: str
    kind: SyncKind | None = None
    refused: SyncRefused | None = None


@dataclass(frozen=True)
class SyncPlan:
    person: Person
    items: tuple[Planned, ...]

    @property
    def doable(self) -> list[str]:
        """The platforms a confirmation would request; empty when every one is refused."""
        return [item.platform for item in self.items if item.refused is None]


def wanted(connected: Sequence[str], primary: str | None, named: Sequence[str] | None) -> list[str]:
    """`named` once each, in the order typed; None (`all`) is every connected platform but the
    primary, which cannot be synced to."""
    if named is None:
        return [p for p in connected if p != primary]
    return list(dict.fromkeys(named))


def plan_each(
    person: PersonFacts, org: OrgFacts, platforms: Sequence[str], label: Callable[[str], str]
) -> tuple[Planned, ...]:
    """Every platform checked on its own, so one refusal does not hide the others' plans."""
    items = []
    for platform in platforms:
        try:
            items.append(Planned(platform, kind=plan_sync(person, org, platform, label)))
        except SyncRefused as refused:
            items.append(Planned(platform, refused=refused))
    return tuple(items)


def offer(kind: SyncKind, name: str, label: str, primary_label: str) -> str:
    """What confirming would do on one platform, as plain text (the name is shown as written)."""
    if kind is SyncKind.CONSENT:
        return (
            f"{name} has a {label} account, so Mio will send them a consent DM on "
            f"{primary_label} to allow the link (consent sync)."
        )
    return (
        f"{name} has no {label} account, so Mio will represent them there. "
        "This completes at once (represented sync)."
    )


def refusal(refused: SyncRefused) -> str:
    """Why one platform cannot be synced, and the fix (chat syntax: code spans, `/mio …`)."""
    return f"can't sync. {refused.message} {refused.fix}"


def question(name: str) -> Question:
    return Question(f"Sync {name}?")


async def plan(
    session: AsyncSession, core: Core, person_id: int, platforms: Sequence[str] | None
) -> SyncPlan:
    """The plan for `platforms` (None: all); `lifecycle.NotFound` when the person is gone."""
    person, accounts, syncs = await lifecycle.load(session, person_id)
    chosen = wanted(list(core.platforms), person.primary_platform, platforms)
    facts = lifecycle.facts(person, accounts, syncs)
    return SyncPlan(person, plan_each(facts, core.org_facts(), chosen, core.label))


async def request(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    """Start one sync (the rules are checked again under a lock); a sentence, or SyncRefused."""
    return await lifecycle.request(session, core, actor, person_id, platform)


async def request_each(
    session: AsyncSession, core: Core, actor: str, person_id: int, platforms: Sequence[str]
) -> list[tuple[str, str | SyncRefused]]:
    """Each platform's sentence, or its refusal (things may have changed since the plan)."""
    results: list[tuple[str, str | SyncRefused]] = []
    for platform in platforms:
        try:
            results.append((platform, await request(session, core, actor, person_id, platform)))
        except SyncRefused as refused:
            results.append((platform, refused))
    return results
