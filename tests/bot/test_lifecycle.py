"""bot.lifecycle on a real database: what a request, a failure, an unsync and a reset leave.

Each service runs in the caller's transaction and queues its platform calls in the outbox, so
the assertions read sync rows, outbox rows and audit entries rather than platform traffic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot import codec, lifecycle, messages
from bot.crypto import token_hash
from bot.sync import Event, Status, SyncKind, SyncRefused
from store.repositories import Syncs
from tests.bot.world import World, sandboxed_core


@pytest.fixture
async def world(migrated_db_url: str) -> AsyncIterator[World]:
    async with sandboxed_core(migrated_db_url) as w:
        yield w


async def test_request_with_an_account_there_asks_for_consent_on_the_primary(
    world: World,
) -> None:
    await world.primary("bob@acme.test", "slack")
    said = await world.request("bob@acme.test", "zoom")

    assert "pending" in said and "Zoom" in said
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.kind, sync.primary_platform) == ("pending", "consent", "slack")
    assert sync.token_hash and not sync.token_used and sync.next_due_at is not None
    assert sync.token_expires_at == world.clock.now() + world.core.settings.pending_expires_after
    (row,) = await world.outbox()
    assert (row.kind, row.platform, row.sync_id) == ("send_dm", "slack", sync.id)
    assert row.idempotency_key == f"consent:{sync.id}:{sync.token_hash[:16]}"
    assert codec.load_user(row.payload["user"]).user_id == "U0BOB"
    message = codec.load_message(world.opened(row)["message"])
    # The DM's buttons carry the token whose hash the row keeps; the token itself is not stored.
    assert {b.action_id for b in message.buttons} == {messages.ALLOW, messages.DECLINE}
    assert {token_hash(b.value) for b in message.buttons} == {sync.token_hash}
    (entry,) = await world.audit("sync.requested")
    assert entry.detail["platform"] == "zoom" and entry.detail["kind"] == "consent"


async def test_request_without_an_account_there_represents_the_person_at_once(
    world: World,
) -> None:
    await world.primary("dan@acme.test", "slack")  # Dan has no Zoom account
    said = await world.request("dan@acme.test", "zoom")

    assert "represented" in said
    sync = await world.sync("dan@acme.test", "zoom")
    assert (sync.status, sync.kind) == (Status.SYNCED, SyncKind.REPRESENTED)
    assert sync.token_hash is None and sync.next_due_at is None
    assert await world.outbox() == []  # nobody to ask


async def test_request_to_the_primary_itself_is_refused_and_changes_nothing(
    world: World,
) -> None:
    await world.primary("bob@acme.test", "slack")
    with pytest.raises(SyncRefused):
        await world.request("bob@acme.test", "slack")
    async with world.core.sessions() as session:
        assert await Syncs(session).of_person(await world.person_id("bob@acme.test")) == []
    assert await world.outbox() == []


async def test_a_new_request_after_a_failure_starts_afresh(world: World) -> None:
    await world.primary("bob@acme.test", "slack")
    await world.request("bob@acme.test", "zoom")
    first = await world.sync("bob@acme.test", "zoom")
    async with world.core.transaction() as session:
        assert await lifecycle.fail_sync(session, world.core, first.id, Event.DECLINED)
    failed = await world.sync("bob@acme.test", "zoom")
    assert (failed.status, failed.reason, failed.token_used) == ("failed", "declined", True)

    await world.request("bob@acme.test", "zoom")
    again = await world.sync("bob@acme.test", "zoom")
    assert again.id == first.id
    assert (again.status, again.reason, again.reminders_sent) == ("pending", None, 0)
    assert again.token_hash != first.token_hash and not again.token_used
    keys = [row.idempotency_key for row in await world.outbox()]
    assert len(keys) == 2 and len(set(keys)) == 2  # a second DM, not taken for a retry


async def test_fail_sync_refuses_what_cannot_fail_and_edits_the_dm_it_can(
    world: World,
) -> None:
    await world.primary("bob@acme.test", "slack")
    await world.request("bob@acme.test", "zoom")
    sync = await world.sync("bob@acme.test", "zoom")
    ref = {"platform": "slack", "channel_id": "D1", "message_id": "1.2", "data": {}}
    async with world.core.transaction() as session:
        await lifecycle.remember_dm(session, sync.id, ref)
    async with world.core.transaction() as session:
        assert await lifecycle.fail_sync(session, world.core, sync.id, Event.EXPIRED)
    async with world.core.transaction() as session:  # failed is final for EXPIRED
        assert not await lifecycle.fail_sync(session, world.core, sync.id, Event.EXPIRED)
        assert not await lifecycle.fail_sync(session, world.core, sync.id + 999, Event.EXPIRED)

    rows = await world.outbox()
    assert [r.kind for r in rows] == ["send_dm", "update_dm"]
    assert codec.load_ref(rows[1].payload["ref"]).message_id == "1.2"
    assert "expired" in codec.load_message(world.opened(rows[1])["message"]).text.lower()
    assert len(await world.audit("sync.failed")) == 1


async def test_unsync_withdraws_the_open_request_and_reset_clears_the_primary(
    world: World,
) -> None:
    person_id = await world.primary("bob@acme.test", "slack")
    await world.request("bob@acme.test", "zoom")
    sync = await world.sync("bob@acme.test", "zoom")
    ref = {"platform": "slack", "channel_id": "D1", "message_id": "1.2", "data": {}}
    async with world.core.transaction() as session:
        await lifecycle.remember_dm(session, sync.id, ref)
    async with world.core.transaction() as session:
        said = await lifecycle.unsync(session, world.core, "slack:U0ADA", person_id, "zoom")
    assert said.startswith("Unsynced Bob Marley")
    async with world.core.sessions() as session:
        assert await Syncs(session).get(person_id, "zoom") is None
    assert [r.kind for r in await world.outbox()] == ["send_dm", "update_dm"]
    async with world.core.transaction() as session:
        again = await lifecycle.unsync(session, world.core, "slack:U0ADA", person_id, "zoom")
    assert "nothing to undo" in again

    async with world.core.transaction() as session:
        await lifecycle.reset(session, world.core, "slack:U0ADA", person_id)
    async with world.core.sessions() as session:
        person, accounts, syncs = await lifecycle.load(session, person_id)
    assert person.primary_platform is None and syncs == []
    assert {a.platform for a in accounts} == {"slack", "zoom"}  # imported accounts stay


async def test_load_of_a_missing_person_raises_not_found(world: World) -> None:
    async with world.core.sessions() as session:
        with pytest.raises(lifecycle.NotFound):
            await lifecycle.load(session, 10_000)
