"""Reminders fire when they are due, with the real clock and the app's own background work.

The other reminder tests move a manual clock and call `reminders.tick` themselves; this one runs
`create_app(background=True)` as `mio serve` does and only watches what Bob receives, so it fails
when the scheduler sleeps through due work (it used to poll once a minute).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from bot import reminders, wake
from bot.app import create_app
from bot.core import Core
from bot.directory import import_platform
from bot.web import CORE
from sandbox.org import load_org
from sandbox.runner import Sandbox
from store.db import upgrade
from tests.e2e.agents import Agent
from tests.e2e.conftest import ADMIN, Harness, free_port, make_agents, settings_for
from tests.e2e.test_consent_flow import request_consent

BOB = "bob@acme.test"
SHORT = {"MIO_REMINDER_AFTER": "5s,10s", "MIO_PENDING_EXPIRES_AFTER": "15s"}


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[tuple[Core, dict[str, Agent]]]:
    """The app with its real clock, outbox worker and reminder scheduler running."""
    org = load_org()
    sandbox = Sandbox(org)
    await sandbox.start()
    port = free_port()
    await upgrade(db_url)
    app = create_app(settings_for(sandbox, db_url, port, **SHORT), background=True)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    sandbox.point_at(f"http://127.0.0.1:{port}")
    core = app[CORE]
    try:
        for platform in ("slack", "zoom"):
            await import_platform(core, platform, "test")
        yield core, make_agents(sandbox, org)
    finally:
        await server.close()
        await sandbox.stop()


async def sync_status(core: Core) -> tuple[str, str | None]:
    from store.repositories import Directory, Syncs

    async with core.sessions() as session:
        (person,) = await Directory(session).find_people(BOB)
        sync = await Syncs(session).get(person.id, "zoom")
    return (sync.status, sync.reason) if sync else ("not_created", None)


async def test_two_reminders_then_expiry_on_time(live: tuple[Core, dict[str, Agent]]) -> None:
    core, agents = live
    slack = agents["slack"]
    assert "now Slack" in (await slack.command(ADMIN, f"primary {BOB} slack")).text
    seen = await slack.command(ADMIN, f"sync {BOB} zoom")
    assert await slack.press(ADMIN, seen, "mio:confirm") == 200
    start = time.monotonic()
    arrivals: list[tuple[float, str]] = []  # (seconds after the request, text) of each new DM
    expired_at: float | None = None
    while time.monotonic() - start < 30 and expired_at is None:
        dms = slack.dms(BOB)
        arrivals += [(time.monotonic() - start, d.text) for d in dms[len(arrivals) :]]
        if await sync_status(core) == ("failed", "expired"):
            expired_at = time.monotonic() - start
        await asyncio.sleep(0.1)
    texts = [text for _, text in arrivals]
    assert expired_at is not None, f"never expired; DMs: {arrivals}"
    assert len(arrivals) == 3, arrivals  # the request and two reminders, before the expiry
    assert not texts[0].startswith("Reminder") and all(t.startswith("Reminder") for t in texts[1:])
    (asked, _), (first, _), (second, _) = arrivals
    # Generous bounds: this checks that nothing waits for a once-a-minute poll, not speed.
    assert asked < 3
    assert 4 <= first < 9, arrivals
    assert 9 <= second < 14, arrivals
    assert 14 <= expired_at < 20, (expired_at, arrivals)


# --- when the loop wakes, with a clock and a sleep the test controls --------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    due_in=st.none() | st.integers(-(10**6), 10**7).map(lambda s: timedelta(seconds=s)),
    poll=st.integers(1, 10**5).map(lambda s: timedelta(seconds=s)),
)
def test_wake_delay_is_the_earliest_due_time_capped_by_the_poll(
    due_in: timedelta | None, poll: timedelta
) -> None:
    delay = reminders.wake_delay(NOW, None if due_in is None else NOW + due_in, poll)
    expected = poll if due_in is None else max(min(due_in, poll), timedelta(0))
    assert delay == expected.total_seconds()


class Stop(Exception):
    pass


async def test_the_loop_sleeps_exactly_until_each_due_reminder(harness: Harness) -> None:
    """Default policy (1d, 3d, expiry 7d): each sleep ends at the next due time, not a poll."""
    h = harness
    await request_consent(h, "slack", "zoom")
    delays: list[float] = []
    seen: list[int] = []

    async def sleep(ready: asyncio.Event, seconds: float) -> None:
        delays.append(seconds)
        await h.deliver()
        seen.append(len(h.agents["slack"].dms(BOB)))
        if len(delays) == 4:
            raise Stop
        h.clock.advance(timedelta(seconds=seconds))  # time passes exactly as long as asked

    with pytest.raises(Stop):
        await reminders.forever(h.core, poll=timedelta(days=30), sleep=sleep)
    day = 86400.0
    assert delays == [1 * day, 2 * day, 4 * day, 30 * day]  # to 1d, 3d, 7d; then nothing due
    assert seen[:3] == [1, 2, 3]  # the request, then one reminder after each wake
    assert await h.status(BOB, "zoom") == ("failed", "expired")


async def test_a_request_wakes_the_sleeping_loop_once_committed(harness: Harness) -> None:
    h = harness
    ready = h.core.reminders_ready
    ready.clear()
    async with h.core.sessions() as session:
        async with session.begin():
            wake.after_commit(session, ready)
            assert not ready.is_set()  # a loop woken now would find nothing committed
        assert ready.is_set()
        ready.clear()
        with pytest.raises(Stop):
            async with session.begin():
                wake.after_commit(session, ready)
                raise Stop
        assert not ready.is_set()  # rolled back: nothing to wake for
    assert "primary platform is now" in await h.command("slack", ADMIN, f"primary {BOB} slack")
    seen = await h.agents["slack"].command(ADMIN, f"sync {BOB} zoom")
    ready.clear()
    assert await h.agents["slack"].press(ADMIN, seen, "mio:confirm") == 200
    assert ready.is_set() and h.core.outbox_ready.is_set()
