"""The outbox worker on its own: a fake platform, a real database (SQLite and PostgreSQL).

What each outcome does to the row (done, retried with backoff, paused by a 429, failed), that
any kind is run through the one table of kinds, and that two workers on two engines (two
processes) share one send pace and one pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Self, cast, override

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import delivery, outbox, outbox_kinds
from bot.clock import ManualClock
from bot.core import Core
from bot.crypto import Vault
from bot.delivery import Worker, send_key
from bot.outbox_kinds import Kind, Queued, Result
from bot.platform import ChatPlatform
from bot.settings import Settings
from bot.types import (
    DirectoryUser,
    Identity,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    ReplyTarget,
    RetryLater,
    TokenGrant,
)
from store.db import make_engine, make_sessionmaker
from store.models import OutboxItem
from store.repositories import Audit, Outbox

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FAKE = Platform("fake")
BOB = DirectoryUser(FAKE, PlatformUserId("U1"), "bob@acme.test", "Bob")


class FakePlatform:
    """Records every call; `fail` queues exceptions the next calls raise."""

    name = FAKE
    label = "Fake"
    aliases = ()

    def __init__(self, rate_per_second: float = 1000.0) -> None:
        self.rate_per_second = rate_per_second
        self.sent: list[tuple[float, str]] = []  # (wall time, text)
        self.updated: list[MessageRef] = []
        self.replied: list[ReplyTarget] = []
        self.revoked: list[str] = []
        self.failures: list[Exception] = []

    def _next(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        self._next()
        self.sent.append((time.time(), str(message.text)))
        return MessageRef(FAKE, "D1", f"m{len(self.sent)}")

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        self._next()
        self.updated.append(ref)
        return ref

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        self._next()
        self.replied.append(target)

    async def revoke(self, grant: TokenGrant) -> str:
        self._next()
        self.revoked.append(grant.access_token)
        return "revoked"


def make_core(
    sessions: async_sessionmaker[AsyncSession], adapter: FakePlatform, key: bytes
) -> Core:
    env = {"MIO_SECRET_KEY": key.decode(), "MIO_DATABASE_URL": "sqlite+aiosqlite:///unused.db"}
    return Core(
        settings=Settings.from_env(env),
        sessions=sessions,
        platforms={FAKE: cast(ChatPlatform, adapter)},
        vault=Vault(key.decode()),
        clock=ManualClock(NOW),
    )


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def fake() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def core(db_sessionmaker: async_sessionmaker[AsyncSession], fake: FakePlatform, key: bytes) -> Core:
    return make_core(db_sessionmaker, fake, key)


async def dm(core: Core, text: str = "hello", key: str = "dm:1") -> None:
    async with core.transaction() as session:
        await outbox.send_dm(session, core, BOB, Message(text=text), key=key)


async def rows(core: Core) -> list[OutboxItem]:
    async with core.sessions() as session:
        return list((await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())


async def actions(core: Core) -> list[str]:
    async with core.sessions() as session:
        return [e.action for e in await Audit(session).recent(50)]


async def test_a_delivered_row_is_done_and_forgets_its_sealed_part(
    core: Core, fake: FakePlatform
) -> None:
    await dm(core)
    await dm(core)  # the same key: queued once
    await Worker(core).drain()
    assert [text for _, text in fake.sent] == ["hello"]
    (row,) = await rows(core)
    assert (row.state, row.secret, row.claimed_until) == ("done", None, None)
    assert row.done_at == NOW


async def test_retry_later_backs_off_and_pauses_the_platform_for_every_worker(
    core: Core, fake: FakePlatform, key: bytes, migrated_db_url: str
) -> None:
    fake.failures.append(RetryLater("fake", "429 rate limited", after=30.0))
    await dm(core, key="dm:1")
    await dm(core, key="dm:2")
    assert await Worker(core).run_once() == 2
    first, second = await rows(core)
    assert (first.attempts, first.last_error) == (1, "429 rate limited")
    assert first.next_attempt_at == NOW + timedelta(seconds=30)
    assert (second.attempts, second.next_attempt_at) == (0, NOW + timedelta(seconds=30))
    assert fake.sent == []  # the second row waited out the pause without a call
    assert await core.rate_gate.paused_until(send_key(FAKE)) == NOW + timedelta(seconds=30)

    engine = make_engine(migrated_db_url)  # another process
    try:
        other = make_core(make_sessionmaker(engine), fake, key)
        cast(ManualClock, other.clock).advance(timedelta(seconds=10))
        assert await Worker(other).run_once() == 0  # paused: claims nothing
        cast(ManualClock, other.clock).advance(timedelta(seconds=20))
        await Worker(other).drain()
    finally:
        await engine.dispose()
    assert len(fake.sent) == 2
    assert {r.state for r in await rows(core)} == {"done"}


async def test_an_error_without_retry_after_backs_off(core: Core, fake: FakePlatform) -> None:
    fake.failures.append(RetryLater("fake", "503"))
    fake.failures.append(ValueError("unexpected answer"))
    await dm(core)
    await Worker(core).run_once()
    (row,) = await rows(core)
    assert (row.attempts, row.next_attempt_at) == (1, NOW + delivery.backoff(0))
    assert await core.rate_gate.paused_until(send_key(FAKE)) is None
    cast(ManualClock, core.clock).advance(delivery.backoff(0))
    await Worker(core).run_once()
    (row,) = await rows(core)
    assert row.attempts == 2 and "unexpected answer" in (row.last_error or "")
    assert "(ref: " in (row.last_error or "")


async def test_a_permanent_failure_ends_the_row_and_is_audited(
    core: Core, fake: FakePlatform
) -> None:
    fake.failures.append(PermanentFailure("fake", "user_not_found"))
    await dm(core)
    await Worker(core).drain()
    (row,) = await rows(core)
    assert (row.state, row.last_error) == ("failed", "user_not_found")
    assert "outbox.send_dm.failed" in await actions(core)


async def test_unknown_kinds_and_foreign_keys_fail_at_once(core: Core, fake: FakePlatform) -> None:
    async with core.transaction() as session:
        for kind, secret in [("fax", None), ("send_dm", Vault(Fernet.generate_key().decode()))]:
            sealed = secret.seal({"message": {"text": "x"}}) if secret else None
            await Outbox(session).add(
                {
                    "idempotency_key": kind,
                    "platform": FAKE,
                    "kind": kind,
                    "payload": {"user": {}},
                    "secret": sealed,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
            )
    await Worker(core).drain()
    fax, foreign = await rows(core)
    assert (fax.state, fax.last_error) == ("failed", "unknown outbox kind 'fax'")
    assert foreign.state == "failed" and "MIO_SECRET_KEY" in (foreign.last_error or "")
    assert fake.sent == []


async def test_every_kind_runs_through_the_table(core: Core, fake: FakePlatform) -> None:
    ref = MessageRef(FAKE, "D1", "m1")
    target = ReplyTarget(FAKE, {"url": "https://example.test/r"})
    grant = TokenGrant(Identity(PlatformUserId("U1"), None), "tok-1")
    async with core.transaction() as session:
        await outbox.update_dm(session, core, ref, Message(text="edited"), key="u")
        await outbox.reply(session, core, target, Message(text="answer"), key="r")
        tokens = core.vault.seal({"user_id": "U1", "access_token": "tok-2"})
        await outbox.revoke(session, core, FAKE, 7, tokens, key="v")
        await outbox.revoke_sign_in(session, core, FAKE, grant, key="s")
    await Worker(core).drain()
    assert fake.updated == [ref] and fake.replied == [target]
    assert sorted(fake.revoked) == ["tok-1", "tok-2"]
    assert {r.kind for r in await rows(core)} == {"update_dm", "reply", "revoke", "revoke_sign_in"}
    assert {r.state for r in await rows(core)} == {"done"}
    assert (await actions(core)).count("grant.revoked") == 1  # the unsync's, not the sign-in's


async def test_a_long_row_renews_its_lease_while_it_runs(
    core: Core, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RENEW_EVERY", timedelta(seconds=0.05))
    release = asyncio.Event()
    original = fake.send_dm

    async def slow(user: DirectoryUser, message: Message) -> MessageRef:
        await release.wait()
        return await original(user, message)

    fake.send_dm = slow  # type: ignore[method-assign]
    await dm(core)
    worker = Worker(core)
    running = asyncio.create_task(worker.run_once())
    await asyncio.sleep(0.02)
    cast(ManualClock, core.clock).advance(timedelta(minutes=10))  # far past the first lease
    for _ in range(100):  # renewed every 0.05 s; a loaded machine may take a few rounds
        await asyncio.sleep(0.05)
        (row,) = await rows(core)
        if row.claimed_until is not None and row.claimed_until > core.clock.now():
            break
    assert row.claimed_until is not None and row.claimed_until > core.clock.now()
    release.set()
    await running
    assert [r.state for r in await rows(core)] == ["done"]


async def test_two_workers_share_one_send_pace(
    db_engine: AsyncEngine, migrated_db_url: str, key: bytes
) -> None:
    fake = FakePlatform(rate_per_second=40.0)  # bursts of 10 in any 0.25 s
    one = make_core(make_sessionmaker(db_engine), fake, key)
    engine = make_engine(migrated_db_url)
    try:
        two = make_core(make_sessionmaker(engine), fake, key)
        for n in range(30):
            await dm(one, f"m{n}", key=f"dm:{n}")
        await asyncio.gather(Worker(one).drain(limit=5), Worker(two).drain(limit=5))
    finally:
        await engine.dispose()
    sent = sorted(at for at, _ in fake.sent)
    assert len(sent) == 30
    per = delivery.SEND_BURST / fake.rate_per_second
    busiest = max(sum(1 for t in sent if s <= t < s + per - 0.02) for s in sent)
    assert busiest <= delivery.SEND_BURST


@dataclass(frozen=True)
class Forever(Kind):
    """A long row (as an import is) that only ends when cancelled."""

    name: ClassVar[str] = "forever"
    paced: ClassVar[bool] = False
    background: ClassVar[bool] = True
    started: ClassVar[asyncio.Event]

    @classmethod
    def load(cls, data: dict[str, object]) -> Self:
        return cls()

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        Forever.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable: cancelled while it waits")


async def test_forever_runs_what_is_queued_and_stops_its_long_rows_when_stopped(
    core: Core, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(outbox_kinds.KINDS, Forever.name, Forever)
    Forever.started = asyncio.Event()
    worker = Worker(core)
    loop = asyncio.create_task(worker.forever(idle=30.0))
    async with core.transaction() as session:
        await outbox.queue(session, core, FAKE, Forever(), key="long")
    await asyncio.wait_for(Forever.started.wait(), 5)
    outlives_its_guard = NOW + delivery.BACKGROUND_LEASE  # renewed at once, not in 30 s
    for _ in range(200):
        long_row = next(r for r in await rows(core) if r.kind == "forever")
        if long_row.claimed_until == outlives_its_guard:
            break
        await asyncio.sleep(0.01)
    assert long_row.claimed_until == outlives_its_guard
    await dm(core)  # woken at once, although idle is 30 s, and not held up by the long row
    for _ in range(200):
        if fake.sent:
            break
        await asyncio.sleep(0.01)
    assert [text for _, text in fake.sent] == ["hello"]
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    long_row = next(r for r in await rows(core) if r.kind == "forever")
    assert long_row.state == "pending"  # left for the next claim once its lease ends
