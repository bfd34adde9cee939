"""bot.reminders on a real database: what is due, what a round sends, and when the loop wakes.

Bob's primary is Slack and a Zoom link waits for his consent; the clock moves instead of the
tests sleeping (reminders after 1 and 3 days, expiry after 7, the defaults).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot import codec, consent, messages, reminders
from bot.crypto import token_hash
from bot.types import ButtonPress, Platform, PlatformUserId, ReplyTarget
from store.models import Account, OutboxItem
from tests.bot.world import World, query, sandboxed_core

DAY = timedelta(days=1)


@pytest.fixture
async def world(migrated_db_url: str) -> AsyncIterator[World]:
    async with sandboxed_core(migrated_db_url) as w:
        await w.primary("bob@acme.test", "slack")
        await w.request("bob@acme.test", "zoom")
        yield w


async def reminders_sent(world: World) -> list[OutboxItem]:
    return [r for r in await world.outbox() if r.idempotency_key.startswith("remind:")]


def test_wake_delay_is_the_earliest_due_time_capped_by_the_poll() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    poll = timedelta(minutes=1)
    assert reminders.wake_delay(now, None, poll) == 60.0
    assert reminders.wake_delay(now, now + timedelta(seconds=5), poll) == 5.0
    assert reminders.wake_delay(now, now + DAY, poll) == 60.0
    assert reminders.wake_delay(now, now - DAY, poll) == 0.0  # overdue: at once, never negative


async def test_nothing_is_sent_before_the_first_reminder_is_due(world: World) -> None:
    sync = await world.sync("bob@acme.test", "zoom")
    assert await reminders.earliest_due(world.core) == sync.next_due_at
    assert sync.next_due_at == world.clock.now() + DAY

    world.clock.advance(DAY - timedelta(seconds=1))
    assert await reminders.tick(world.core) == 0
    assert await reminders_sent(world) == []


async def test_a_due_reminder_is_sent_once_with_a_fresh_token(world: World) -> None:
    before = await world.sync("bob@acme.test", "zoom")
    world.clock.advance(DAY)

    assert await reminders.tick(world.core) == 1
    assert await reminders.tick(world.core) == 0  # the same moment again sends nothing more

    sync = await world.sync("bob@acme.test", "zoom")
    assert sync.reminders_sent == 1 and sync.next_due_at == before.requested_at + 3 * DAY
    assert sync.token_hash != before.token_hash  # the first DM's buttons stop working
    (row,) = await reminders_sent(world)
    assert (row.kind, row.platform, row.sync_id) == ("send_dm", "slack", sync.id)
    assert row.idempotency_key.endswith(":1")
    message = codec.load_message(world.opened(row)["message"])
    assert message.text.startswith("Reminder: ")
    assert {token_hash(b.value) for b in message.buttons} == {sync.token_hash}
    (entry,) = await world.audit("sync.reminded")
    assert entry.actor == "system" and entry.detail["reminder"] == 1


async def test_after_an_outage_one_catch_up_reminder_replaces_the_missed_ones(
    world: World,
) -> None:
    world.clock.advance(3 * DAY + timedelta(hours=1))
    assert await reminders.tick(world.core) == 1
    (row,) = await reminders_sent(world)
    assert row.idempotency_key.endswith(":2")
    assert (await world.sync("bob@acme.test", "zoom")).reminders_sent == 2


async def test_a_request_nobody_answers_expires(world: World) -> None:
    world.clock.advance(7 * DAY)
    assert await reminders.tick(world.core) == 1
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason, sync.next_due_at) == ("failed", "expired", None)
    assert await reminders.earliest_due(world.core) is None  # nothing pending any more


async def test_after_allow_the_reminder_is_a_fresh_sign_in_link(world: World) -> None:
    (dm,) = await world.outbox()
    token = codec.load_message(world.opened(dm)["message"]).buttons[0].value
    press = ButtonPress(
        Platform("slack"),
        "d1",
        PlatformUserId("U0BOB"),
        messages.ALLOW,
        token,
        None,
        ReplyTarget(Platform("slack")),
    )
    async with world.core.transaction() as session:
        assert await consent.press(session, world.core, press) is not None
    world.clock.advance(DAY)

    assert await reminders.tick(world.core) == 1
    (row,) = await reminders_sent(world)
    (button,) = codec.load_message(world.opened(row)["message"]).buttons
    assert button.url is not None
    sync = await world.sync("bob@acme.test", "zoom")
    assert token_hash(query(button.url)["state"]) == sync.token_hash


async def test_a_reminder_for_someone_no_longer_on_the_primary_fails_instead(
    world: World,
) -> None:
    async with world.core.transaction() as session:
        await session.execute(
            update(Account).where(Account.platform_user_id == "U0BOB").values(is_active=False)
        )
    world.clock.advance(DAY)

    assert await reminders.tick(world.core) == 1
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason) == ("failed", "account_inactive")
    assert await reminders_sent(world) == []


async def test_the_loop_handles_due_work_then_sleeps_until_the_next_due_time(
    world: World,
) -> None:
    world.clock.advance(DAY)
    slept: list[float] = []

    async def sleep(ready: asyncio.Event, seconds: float) -> None:
        assert ready is world.core.reminders_ready
        slept.append(seconds)
        raise asyncio.CancelledError  # one round is enough

    with pytest.raises(asyncio.CancelledError):
        await reminders.forever(world.core, poll=timedelta(days=30), sleep=sleep)

    assert len(await reminders_sent(world)) == 1
    assert slept == [(2 * DAY).total_seconds()]  # the second reminder, at 3 days
