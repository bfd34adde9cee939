"""Directory import: page through a platform, upsert in bulk, match people by email.

Each page is one transaction with two statements (people, then accounts), so a 100,000-person
directory costs a few hundred round trips, not one per user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.matching import is_person, match_key, normalize_email
from bot.sync import Event, auto_primary
from store.repositories import Audit, Connections, Directory, Syncs

Progress = Callable[[int], None]  # accounts imported so far


@dataclass(frozen=True)
class ImportResult:
    platform: str
    seen: int
    new: int
    inactive: int
    apart: int  # bots and guests, kept apart
    failed_syncs: int

    def sentence(self, label: str) -> str:
        return (
            f"Imported {self.seen} {label} account(s): {self.new} new, {self.inactive} "
            f"inactive, {self.apart} bot/guest account(s) kept apart"
            + (
                f", {self.failed_syncs} sync(s) failed because an account went inactive."
                if self.failed_syncs
                else "."
            )
        )


async def import_platform(
    core: Core, platform: str, actor: str, progress: Progress | None = None
) -> ImportResult:
    adapter = core.platforms[platform]
    started = core.clock.now()
    workspace_id, workspace_name = await adapter.workspace()
    async with core.sessions() as session:
        known_before = await Directory(session).count_on(platform)
    seen = apart = 0
    async for page in adapter.list_users():
        async with core.transaction() as session:
            repo = Directory(session)
            people = [u for u in page if is_person(u)]
            ids = (
                await repo.upsert_people(
                    [
                        {
                            "match_key": match_key(u),
                            "email": normalize_email(u.email),
                            "display_name": u.display_name,
                            "created_at": started,
                        }
                        for u in people
                    ]
                )
                if people
                else {}
            )
            await repo.upsert_accounts(
                [
                    {
                        "platform": platform,
                        "platform_user_id": u.user_id,
                        "person_id": ids.get(match_key(u)) if is_person(u) else None,
                        "email": normalize_email(u.email),
                        "display_name": u.display_name,
                        "is_bot": u.is_bot,
                        "is_guest": u.is_guest,
                        "is_active": u.is_active,
                        "is_admin": u.is_admin,
                        "extra": u.extra,
                        "seen_at": started,
                    }
                    for u in page
                ]
            )
        seen += len(page)
        apart += len(page) - len(people)
        if progress is not None:
            progress(seen)
    async with core.transaction() as session:
        await Directory(session).mark_vanished(platform, started)
        failed = await _fail_inactive(session, core, platform, actor)
        await _auto_primaries(session, platform)
        inactive = await Directory(session).count_inactive(platform)
        new = await Directory(session).count_on(platform) - known_before
        await Connections(session).save(
            platform,
            workspace_id=workspace_id,
            workspace_name=workspace_name,
            account_count=await Connections(session).count_accounts(platform),
            last_import_at=core.clock.now(),
            last_error=None,
        )
        result = ImportResult(platform, seen, new, inactive, apart, failed)
        Audit(session).add(
            core.clock.now(),
            actor,
            "directory.imported",
            None,
            platform=platform,
            seen=seen,
            new=new,
            inactive=inactive,
            failed_syncs=failed,
        )
    return result


async def _fail_inactive(session: AsyncSession, core: Core, platform: str, actor: str) -> int:
    """Syncs that rely on an account now inactive fail with that reason."""
    failed = 0
    required = core.settings.required_platform
    for person_id in await Directory(session).inactive_people_on(platform):
        for sync in await Syncs(session).of_person(person_id):
            relies = platform in (sync.platform, sync.primary_platform) or platform == required
            if relies and sync.status in ("pending", "synced"):
                failed += await lifecycle.fail_sync(
                    session,
                    core,
                    sync.id,
                    Event.ACCOUNT_INACTIVE,
                    actor=actor,
                    detail=f"{core.label(platform)} account inactive",
                )
    return failed


async def _auto_primaries(session: AsyncSession, platform: str, chunk: int = 1000) -> None:
    """Set the primary of one-platform people; keep an admin's choice while it stays valid."""
    repo = Directory(session)
    after = 0
    while True:
        people = await repo.people_on(platform, after, chunk)
        if not people:
            return
        active = await repo.active_platforms([p.id for p in people])
        changes = []
        for p in people:
            chosen = auto_primary(
                frozenset(active[p.id]), p.primary_platform, p.primary_chosen_by_admin
            )
            if chosen != p.primary_platform:
                changes.append(
                    {
                        "id": p.id,
                        "primary_platform": chosen,
                        "primary_chosen_by_admin": p.primary_chosen_by_admin and chosen is not None,
                    }
                )
        await repo.set_primaries(changes)
        after = people[-1].id
