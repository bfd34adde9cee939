"""SQLite: one writer at a time per process, queued in asyncio instead of in SQLite's busy wait.

SQLite's own busy handler is switched off in these tests (busy_timeout 0), so a second writer
that reached SQLite's lock would fail at once with "database is locked": every test passes
only because `SqliteWriteGate` queued it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import store.db
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import ProcessedEvent

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _no_busy_wait(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 0")
        cursor.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mio.db'}"
    await upgrade(url)
    engine = make_engine(url)
    _no_busy_wait(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


def row(delivery_id: str) -> dict[str, Any]:
    return {"platform": "slack", "delivery_id": delivery_id, "received_at": NOW}


async def count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


async def test_two_write_transactions_at_once_both_commit(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    first_wrote = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with sessions() as session, session.begin():
            await session.execute(insert(ProcessedEvent), [row("a")])
            first_wrote.set()
            await asyncio.sleep(0.2)  # SQLite's write lock is held all this time
            order.append("first commits")

    async def second() -> None:
        await first_wrote.wait()
        async with sessions() as session, session.begin():
            await session.execute(insert(ProcessedEvent), [row("b")])
            order.append("second wrote")

    await asyncio.gather(first(), second())
    assert order == ["first commits", "second wrote"]
    assert await count(sessions) == 2


async def test_many_concurrent_writers_never_see_database_is_locked(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)

    async def write(i: int) -> None:
        async with sessions() as session, session.begin():
            await session.execute(insert(ProcessedEvent), [row(f"r{i}")])
            await asyncio.sleep(0)  # let the others queue meanwhile
            await session.execute(select(ProcessedEvent.delivery_id).limit(1))

    await asyncio.gather(*(write(i) for i in range(30)))
    assert await count(sessions) == 30


async def test_read_then_write_after_another_commit(engine: AsyncEngine) -> None:
    """A transaction that read before another committed can still write (no stale snapshot)."""
    sessions = make_sessionmaker(engine)
    async with sessions() as reader, reader.begin():
        assert await reader.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        async with sessions() as other, other.begin():
            await other.execute(insert(ProcessedEvent), [row("other")])
        await reader.execute(insert(ProcessedEvent), [row("mine")])
    assert await count(sessions) == 2


async def test_a_rolled_back_writer_lets_the_next_one_in(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await session.execute(insert(ProcessedEvent), [row("lost")])
            raise RuntimeError("handler failed")
    async with asyncio.timeout(2):
        async with sessions() as session, session.begin():
            await session.execute(insert(ProcessedEvent), [row("kept")])
    assert await count(sessions) == 1


async def test_a_writer_waiting_for_itself_fails_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite+aiosqlite:///{tmp_path / 'mio.db'}"
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as outer, outer.begin():
            await outer.execute(insert(ProcessedEvent), [row("outer")])
            async with asyncio.timeout(5), sessions() as inner:
                with pytest.raises(OperationalError, match="database is locked"):
                    async with inner.begin():
                        await inner.execute(insert(ProcessedEvent), [row("inner")])
        assert await count(sessions) == 1
    finally:
        await engine.dispose()
