"""One pace per platform across processes: two engines on one database stand for two processes.

Each process takes its turns from the same `rate_gates` row, so together they stay within the
pace a single process keeps, and a 429 pause one of them records holds the other. Runs on
SQLite and PostgreSQL (tests/conftest.py); the window runs on the real clock, kept short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.paging import Gated, LocalRateGate
from bot.clock import ManualClock
from bot.core import Core
from bot.crypto import Vault
from bot.platform import ChatPlatform, Pace
from bot.rate_gate import DatabaseRateGate
from bot.settings import Settings
from bot.types import Platform
from store.db import make_engine, make_sessionmaker
from store.rate_gates import RateGates

PACE = Pace(4, 0.4)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
async def second_engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    """Another process's connection pool on the same database."""
    engine = make_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def gates(first: AsyncEngine, second: AsyncEngine) -> tuple[DatabaseRateGate, DatabaseRateGate]:
    return DatabaseRateGate(make_sessionmaker(first)), DatabaseRateGate(make_sessionmaker(second))


def busiest_window(marks: list[float], per: float) -> int:
    """The most calls in any `per` seconds."""
    marks = sorted(marks)
    return max(sum(1 for m in marks if start <= m < start + per) for start in marks)


async def test_two_processes_together_keep_one_pace(
    db_engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    a, b = gates(db_engine, second_engine)
    marks: list[float] = []

    async def calls(gate: DatabaseRateGate, n: int) -> None:
        for _ in range(n):
            marks.append(await gate.take("slack:send", PACE))

    started = time.time()
    await asyncio.gather(calls(a, 6), calls(b, 6))
    assert len(marks) == 12
    assert busiest_window(marks, PACE.per) <= PACE.calls
    # 12 calls at 4 per 0.4 s: the first 4 at once, then two more windows.
    assert time.time() - started >= 2 * PACE.per - 0.05


async def test_each_process_alone_would_have_gone_twice_as_fast(
    db_engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    """The control: separate gates (one per process, as before) let both bursts through."""
    marks: list[float] = []

    async def calls(gate: LocalRateGate) -> None:
        for _ in range(PACE.calls):
            marks.append(await gate.take("slack:send", PACE))

    await asyncio.gather(calls(LocalRateGate()), calls(LocalRateGate()))
    assert busiest_window(marks, PACE.per) == 2 * PACE.calls


async def test_a_call_counts_from_its_answer(
    db_engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    a, b = gates(db_engine, second_engine)
    one = Pace(1, 0.3)
    mark = await a.take("zoom:directory", one)
    await asyncio.sleep(0.2)  # a slow answer
    await a.answered("zoom:directory", one, mark)
    answered = time.time()
    await b.take("zoom:directory", one)
    assert time.time() - answered >= one.per - 0.02  # not 0.1 s after the send


async def test_a_pause_recorded_by_one_process_holds_the_other(
    db_engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    a, b = gates(db_engine, second_engine)
    assert await b.paused_until("slack:send") is None
    await a.pause("slack:send", NOW + timedelta(seconds=30))
    assert await b.paused_until("slack:send") == NOW + timedelta(seconds=30)
    await b.pause("slack:send", NOW + timedelta(seconds=5))  # a shorter one does not shorten it
    assert await a.paused_until("slack:send") == NOW + timedelta(seconds=30)
    await b.pause("slack:send", NOW + timedelta(seconds=60))
    assert await a.paused_until("slack:send") == NOW + timedelta(seconds=60)
    assert await a.paused_until("zoom:send") is None  # per key


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_the_local_gate_keeps_the_same_window() -> None:
    t = FakeTime()
    gate = LocalRateGate(clock=t.clock, sleep=t.sleep)
    pace = Pace(2, 10.0)
    sent = [await gate.take("k", pace) for _ in range(5)]
    assert sent == [100.0, 100.0, 110.0, 110.0, 120.0]
    await gate.pause("k", NOW)
    await gate.pause("k", NOW - timedelta(seconds=1))
    assert await gate.paused_until("k") == NOW


def test_pace_counts_the_latest_calls_only() -> None:
    pace = Pace(3, 60.0)
    assert pace.delay([], 0.0) == 0.0
    assert pace.delay([0.0, 10.0], 20.0) == 0.0  # room for a third
    assert pace.delay([0.0, 10.0, 20.0], 30.0) == 30.0  # the oldest leaves the window at 60
    assert pace.counted([5.0, 1.0, 3.0], 7.0) == [3.0, 5.0, 7.0]
    assert pace.moved([1.0, 2.0, 3.0], 2.0, 9.0) == [1.0, 3.0, 9.0]
    assert pace.moved([1.0, 3.0], 2.0, 9.0) == [1.0, 3.0, 9.0]  # pushed out meanwhile
    with pytest.raises(ValueError, match="positive period"):
        Pace(2, 0.0)


class Paged(Gated):
    """An adapter that pages a directory, as the four platform adapters do."""

    name = Platform("paged")
    directory_pace = Pace(2, 60.0)


async def test_the_core_hands_its_gate_to_the_adapters(db_engine: AsyncEngine) -> None:
    alone = Paged()
    pacer = alone.directory_pacer()  # no core: an in-process window
    await pacer.take()
    await pacer.release()
    adapter = Paged()
    key = Fernet.generate_key().decode()
    env = {"MIO_SECRET_KEY": key, "MIO_DATABASE_URL": "sqlite+aiosqlite:///unused.db"}
    sessions = make_sessionmaker(db_engine)
    Core(
        settings=Settings.from_env(env),
        sessions=sessions,
        platforms={adapter.name: cast(ChatPlatform, adapter)},
        vault=Vault(key),
        clock=ManualClock(NOW),
    )
    async with sessions() as session:
        assert await RateGates(session).get("paged:directory") is None  # the alone one's
    pacer = adapter.directory_pacer()
    await pacer.take()
    await pacer.release()
    async with sessions() as session:
        state = await RateGates(session).get("paged:directory")
    assert state is not None and len(state.marks) == 1
