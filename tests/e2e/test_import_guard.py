"""One import per platform across processes: two cores on one database, as two `mio serve`s,
or chat and the CLI, would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot import outbox
from bot.app import build_core
from bot.core import Core
from bot.delivery import LEASE as DELIVERY_LEASE
from bot.delivery import Worker
from bot.directory import (
    LEASE,
    ImportBusy,
    ImportFailed,
    ImportResult,
    begin_import,
    import_platform,
    run_import,
)
from store.imports import ImportRuns
from store.models import OutboxItem
from store.repositories import Connections, Outbox
from tests.e2e.conftest import Harness


@pytest.fixture
async def other(harness: Harness) -> AsyncIterator[Core]:
    """A second process on the same database and the same sandbox."""
    core = build_core(harness.core.settings, harness.clock)
    for adapter in core.platforms.values():
        await adapter.start()
    try:
        yield core
    finally:
        for adapter in core.platforms.values():
            await adapter.close()
        await core.sessions.kw["bind"].dispose()


async def test_two_processes_importing_one_platform_run_it_once(
    harness: Harness, other: Core
) -> None:
    h = harness
    h.slack.max_page_size = 2
    # Slack asks for a second's pause on page two, so the first import is surely still running
    # when the second one asks, however busy the machine (and SQLite's lock) may be.
    h.slack.rate_limit("users.list", 1, skip=1)
    outcomes = await asyncio.gather(
        import_platform(h.core, "slack", "cli"),
        import_platform(other, "slack", "slack:U0ADA"),
        return_exceptions=True,
    )
    done = [o for o in outcomes if isinstance(o, ImportResult)]
    refused = [o for o in outcomes if isinstance(o, ImportBusy)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    winner = "cli" if outcomes[0] is done[0] else "slack:U0ADA"
    sentence = refused[0].sentence
    assert sentence.startswith(f"An import of Slack is already running, started by {winner} at ")
    assert sentence.endswith(" accounts so far.")
    assert done[0].seen == 11
    async with other.sessions() as session:
        run = await ImportRuns(session).get("slack")
    assert run is not None and (run.state, run.seen, run.started_by) == ("done", 11, winner)


async def test_a_guard_whose_process_died_expires(harness: Harness, other: Core) -> None:
    h = harness
    dead = await begin_import(h.core, "zoom", "cli")  # its process dies before running it
    with pytest.raises(ImportBusy, match="already running, started by cli"):
        await import_platform(other, "zoom", "hub")
    h.clock.advance(LEASE + timedelta(seconds=1))  # no heartbeat for longer than the lease
    result = await import_platform(other, "zoom", "hub")
    assert result.seen == 8
    # Should the first process wake up after all, it no longer holds the guard: it stops
    # without marking anything and without overwriting the other run's outcome.
    with pytest.raises(ImportFailed, match="did not renew its guard"):
        await run_import(h.core, dead)
    async with h.core.sessions() as session:
        run = await ImportRuns(session).get("zoom")
        connection = (await Connections(session).all())["zoom"]
    assert run is not None and (run.state, run.started_by) == ("done", "hub")
    assert connection.last_error is None


async def test_a_running_import_keeps_its_guard_while_it_works(
    harness: Harness, other: Core
) -> None:
    h = harness
    h.zoom.max_page_size = 2
    ticket = await begin_import(h.core, "zoom", "cli")
    attempts: list[asyncio.Task[object]] = []

    def progress(seen: int) -> None:
        # Each page takes most of a lease; meanwhile another process tries to import.
        h.clock.advance(LEASE - timedelta(seconds=10))
        attempts.append(asyncio.ensure_future(begin_import(other, "zoom", "hub")))

    result = await run_import(h.core, ticket, progress)
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    assert result.seen == 8
    assert len(outcomes) >= 4  # far longer than a lease in all, never taken over
    # The attempt after the last page may come once the import is done; every other was refused.
    assert all(isinstance(o, ImportBusy) for o in outcomes[:-1]), outcomes


async def test_an_import_whose_process_died_is_finished_by_another(
    harness: Harness, other: Core
) -> None:
    """The Hub's import is an outbox row: a process that claimed it and died leaves it to the
    next claim once the lease ends, and the other process runs it on the same guard."""
    h = harness
    ticket = await begin_import(h.core, "slack", "hub:ada")
    async with h.core.transaction() as session:
        await outbox.run_import(session, h.core, "slack", ticket.run_id, "hub:ada")
    now = h.clock.now()
    async with h.core.transaction() as session:  # claimed by a worker that then died
        (row,) = await Outbox(session).claim(now, now + DELIVERY_LEASE, "dead", 10, ["slack"])
    await Worker(other).drain()
    async with other.sessions() as session:
        run = await ImportRuns(session).get("slack")
    assert run is not None and run.state == "running"  # the dead worker's lease still holds
    h.clock.advance(DELIVERY_LEASE + timedelta(seconds=1))
    await Worker(other).drain()
    async with other.sessions() as session:
        run = await ImportRuns(session).get("slack")
        done = await session.get(OutboxItem, row.id)
    assert run is not None and (run.run_id, run.state, run.seen) == (ticket.run_id, "done", 11)
    assert done is not None and done.state == "done"
