"""Subscriptions live as long as the sync (issue 10, "What must hold" 4): made when a consent
sync becomes synced, removed before the token is revoked at unsync and reset, renewed by one
process before they expire, repaired at start-up, and cared for on Graph lifecycle notices."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import lifecycle, reminders
from bot.core import Core
from bot.relay import subscriptions
from bot.types import DmSeen, Platform, PlatformUserId, SubscriptionNotice
from store.db import make_engine, make_sessionmaker
from store.relay_models import RelaySubscription
from store.repositories import Subscriptions
from tests.bot.test_relay_life_world import (
    ACTOR,
    LIFETIME,
    RelayWorld,
    build_world,
    make_core,
)

ADA = "ada@acme.test"


@pytest.fixture
async def world(
    db_sessionmaker: async_sessionmaker[AsyncSession], migrated_db_url: str
) -> RelayWorld:
    return await build_world(db_sessionmaker, migrated_db_url)


def test_renewal_is_due_at_a_quarter_of_the_lifetime_or_30_minutes_before_expiry() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    three_days = now + timedelta(days=3)
    assert subscriptions.renew_at(now, three_days) == three_days - timedelta(hours=18)
    hour = now + timedelta(hours=1)
    assert subscriptions.renew_at(now, hour) == hour - timedelta(minutes=30)
    assert subscriptions.renew_at(now, now + timedelta(minutes=10)) == now  # renew at once
    assert subscriptions.renew_at(now, None) is None  # Slack, Zoom: nothing expires


async def test_a_consent_sync_that_becomes_synced_is_subscribed(world: RelayWorld) -> None:
    await world.link(ADA)
    person = await world.person_id(ADA)
    (row,) = await world.outbox("relay_subscribe")
    assert row.ordering_key == f"grant:{person}:teams" and row.platform == "teams"

    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.state == "active" and sub.platform_user_id == "T_ADA"
    assert set(world.teams.subscriptions) == {sub.external_id}
    now = world.clock.now()
    assert sub.expires_at == now + LIFETIME
    assert sub.next_renew_at == now + LIFETIME - LIFETIME / 4
    assert len(await world.audit("relay.subscribed")) == 1


async def test_a_represented_sync_has_nothing_to_subscribe(world: RelayWorld) -> None:
    person = await world.person_id("cy@acme.test")
    async with world.core.transaction() as session:
        await lifecycle.request(session, world.core, ACTOR, person, "teams")
    assert await world.outbox("relay_subscribe") == []


@pytest.mark.parametrize("how", ["unsync", "reset"])
async def test_the_subscription_is_removed_before_the_token_is_revoked(
    world: RelayWorld, how: str
) -> None:
    await world.link(ADA)
    await world.drain()
    person = await world.person_id(ADA)
    async with world.core.transaction() as session:
        if how == "unsync":
            await lifecycle.unsync(session, world.core, ACTOR, person, "teams")
        else:
            await lifecycle.reset(session, world.core, ACTOR, person)

    rows = [r for r in await world.outbox() if r.state == "pending"]
    assert [r.kind for r in rows] == ["relay_unsubscribe", "revoke"]
    assert {r.ordering_key for r in rows} == {f"grant:{person}:teams"}
    assert await world.subscription(ADA) is None
    await world.drain()
    calls = [c[0] for c in world.log if c[0] in ("unsubscribe", "revoke")]
    assert calls == ["unsubscribe", "revoke"]
    assert world.teams.subscriptions == {}


async def test_unsync_before_the_subscribe_ran_subscribes_nothing(world: RelayWorld) -> None:
    await world.link(ADA)
    person = await world.person_id(ADA)
    async with world.core.transaction() as session:
        await lifecycle.unsync(session, world.core, ACTOR, person, "teams")
    await world.drain()
    assert world.teams.subscriptions == {}
    (skipped,) = await world.audit("relay.subscribe_skipped")
    assert skipped.detail["why"] == "not synced"


async def test_two_processes_renew_a_due_subscription_once(
    world: RelayWorld, migrated_db_url: str
) -> None:
    await world.link(ADA)
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.next_renew_at is not None
    world.clock.advance(sub.next_renew_at - world.clock.now() + timedelta(seconds=1))
    engine = make_engine(migrated_db_url)
    try:
        other = make_core(
            make_sessionmaker(engine),
            migrated_db_url,
            world.clock,
            world.core.settings.secret_key.value,
            world.log,
        )
        claimed = await asyncio.gather(
            subscriptions.renew_due(world.core), subscriptions.renew_due(other)
        )
    finally:
        await engine.dispose()

    assert sorted(claimed) == [0, 1]
    (renewal,) = [r for r in await world.outbox("relay_subscribe") if r.payload["renew"]]
    assert renewal.ordering_key is not None
    await world.drain()
    assert [c[0] for c in world.log].count("renew") == 1
    renewed = await world.subscription(ADA)
    assert renewed is not None and renewed.expires_at == world.clock.now() + LIFETIME
    assert renewed.next_renew_at is not None and renewed.next_renew_at > world.clock.now()
    assert await subscriptions.renew_due(world.core) == 0


async def test_a_claim_moves_the_renewal_forward_so_a_second_claim_finds_nothing(
    world: RelayWorld,
) -> None:
    await world.link(ADA)
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.next_renew_at is not None
    now = sub.next_renew_at
    async with world.core.transaction() as session:
        (won,) = await Subscriptions(session).claim_due(now, now + timedelta(minutes=10), 10)
        assert won.id == sub.id and won.next_renew_at == now + timedelta(minutes=10)
    async with world.core.transaction() as session:
        assert await Subscriptions(session).claim_due(now, now + timedelta(minutes=10), 10) == []


async def _forget_subscriptions(core: Core) -> None:
    """As if the sync had been made before the relay existed."""
    async with core.transaction() as session:
        await session.execute(delete(RelaySubscription))


async def test_start_up_repair_subscribes_synced_people_once_a_day(world: RelayWorld) -> None:
    sync_id = await world.link(ADA)
    await world.drain()
    await _forget_subscriptions(world.core)

    assert await reminders.repair_subscriptions(world.core) == 1
    assert await reminders.repair_subscriptions(world.core) == 1  # a second boot that day
    repairs = [r for r in await world.outbox("relay_subscribe") if "repair" in r.idempotency_key]
    assert [r.idempotency_key for r in repairs] == [
        f"subscribe:repair:{sync_id}:{world.clock.now().date().isoformat()}"
    ]
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.state == "active"
    assert ("repair", "teams", "T_ADA") not in world.log  # the old one was unknown: made anew


async def test_repair_asks_a_grant_without_the_relay_scopes_to_link_again_once(
    world: RelayWorld,
) -> None:
    world.teams.scope = "User.Read offline_access"  # a grant from before the relay
    await world.link(ADA)
    await world.drain()
    assert world.teams.subscriptions == {}  # skipped: the grant cannot read chats
    dms_before = len(world.slack.dms)

    assert await reminders.repair_subscriptions(world.core) == 0
    assert await reminders.repair_subscriptions(world.core) == 0
    await world.drain()
    relinks = world.slack.dms[dms_before:]
    assert len(relinks) == 1 and "Link your Teams account again" in str(relinks[0][1].title)
    assert len(await world.audit("relay.relink_asked")) == 1
    assert await world.sync_state(ADA) == ("synced", None)

    world.teams.scope = " ".join(sorted(world.teams.relay_scopes))
    assert await world.press_and_sign_in(relinks[0][1].buttons[0].value, ADA, "teams")
    assert len(await world.audit("sync.relinked")) == 1
    await world.drain()
    assert len(world.teams.subscriptions) == 1


def _notice(what: str, subscription_id: str, n: int = 1) -> SubscriptionNotice:
    return SubscriptionNotice(
        Platform("teams"), f"life-{what}-{n}", PlatformUserId("T_ADA"), subscription_id, what
    )


async def _handle(world: RelayWorld, event: SubscriptionNotice) -> None:
    async with world.core.transaction() as session:
        await subscriptions.notice(session, world.core, event)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[DmSeen]:
    """relay-core's `bot.relay.capture.seen`, recording what a backfill hands it."""
    seen: list[DmSeen] = []

    async def record(session: AsyncSession, core: Core, event: DmSeen) -> None:
        seen.append(event)

    module = types.ModuleType("bot.relay.capture")
    module.seen = record  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.relay.capture", module)
    return seen


async def test_reauthorization_required_renews_the_subscription(world: RelayWorld) -> None:
    await world.link(ADA)
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None
    world.clock.advance(timedelta(hours=2))
    await _handle(world, _notice("reauthorize", sub.external_id))
    await world.drain()
    assert ("renew", "teams", "T_ADA") in world.log
    renewed = await world.subscription(ADA)
    assert renewed is not None and renewed.expires_at == world.clock.now() + LIFETIME


async def test_removed_subscribes_again_then_backfills_the_gap(
    world: RelayWorld, captured: list[DmSeen]
) -> None:
    await world.link(ADA)
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None
    start = world.clock.now()
    world.teams.subscriptions.clear()  # Graph removed it
    world.teams.write("T_BOB", "T_ADA", "lost while removed", start + timedelta(minutes=5))
    world.clock.advance(timedelta(minutes=10))

    await _handle(world, _notice("removed", sub.external_id))
    await world.drain()
    made = await world.subscription(ADA)
    assert made is not None and made.external_id != sub.external_id
    assert [e.message_id for e in captured] == [f"msg-{(start + timedelta(minutes=5)).timestamp()}"]
    assert captured[0].received_at == world.clock.now()
    assert made.last_seen_at == start + timedelta(minutes=5)


async def test_missed_backfills_from_the_last_message_seen(
    world: RelayWorld, captured: list[DmSeen]
) -> None:
    await world.link(ADA)
    await world.drain()
    start = world.clock.now()
    world.teams.write("T_BOB", "T_ADA", "seen already", start + timedelta(minutes=1))
    async with world.core.transaction() as session:
        await Subscriptions(session).seen("teams", "T_ADA", start + timedelta(minutes=1))
    world.teams.write("T_BOB", "T_ADA", "missed", start + timedelta(minutes=2))
    sub = await world.subscription(ADA)
    assert sub is not None

    await _handle(world, _notice("missed", sub.external_id))
    await _handle(world, _notice("missed", sub.external_id))  # Graph redelivers: same row
    await world.drain()
    assert [e.prose and e.prose.plain() for e in captured] == ["missed"]
    assert len(await world.outbox("relay_backfill")) == 1


async def test_a_notice_for_an_unknown_subscription_is_only_audited(world: RelayWorld) -> None:
    await _handle(world, _notice("missed", "sub-nobody"))
    assert await world.outbox("relay_backfill") == []
    assert len(await world.audit("relay.notice_unknown")) == 1


def test_the_worker_knows_the_relay_kinds() -> None:
    from bot import delivery  # what a worker process imports
    from bot.outbox_kinds import KINDS

    assert delivery.Worker is not None
    assert KINDS["relay_subscribe"] is subscriptions.Subscribe
    assert KINDS["relay_unsubscribe"] is subscriptions.Unsubscribe
    assert KINDS["relay_backfill"] is subscriptions.Backfill


async def test_the_scheduler_repairs_at_start_then_renews_when_due(world: RelayWorld) -> None:
    await world.link(ADA)
    await world.drain()
    await _forget_subscriptions(world.core)
    task = asyncio.create_task(reminders.relay_forever(world.core, timedelta(milliseconds=20)))
    try:
        for _ in range(200):
            if any("repair" in r.idempotency_key for r in await world.outbox("relay_subscribe")):
                break
            await asyncio.sleep(0.01)
        await world.drain()
        sub = await world.subscription(ADA)
        assert sub is not None and sub.next_renew_at is not None
        world.clock.advance(sub.next_renew_at - world.clock.now())
        for _ in range(200):
            if any(r.payload.get("renew") for r in await world.outbox("relay_subscribe")):
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert any(r.payload.get("renew") for r in await world.outbox("relay_subscribe"))
