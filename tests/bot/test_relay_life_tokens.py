"""Tokens that stop working are noticed (issue 10, "What must hold" 6): a refused user token
fails the sync as `token_revoked` with one re-consent DM, and what waited for the person goes
out when they link again; an uninstalled app disconnects its platform until it returns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.directory import import_platform
from bot.outbox_kinds import Reply
from bot.relay import tokens
from bot.types import AccessRevoked, Message, Platform, PlatformUserId, ReplyTarget
from store.models import OutboxItem
from tests.bot.test_relay_life_world import RelayWorld, build_world

ADA = "ada@acme.test"


@pytest.fixture
async def world(
    db_sessionmaker: async_sessionmaker[AsyncSession], migrated_db_url: str
) -> RelayWorld:
    return await build_world(db_sessionmaker, migrated_db_url)


async def refuse(world: RelayWorld, email: str = ADA) -> None:
    person = await world.person_id(email)
    async with world.core.transaction() as session:
        await tokens.token_refused(session, world.core, person, "teams")


async def ready(world: RelayWorld, email: str = ADA) -> bool:
    person = await world.person_id(email)
    async with world.core.sessions() as session:
        return await tokens.relay_ready(session, world.core, person, "teams")


async def hold(world: RelayWorld, sync_id: int, text: str) -> int:
    """A message that waits, sealed, for the person to link again (as relay-core holds it)."""
    target = ReplyTarget(Platform("slack"), {"channel": "D-U_BOB"})
    async with world.core.transaction() as session:
        await outbox.queue(
            session, world.core, "slack", Reply(target, Message(text=text)),
            key=f"held:{text}", sync_id=sync_id, ordering_key="relay:1:2",
        )  # fmt: skip
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.idempotency_key == f"held:{text}")
            .values(state="waiting", next_attempt_at=world.clock.now() + timedelta(hours=24))
        )
    (row,) = [r for r in await world.outbox("reply") if r.idempotency_key == f"held:{text}"]
    return row.id


async def test_a_refused_token_fails_the_sync_and_asks_once_to_link_again(
    world: RelayWorld,
) -> None:
    await world.link(ADA)
    await world.drain()
    assert await ready(world)
    before = len(world.slack.dms)

    await refuse(world)
    await refuse(world)  # every waiting message and the subscription report it: one DM
    await world.drain()

    assert await world.sync_state(ADA) == ("failed", "token_revoked")
    (failed,) = await world.audit("sync.failed")
    assert failed.detail["reason"] == "token_revoked"
    (dm,) = world.slack.dms[before:]
    assert dm[0].user_id == "U_ADA" and "Link your Teams account again" in str(dm[1].title)
    assert "stopped working" in str(dm[1].lines[0])
    sub = await world.subscription(ADA)
    assert sub is not None and sub.state == "failed" and sub.last_error == "token_revoked"
    assert not await ready(world)


async def test_messages_held_for_a_refused_token_go_out_after_consent(
    world: RelayWorld,
) -> None:
    sync_id = await world.link(ADA)
    await world.drain()
    await refuse(world)
    await world.drain()
    held = [await hold(world, sync_id, "first"), await hold(world, sync_id, "second")]
    other = await hold(world, sync_id + 1000, "someone else's")

    token = world.slack.dms[-1][1].buttons[0].value
    assert await world.press_and_sign_in(token, ADA, "teams")

    assert await world.sync_state(ADA) == ("synced", None)
    rows = {r.id: r for r in await world.outbox("reply")}
    assert [rows[i].state for i in held] == ["pending", "pending"]
    assert all(rows[i].next_attempt_at == world.clock.now() for i in held)
    assert rows[other].state == "waiting"
    subscribes = await world.outbox("relay_subscribe")
    assert len(subscribes) == 2 and subscribes[-1].state == "pending"
    await world.drain()
    sub = await world.subscription(ADA)
    assert sub is not None and sub.state == "active"
    assert await ready(world)


async def test_a_subscribe_refused_by_the_platform_fails_the_sync(world: RelayWorld) -> None:
    world.teams.refused.add("tok-T_ADA-0")  # revoked before the first subscribe ran
    await world.link(ADA)
    await world.drain()
    assert await world.sync_state(ADA) == ("failed", "token_revoked")
    assert world.teams.subscriptions == {}


async def test_tokens_revoked_on_the_platform_fail_each_person(world: RelayWorld) -> None:
    await world.link(ADA)
    await world.drain()
    event = AccessRevoked(
        Platform("teams"), "revoked-1", (PlatformUserId("T_ADA"), PlatformUserId("T_NOBODY"))
    )
    async with world.core.transaction() as session:
        await tokens.access_revoked(session, world.core, event)
    assert await world.sync_state(ADA) == ("failed", "token_revoked")
    async with world.core.sessions() as session:
        assert not await tokens.disconnected(session, "teams")


async def test_an_uninstalled_app_disconnects_the_platform_until_it_returns(
    world: RelayWorld,
) -> None:
    await world.link(ADA)
    async with world.core.transaction() as session:
        event = AccessRevoked(Platform("teams"), "gone-1", app_removed=True)
        await tokens.access_revoked(session, world.core, event)
    async with world.core.sessions() as session:
        assert await tokens.disconnected(session, "teams")
        assert not await tokens.disconnected(session, "slack")
    assert not await ready(world)
    assert len(await world.audit("platform.disconnected")) == 1

    await world.drain()  # the subscribe waits: nothing is sent to a disconnected platform
    assert world.teams.subscriptions == {}
    (row,) = await world.outbox("relay_subscribe")
    assert (row.state, row.attempts) == ("pending", 0)  # not even tried

    await import_platform(world.core, "teams", "test")  # it answers again
    async with world.core.sessions() as session:
        assert not await tokens.disconnected(session, "teams")
    assert await ready(world)


async def test_a_grant_without_the_relay_scopes_is_not_ready(world: RelayWorld) -> None:
    world.teams.scope = "User.Read"
    await world.link(ADA)
    assert await world.sync_state(ADA) == ("synced", None)
    assert not await ready(world)  # relayed through the bot until they link again
    assert not await ready(world, "cy@acme.test")  # no sync there at all


async def test_a_grant_about_to_expire_is_refreshed_and_kept(world: RelayWorld) -> None:
    await world.link(ADA)
    world.clock.advance(timedelta(minutes=58))  # the fake's access tokens last an hour
    person = await world.person_id(ADA)
    grant = await tokens.fresh_grant(world.core, person, "teams")
    assert grant is not None and grant.access_token == "tok-T_ADA-0-r"
    assert ("refresh", "teams", "T_ADA") in world.log
    again = await tokens.fresh_grant(world.core, person, "teams")
    assert again is not None and again.access_token == "tok-T_ADA-0-r"
    assert world.log.count(("refresh", "teams", "T_ADA")) == 1
