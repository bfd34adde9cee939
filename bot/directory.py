"""Directory import: page through a platform, upsert in bulk, match people by email.

Each page is one transaction with two statements (people, then accounts), so a 100,000-person
directory costs a few hundred round trips, not one per user.

One import per platform runs at a time across every process: `begin_import` takes the guard
row in the database (store/imports.py) and the run renews it while it works, so chat, the CLI
and the Hub see the same guard and the same progress. An import that cannot finish changes
nothing that needs the whole directory (no account is marked vanished, no sync fails, no
primary moves): it records one sentence and raises `ImportFailed` carrying it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.paging import patient
from bot import lifecycle
from bot.core import Core
from bot.crypto import new_token
from bot.matching import is_person, match_key, normalize_email
from bot.sync import Event, auto_primary
from bot.types import DirectoryUser, PlatformError, RetryLater
from store.imports import ImportRuns
from store.repositories import Audit, Connections, Directory, Disconnections, Syncs

log = logging.getLogger(__name__)

Progress = Callable[[int], None]  # accounts imported so far

# A running import renews its guard every HEARTBEAT seconds; a guard not renewed for LEASE
# belongs to a process that died, and the next import takes it over.
LEASE = timedelta(minutes=2)
HEARTBEAT = 30.0


class ImportFailed(Exception):
    """An import that did not run or did not finish; `.sentence` is what every front end shows."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class ImportBusy(ImportFailed):
    """Another import of the platform is running (in this process or another)."""


@dataclass(frozen=True)
class ImportTicket:
    """The guard of one import, held from `begin_import` until the run ends."""

    platform: str
    run_id: str
    actor: str


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


async def begin_import(core: Core, platform: str, actor: str) -> ImportTicket:
    """Take the platform's import guard, or raise `ImportBusy` saying who holds it."""
    ticket = ImportTicket(platform, new_token()[:32], actor)
    async with core.transaction() as session:
        won = await ImportRuns(session).claim(
            platform, ticket.run_id, actor, core.clock.now(), LEASE
        )
    if won:
        return ticket
    async with core.sessions() as session:
        run = await ImportRuns(session).get(platform)
    if run is None:  # finished and removed in between: a rare race, not worth a second try
        raise ImportBusy(f"An import of {core.label(platform)} was just starting; try again.")
    raise ImportBusy(
        f"An import of {core.label(platform)} is already running, started by {run.started_by} "
        f"at {run.started_at:%Y-%m-%d %H:%M} UTC; {run.seen} accounts so far."
    )


async def import_platform(
    core: Core, platform: str, actor: str, progress: Progress | None = None
) -> ImportResult:
    """Import one platform's directory now; `ImportFailed` (with its sentence) if it cannot."""
    return await run_import(core, await begin_import(core, platform, actor), progress)


async def run_import(
    core: Core, ticket: ImportTicket, progress: Progress | None = None
) -> ImportResult:
    """Run an import whose guard `ticket` holds, renewing it meanwhile, and release it."""
    label = core.label(ticket.platform)
    counter = _Counter(progress)
    beating = asyncio.create_task(_heartbeat(core, ticket))
    try:
        result = await _import(core, ticket, counter)
    except ImportFailed as exc:
        await _record_failure(core, ticket, exc.sentence, counter.seen)
        raise
    except PlatformError as exc:
        sentence = _platform_sentence(label, exc, counter.seen)
        log.warning("import of %s failed: %s", label, exc)
        await _record_failure(core, ticket, sentence, counter.seen)
        raise ImportFailed(sentence) from exc
    except Exception as exc:
        ref = new_token()[:8]
        log.exception("import of %s failed (ref: %s)", label, ref)
        sentence = (
            f"Importing {label} failed after {counter.seen} account(s) (ref: {ref}); "
            "nothing was marked inactive."
        )
        await _record_failure(core, ticket, sentence, counter.seen)
        raise ImportFailed(sentence) from exc
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    return result


class _Counter:
    """Accounts read so far, passed on to the caller's progress display."""

    def __init__(self, progress: Progress | None) -> None:
        self.seen = 0
        self._progress = progress

    def add(self, n: int) -> None:
        self.seen += n
        if self._progress is not None:
            self._progress(self.seen)


def _platform_sentence(label: str, exc: PlatformError, seen: int) -> str:
    if isinstance(exc, RetryLater):
        why = f"{label} still refused the import after several tries ({exc.reason})"
        then = "Try again later"
    else:
        why = f"{label} refused the import ({exc.reason})"
        then = "Fix that and import again"
    return f"{why}, after {seen} account(s); nothing was marked inactive. {then}."


async def _heartbeat(core: Core, ticket: ImportTicket) -> None:
    """Renew the guard while pages are slow to come (a long Retry-After, a slow platform)."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        with contextlib.suppress(Exception):  # a missed beat is retried; the lease is long
            async with core.transaction() as session:
                await ImportRuns(session).beat(ticket.platform, ticket.run_id, core.clock.now())


async def _record_failure(core: Core, ticket: ImportTicket, sentence: str, seen: int) -> None:
    """Release the guard as failed and keep the sentence where the Hub shows it."""
    try:
        async with core.transaction() as session:
            held = await ImportRuns(session).finish(
                ticket.platform,
                ticket.run_id,
                ok=False,
                sentence=sentence,
                seen=seen,
                now=core.clock.now(),
            )
            if held:  # a run that lost its guard leaves the successor's outcome alone
                await Connections(session).save(ticket.platform, last_error=sentence)
    except Exception:  # the database itself is what failed: the lease will expire instead
        log.exception("could not record the failed import of %s", ticket.platform)


def _lost(core: Core, platform: str) -> ImportFailed:
    return ImportFailed(
        f"The import of {core.label(platform)} stopped: it did not renew its guard in time and "
        "another import took over. Nothing was marked inactive."
    )


async def _import(core: Core, ticket: ImportTicket, counter: _Counter) -> ImportResult:
    """Page through the directory, then settle what needs all of it in one last transaction."""
    platform = ticket.platform
    adapter = core.platforms[platform]
    started = core.clock.now()
    workspace = await patient(adapter.workspace, core.label(platform))
    async with core.sessions() as session:
        known_before = await Directory(session).count_on(platform)
    apart = 0
    async for page in adapter.list_users():
        async with core.transaction() as session:
            if not await ImportRuns(session).beat(
                platform, ticket.run_id, core.clock.now(), counter.seen + len(page)
            ):
                raise _lost(core, platform)
            apart += await _store_page(Directory(session), platform, page, started)
        counter.add(len(page))
    async with core.transaction() as session:
        return await _settle(
            session, core, ticket, workspace, started, counter.seen, known_before, apart
        )


async def _store_page(
    repo: Directory, platform: str, page: Sequence[DirectoryUser], started: datetime
) -> int:
    """Upsert one page: people by match key first, so each account can point at its person.
    Returns how many accounts stay apart (bots, guests: no person)."""
    people = [u for u in page if is_person(u)]
    rows = [
        {
            "match_key": match_key(u),
            "email": normalize_email(u.email),
            "display_name": u.display_name,
            "created_at": started,
        }
        for u in people
    ]
    ids = await repo.upsert_people(rows) if people else {}
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
    return len(page) - len(people)


async def _settle(
    session: AsyncSession,
    core: Core,
    ticket: ImportTicket,
    workspace: tuple[str, str],
    started: datetime,
    seen: int,
    known_before: int,
    apart: int,
) -> ImportResult:
    """What needs the whole directory: vanished accounts, failed syncs, primaries, counts.
    Raises when another import took the guard, so this one's conclusions roll back."""
    platform, actor = ticket.platform, ticket.actor
    await Directory(session).mark_vanished(platform, started)
    failed = await _fail_inactive(session, core, platform, actor)
    await _auto_primaries(session, platform)
    inactive = await Directory(session).count_inactive(platform)
    new = await Directory(session).count_on(platform) - known_before
    await Connections(session).save(
        platform,
        workspace_id=workspace[0],
        workspace_name=workspace[1],
        account_count=await Connections(session).count_accounts(platform),
        last_import_at=core.clock.now(),
        last_error=None,
    )
    await Disconnections(session).clear(platform)  # it answers again: the relay sends to it
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
    done = await ImportRuns(session).finish(
        platform,
        ticket.run_id,
        ok=True,
        sentence=result.sentence(core.label(platform)),
        seen=seen,
        now=core.clock.now(),
    )
    if not done:
        raise _lost(core, platform)
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
