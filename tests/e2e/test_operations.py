"""What an operator relies on: health, metrics, several processes sharing one database."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

from cryptography.fernet import Fernet

from bot import messages, outbox, reminders
from bot.app import build_core
from bot.delivery import LEASE, Worker
from bot.settings import Secret, Settings
from bot.types import DirectoryUser, Platform, PlatformUserId
from store.db import make_engine, make_sessionmaker
from store.repositories import Outbox
from tests.e2e.conftest import Harness, free_port
from tests.e2e.test_consent_flow import BOB, request_consent


async def test_healthz_and_metrics(harness: Harness) -> None:
    h = harness
    async with h.http.get(f"{h.url}/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["platforms"] == sorted(h.core.platforms)
    await request_consent(h, "slack", "zoom")
    async with h.http.get(f"{h.url}/metrics") as resp:
        text = await resp.text()
    assert "mio_outbox_pending 0" in text
    assert 'mio_syncs{platform="zoom",status="pending"} 1' in text


async def queue_dms(h: Harness, each: int) -> list[str]:
    """`each` DMs to every active Slack person, queued as the services queue them."""
    people = [a for a in h.org.on("slack") if a.active and not a.is_bot and a.email]
    async with h.core.transaction() as session:
        for a in people:
            user = DirectoryUser(Platform("slack"), PlatformUserId(a.user_id), a.email, a.name)
            for n in range(each):
                await outbox.send_dm(
                    session, h.core, user, messages.note(f"#{n}"), key=f"t:{a.user_id}:{n}"
                )
    return [a.email for a in people if a.email]


async def test_two_processes_deliver_each_dm_once(harness: Harness) -> None:
    """Many rows, two workers taking small batches, and a worker acting on a stale view."""
    h = harness
    other = build_core(h.core.settings, h.clock)  # a second process on the same database
    for adapter in other.platforms.values():
        await adapter.start()
    try:
        people = await queue_dms(h, each=3)
        assert len(people) >= 6
        now = h.clock.now()
        async with other.transaction() as session:  # the other process looks for due rows...
            seen = list((await session.execute(Outbox(session).due(now, 100, ["slack"]))).scalars())
        assert len(seen) == 3 * len(people)
        # ...and both deliver in small batches, so each claims while the other delivers.
        await asyncio.gather(h.worker.drain(limit=3), Worker(other).drain(limit=3))
        async with other.transaction() as session:  # ...then it acts on what it saw
            late = await Outbox(session).take(seen, now, now + LEASE, "late")
        assert late == []
        await Worker(other).drain()
        for who in people:
            assert [m.text.splitlines()[0] for m in h.agents["slack"].dms(who)] == [
                "#0",
                "#1",
                "#2",
            ], who
    finally:
        for adapter in other.platforms.values():
            await adapter.close()
        await other.sessions.kw["bind"].dispose()


async def test_two_processes_remind_once(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    other = build_core(h.core.settings, h.clock)
    try:
        h.clock.advance(timedelta(days=1, minutes=1))
        moved = await asyncio.gather(reminders.tick(h.core), reminders.tick(other))
        assert sum(moved) == 1
        await h.deliver()
        assert len(h.agents["slack"].dms(BOB)) == 2
    finally:
        await other.sessions.kw["bind"].dispose()


async def test_zoom_url_validation_through_the_app(harness: Harness) -> None:
    answer = await harness.zoom.url_validation()
    assert answer["plainToken"] and answer["encryptedToken"]


async def test_healthz_hides_the_driver_error(harness: Harness) -> None:
    """An unreachable database is "unavailable": no host, port, user or driver text leaks."""
    h = harness
    dead = make_engine(f"postgresql+asyncpg://mio:hunter2@127.0.0.1:{free_port()}/mio")
    healthy = h.core.sessions
    h.core.sessions = make_sessionmaker(dead)
    try:
        async with h.http.get(f"{h.url}/healthz") as resp:
            body = await resp.text()
            assert resp.status == 503
    finally:
        h.core.sessions = healthy
        await dead.dispose()
    assert json.loads(body) == {"status": "error", "database": "unavailable"}
    assert "hunter2" not in body and "127.0.0.1" not in body


async def test_metrics_token_is_required_when_set(harness: Harness) -> None:
    h = harness
    token = "m3trics-" + "x" * 24
    h.core.settings = replace(h.core.settings, metrics_token=Secret(token))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        async with h.http.get(f"{h.url}/metrics", headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert "mio_outbox_pending" not in await resp.text()
    bearer = {"Authorization": f"Bearer {token}"}
    async with h.http.get(f"{h.url}/metrics", headers=bearer) as resp:
        assert resp.status == 200
        assert "mio_outbox_pending 0" in await resp.text()


def test_metrics_token_setting() -> None:
    base = {"MIO_SECRET_KEY": Fernet.generate_key().decode()}
    assert Settings.from_env(base).metrics_token is None
    assert Settings.from_env({**base, "MIO_METRICS_TOKEN": " "}).metrics_token is None
    got = Settings.from_env({**base, "MIO_METRICS_TOKEN": "s3cret-token-1234"}).metrics_token
    assert got is not None and got.value == "s3cret-token-1234"
    assert "s3cret" not in repr(got)
