"""Admins see the relay working (issue 10, "What must hold" 8): /metrics counts relayed
messages by platform pair and outcome, the outbox's oldest row, relay latency and
subscriptions, from the database; `mio status <user>` shows the relay readiness per platform."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.outbox_kinds import Reply
from bot.relay import metrics, tokens
from bot.types import AccessRevoked, Message, Platform, ReplyTarget
from bot.usecases.status import status
from bot.web import CORE
from bot.web import metrics as metrics_view
from store.relay_models import RelayMessage
from tests.bot.test_relay_life_world import RelayWorld, build_world

ADA = "ada@acme.test"


@pytest.fixture
async def world(
    db_sessionmaker: async_sessionmaker[AsyncSession], migrated_db_url: str
) -> RelayWorld:
    return await build_world(db_sessionmaker, migrated_db_url)


async def relayed(
    world: RelayWorld,
    n: int,
    pair: tuple[str, str],
    state: str,
    received: datetime,
    latency: float | None,
    sender: int | None = None,
) -> None:
    delivered = received + timedelta(seconds=latency) if latency is not None else None
    async with world.core.transaction() as session:
        session.add(
            RelayMessage(
                source_platform=pair[0],
                source_conversation="c",
                source_message_id=f"m{n}",
                sender_person_id=sender,
                target_platform=pair[1],
                state=state,
                received_at=received,
                delivered_at=delivered,
                duplicates=0,
            )
        )


def test_quantiles_are_nearest_rank_and_nan_when_empty() -> None:
    assert metrics.quantile([0.1, 0.2, 0.3, 0.4], 0.5) == 0.2
    assert metrics.quantile([0.1, 0.2, 0.3, 0.4], 0.99) == 0.4
    assert metrics.number(metrics.quantile([], 0.5)) == "NaN"
    assert metrics.label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


async def test_metrics_report_the_relay_from_the_database(world: RelayWorld) -> None:
    await world.link(ADA)
    await world.drain()
    now = world.clock.now()
    await relayed(world, 1, ("slack", "teams"), "delivered", now - timedelta(minutes=5), 0.25)
    await relayed(world, 2, ("slack", "teams"), "delivered", now - timedelta(minutes=4), 0.75)
    await relayed(world, 3, ("slack", "teams"), "delivered", now - timedelta(hours=3), 9.0)
    await relayed(world, 4, ("teams", "slack"), "waiting", now - timedelta(minutes=1), None)
    async with world.core.transaction() as session:
        reply = Reply(ReplyTarget(Platform("slack")), Message(text="later"))
        await outbox.queue(session, world.core, "slack", reply, key="old")
    world.clock.advance(timedelta(seconds=30))

    app = web.Application()
    app[CORE] = world.core
    response = await metrics_view(make_mocked_request("GET", "/metrics", app=app))
    assert response.status == 200 and isinstance(response.text, str)
    lines = response.text.splitlines()

    assert 'mio_relay_messages{source="slack",target="teams",state="delivered"} 3' in lines
    assert 'mio_relay_messages{source="teams",target="slack",state="waiting"} 1' in lines
    assert "mio_outbox_oldest_pending_seconds 30.0" in lines
    assert "# TYPE mio_relay_latency_seconds summary" in lines
    assert "mio_relay_latency_seconds_count 2" in lines  # the one 3 h ago is outside the hour
    (total,) = [line for line in lines if line.startswith("mio_relay_latency_seconds_sum")]
    assert float(total.split()[1]) == pytest.approx(1.0, abs=0.01)
    (p50,) = [line for line in lines if line.startswith('mio_relay_latency_seconds{quantile="0.5"')]
    assert float(p50.split()[1]) == pytest.approx(0.25, abs=0.01)
    assert 'mio_relay_subscriptions{platform="teams",state="active"} 1' in lines
    assert "mio_outbox_pending 1" in lines  # the existing metrics are still there


async def _status_lines(world: RelayWorld, email: str = ADA) -> list[str]:
    person = await world.person_id(email)
    async with world.core.sessions() as session:
        message = await status(session, world.core, person)
    return [str(line) for line in message.lines]


async def test_status_shows_the_relay_readiness_per_platform(world: RelayWorld) -> None:
    await world.link(ADA)
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.expires_at is not None
    expires = sub.expires_at.strftime("%Y-%m-%d %H:%M UTC")

    (line,) = [x for x in await _status_lines(world) if x.startswith("Relay on Teams")]
    assert line == (
        f"Relay on Teams: subscribed (active, expires {expires}) · token valid · "
        "last message relayed never"
    )
    person = await world.person_id(ADA)
    sent = world.clock.now() - timedelta(minutes=2)
    await relayed(world, 1, ("teams", "slack"), "delivered", sent, 1.0, sender=person)
    (line,) = [x for x in await _status_lines(world) if x.startswith("Relay on Teams")]
    assert line.endswith(f"last message relayed {(sent + timedelta(seconds=1)):%Y-%m-%d %H:%M} UTC")

    async with world.core.transaction() as session:
        await tokens.access_revoked(
            session, world.core, AccessRevoked(Platform("teams"), "x", app_removed=True)
        )
        await tokens.token_refused(session, world.core, person, "teams")
    (line,) = [x for x in await _status_lines(world) if x.startswith("Relay on Teams")]
    assert "subscribed (failed" in line and "token refused" in line
    assert line.endswith("platform disconnected")


async def test_status_says_a_grant_without_the_relay_scopes_needs_re_link(
    world: RelayWorld,
) -> None:
    world.teams.scope = "User.Read"
    await world.link(ADA)
    await world.drain()
    lines = await _status_lines(world)
    (sync_line,) = [x for x in lines if x.startswith("✅ Teams")]
    assert sync_line.endswith("· needs re-link")
    (line,) = [x for x in lines if x.startswith("Relay on Teams")]
    assert "not subscribed" in line and "needs re-link" in line
    assert not [x for x in await _status_lines(world, "cy@acme.test") if x.startswith("Relay")]
