"""The relay's store: the ordered outbox claim and the once-only relay rows, on SQLite and
PostgreSQL (tests/conftest.py).

The claim's rule: a row with an ordering key is claimable only while no older row with its key
is pending or waiting, so two workers never hold two rows of one conversation, and a retried or
waiting row holds back its conversation and no other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import OutboxItem, Person
from store.repositories import (
    Outbox,
    RelayMessages,
    RelayPosts,
    RelayPrompts,
    RelayThreads,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
Sessions = async_sessionmaker[AsyncSession]


async def queue(
    sessions: Sessions, rows: Sequence[tuple[str, str | None]], state: str = "pending"
) -> None:
    async with sessions() as session, session.begin():
        for key, ordering in rows:
            await Outbox(session).add(
                {
                    "idempotency_key": key,
                    "platform": "slack",
                    "kind": "relay_post",
                    "payload": {},
                    "state": state,
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                    "ordering_key": ordering,
                }
            )


async def claim(sessions: Sessions, who: str, now: datetime = NOW) -> list[str]:
    async with sessions() as session, session.begin():
        items = await Outbox(session).claim(now, now + LEASE, who, 50, ["slack"])
        return [i.idempotency_key for i in items]


async def finish(sessions: Sessions, key: str, **values: object) -> None:
    async with sessions() as session, session.begin():
        item = (
            await session.scalars(select(OutboxItem).where(OutboxItem.idempotency_key == key))
        ).one()
        await Outbox(session).finish(item.id, item.claim_id or "", **values)


async def test_one_row_per_key_is_claimed_in_order(db_sessionmaker: Sessions) -> None:
    await queue(db_sessionmaker, [("a1", "k:a"), ("b1", "k:b"), ("a2", "k:a"), ("free", None)])
    assert sorted(await claim(db_sessionmaker, "w1")) == ["a1", "b1", "free"]
    await finish(db_sessionmaker, "a1", state="done", done_at=NOW)
    assert await claim(db_sessionmaker, "w2") == ["a2"]


async def test_a_retried_row_holds_back_its_conversation_only(db_sessionmaker: Sessions) -> None:
    await queue(db_sessionmaker, [("a1", "k:a"), ("a2", "k:a"), ("b1", "k:b"), ("b2", "k:b")])
    assert sorted(await claim(db_sessionmaker, "w1")) == ["a1", "b1"]
    await finish(db_sessionmaker, "a1", next_attempt_at=NOW + timedelta(minutes=5))  # 429
    await finish(db_sessionmaker, "b1", state="done", done_at=NOW)
    later = NOW + LEASE + timedelta(seconds=1)
    assert await claim(db_sessionmaker, "w2", later) == ["b2"]  # a2 waits behind a1


async def test_a_waiting_row_blocks_until_released(db_sessionmaker: Sessions) -> None:
    await queue(db_sessionmaker, [("a1", "k:a")], state="waiting")
    await queue(db_sessionmaker, [("a2", "k:a")])
    assert await claim(db_sessionmaker, "w1") == []
    async with db_sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxItem).values(sync_id=5).where(OutboxItem.state == "waiting")
        )
        assert await Outbox(session).release(5, NOW) == 1
    assert await claim(db_sessionmaker, "w1") == ["a1"]


async def test_two_workers_never_hold_two_rows_of_one_key(db_sessionmaker: Sessions) -> None:
    rows = [(f"r{i}", f"k:{i % 3}") for i in range(30)]
    await queue(db_sessionmaker, rows)
    held: dict[str, list[str]] = {}
    for round_ in range(12):
        first, second = await asyncio.gather(
            claim(db_sessionmaker, f"x{round_}"), claim(db_sessionmaker, f"y{round_}")
        )
        assert not set(first) & set(second)
        keys = [int(k[1:]) % 3 for k in first + second]
        assert len(keys) == len(set(keys))  # one row per conversation at a time
        for key in first + second:
            held.setdefault(f"k:{int(key[1:]) % 3}", []).append(key)
            await finish(db_sessionmaker, key, state="done", done_at=NOW)
    for key, taken in held.items():
        assert taken == sorted(taken, key=lambda k: int(k[1:])), key  # in queue order
    assert sum(len(t) for t in held.values()) == 30


async def add_people(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        for pid in (1, 2):
            session.add(Person(id=pid, match_key=f"p{pid}", display_name=f"P{pid}", created_at=NOW))


async def test_a_message_is_recorded_once_and_its_posts_are_echoes(
    db_sessionmaker: Sessions,
) -> None:
    await add_people(db_sessionmaker)
    row = {
        "source_platform": "slack",
        "source_conversation": "D1",
        "source_message_id": "1.1",
        "sender_person_id": 1,
        "recipient_person_id": 2,
        "state": "queued",
        "received_at": NOW,
    }
    async with db_sessionmaker() as session, session.begin():
        first = await RelayMessages(session).add(row)
        assert first is not None
        assert await RelayMessages(session).add(row) is None
        await RelayPosts(session).record(first, "teams", [("chat", "m1"), ("chat", "m2")], NOW)
        await RelayPosts(session).record(first, "teams", [("chat", "m1")], NOW)  # found again
        await RelayMessages(session).delivered(first, NOW, 1)
    async with db_sessionmaker() as session:
        assert await RelayPosts(session).is_echo("teams", "chat", "m2")
        assert not await RelayPosts(session).is_echo("slack", "chat", "m2")
        message = await RelayMessages(session).get(first)
        assert message is not None and message.state == "delivered" and message.duplicates == 1


async def test_threads_and_the_current_correspondent(db_sessionmaker: Sessions) -> None:
    await add_people(db_sessionmaker)
    async with db_sessionmaker() as session, session.begin():
        threads = RelayThreads(session)
        await threads.touch("slack", 1, 2, NOW)
        assert await threads.current("slack", 1) == 2
        await threads.touch("slack", 1, 2, NOW + timedelta(seconds=1), thread_id="T1")
        await threads.touch("slack", 1, 2, NOW + timedelta(seconds=2))  # keeps its thread
        assert await threads.thread_for("slack", 1, 2) == "T1"
        assert await threads.by_thread("slack", 1, "T1") == 2
        assert await threads.current("zoom", 1) is None


async def test_the_throttle_is_claimed_by_one_caller_per_period(db_sessionmaker: Sessions) -> None:
    day = timedelta(days=1)

    async def claim_at(now: datetime) -> bool:
        async with db_sessionmaker() as session, session.begin():
            return await RelayPrompts(session).claim("told", 1, 2, now, now - day)

    assert await claim_at(NOW)
    assert not await claim_at(NOW + timedelta(hours=1))
    later = NOW + day + timedelta(seconds=1)
    results = await asyncio.gather(*(claim_at(later) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
