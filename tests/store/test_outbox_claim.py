"""An outbox row is claimed by one worker at a time, and never again once delivered.

The interleavings are forced, not left to luck: a worker that looked for due rows before
another worker claimed, delivered and finished them ("a stale view") must get nothing. Runs on
SQLite and PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import OutboxItem
from store.repositories import Outbox

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
ROWS = 40


async def queue(sessions: async_sessionmaker[AsyncSession], n: int = ROWS) -> None:
    async with sessions() as session, session.begin():
        for i in range(n):
            await Outbox(session).add(
                {
                    "idempotency_key": f"dm:{i}",
                    "platform": "slack",
                    "kind": "send_dm",
                    "payload": {"n": i},
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
            )


async def stale_view(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    """What a worker saw when it looked for due rows, before the others acted."""
    async with sessions() as session, session.begin():
        return list((await session.execute(Outbox(session).due(NOW, ROWS, ["slack"]))).scalars())


async def claim(
    sessions: async_sessionmaker[AsyncSession], who: str, now: datetime = NOW, limit: int = ROWS
) -> list[int]:
    async with sessions() as session, session.begin():
        items = await Outbox(session).claim(now, now + LEASE, who, limit, ["slack"])
        return [i.id for i in items]


async def take(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], who: str, now: datetime = NOW
) -> list[int]:
    async with sessions() as session, session.begin():
        return [i.id for i in await Outbox(session).take(ids, now, now + LEASE, who)]


async def finish(
    sessions: async_sessionmaker[AsyncSession], ids: list[int], who: str, **values: object
) -> None:
    async with sessions() as session, session.begin():
        for item_id in ids:
            await Outbox(session).finish(item_id, who, **values)


async def test_a_delivered_row_is_not_claimed_from_a_stale_view(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await queue(db_sessionmaker)
    seen_by_b = await stale_view(db_sessionmaker)
    assert len(seen_by_b) == ROWS
    delivered = await claim(db_sessionmaker, "a")
    assert sorted(delivered) == sorted(seen_by_b)
    await finish(db_sessionmaker, delivered, "a", state="done", done_at=NOW)
    # B now acts on what it saw: every row is done, and its lease is cleared.
    assert await take(db_sessionmaker, seen_by_b, "b") == []
    assert await claim(db_sessionmaker, "b") == []
    later = NOW + 2 * LEASE  # long after any lease: done stays done
    assert await take(db_sessionmaker, seen_by_b, "b", later) == []


async def test_a_row_put_back_for_later_is_not_claimed_early(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await queue(db_sessionmaker)
    seen_by_b = await stale_view(db_sessionmaker)
    retried = await claim(db_sessionmaker, "a")
    await finish(
        db_sessionmaker, retried, "a", attempts=1, next_attempt_at=NOW + timedelta(hours=1)
    )
    assert await take(db_sessionmaker, seen_by_b, "b") == []
    assert await claim(db_sessionmaker, "b") == []
    assert len(await claim(db_sessionmaker, "b", NOW + timedelta(hours=1))) == ROWS


async def test_a_lease_protects_a_row_until_it_expires(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await queue(db_sessionmaker)
    seen_by_b = await stale_view(db_sessionmaker)
    held = await claim(db_sessionmaker, "a")  # a crashes while holding these
    assert await take(db_sessionmaker, seen_by_b, "b") == []
    expired = NOW + LEASE + timedelta(seconds=1)
    assert sorted(await take(db_sessionmaker, seen_by_b, "b", expired)) == sorted(held)
    async with db_sessionmaker() as session:
        owners = set((await session.execute(select(OutboxItem.claim_id))).scalars())
    assert owners == {"b"}


async def test_concurrent_claims_split_the_rows(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await queue(db_sessionmaker)
    got: list[list[int]] = [[], []]

    async def worker(n: int) -> None:
        while batch := await claim(db_sessionmaker, f"w{n}", limit=3):
            got[n] += batch
            await finish(db_sessionmaker, batch, f"w{n}", state="done", done_at=NOW)
            await asyncio.sleep(0)

    await asyncio.gather(worker(0), worker(1))
    assert not set(got[0]) & set(got[1])
    assert len(got[0]) + len(got[1]) == ROWS
