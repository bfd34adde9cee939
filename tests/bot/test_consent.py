"""bot.consent on a real database, with the real Zoom adapter and the Zoom stand-in's OAuth.

Bob's primary is Slack and an admin asked to link his Zoom account: he presses a button of the
consent DM (`press`), signs in on the stand-in's consent page, and the browser lands on the
callback (`oauth_callback`). Each test reads the sync row, the grants, the outbox and the audit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot import codec, consent, messages
from bot.crypto import token_hash
from bot.types import ButtonPress, Message, MessageRef, Platform, PlatformUserId, ReplyTarget
from store.repositories import Grants
from tests.bot.world import World, query, sandboxed_core

BOB_SLACK, BOB_ZOOM, CAROL_ZOOM = "U0BOB", "Zbob0000MARLEY", "Zcar0000DANVERS"


@pytest.fixture
async def world(migrated_db_url: str) -> AsyncIterator[World]:
    async with sandboxed_core(migrated_db_url) as w:
        await w.primary("bob@acme.test", "slack")
        await w.request("bob@acme.test", "zoom")
        yield w


async def consent_token(world: World) -> str:
    """The token on the consent DM's buttons, as Bob's Slack client would post it back."""
    (row,) = [r for r in await world.outbox() if r.kind == "send_dm"]
    buttons = codec.load_message(world.opened(row)["message"]).buttons
    return buttons[0].value


def pressed(
    value: str,
    action: str = messages.ALLOW,
    user: str = BOB_SLACK,
    message: MessageRef | None = None,
) -> ButtonPress:
    return ButtonPress(
        platform=Platform("slack"),
        delivery_id=f"d-{user}-{action}",
        user_id=PlatformUserId(user),
        action_id=action,
        value=value,
        message=message,
        reply_to=ReplyTarget(Platform("slack")),
    )


async def press(world: World, event: ButtonPress) -> Message | None:
    async with world.core.transaction() as session:
        return await consent.press(session, world.core, event)


async def sign_in_link(world: World) -> str:
    """Bob presses Allow; the answer's button opens Zoom's consent page."""
    step = await press(world, pressed(await consent_token(world)))
    assert step is not None
    (button,) = step.buttons
    assert button.url is not None
    return button.url


async def test_allow_replaces_the_token_and_answers_with_the_sign_in_step(world: World) -> None:
    token = await consent_token(world)
    url = await sign_in_link(world)

    sync = await world.sync("bob@acme.test", "zoom")
    assert sync.allowed_at == world.clock.now() and sync.status == "pending"
    assert sync.token_hash != token_hash(token)  # the DM's buttons are spent
    assert sync.token_hash == token_hash(query(url)["state"])  # the state is the new token
    assert len(await world.audit("consent.allowed")) == 1
    again = await press(world, pressed(token))
    assert again is not None and again.text == consent.VERDICT_TEXT[consent.PressVerdict.STALE]


async def test_allow_on_a_known_dm_edits_it_instead_of_answering(world: World) -> None:
    ref = MessageRef(Platform("slack"), "D0BOB", "111.222")
    assert await press(world, pressed(await consent_token(world), message=ref)) is None

    sync = await world.sync("bob@acme.test", "zoom")
    assert sync.dm_ref is not None and codec.load_ref(sync.dm_ref) == ref
    (row,) = [r for r in await world.outbox() if r.kind == "update_dm"]
    assert row.idempotency_key.startswith(f"authorize:{sync.id}:")
    assert "sign in to Zoom" in codec.load_message(world.opened(row)["message"]).text


async def test_someone_else_pressing_changes_nothing(world: World) -> None:
    token = await consent_token(world)
    answer = await press(world, pressed(token, user="U0CAROL"))

    assert answer is not None
    assert answer.text == consent.VERDICT_TEXT[consent.PressVerdict.WRONG_PERSON]
    sync = await world.sync("bob@acme.test", "zoom")
    assert sync.token_hash == token_hash(token) and sync.allowed_at is None
    (refused,) = await world.audit("consent.press_refused")
    assert refused.actor == "slack:U0CAROL" and refused.detail["known_account"] is True


async def test_an_expired_button_is_refused(world: World) -> None:
    world.clock.advance(world.core.settings.pending_expires_after + timedelta(seconds=1))
    answer = await press(world, pressed(await consent_token(world)))
    assert answer is not None
    assert answer.text == consent.VERDICT_TEXT[consent.PressVerdict.EXPIRED]
    assert (await world.sync("bob@acme.test", "zoom")).status == "pending"


async def test_decline_fails_the_sync(world: World) -> None:
    assert await press(world, pressed(await consent_token(world), messages.DECLINE)) is None
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason) == ("failed", "declined")
    assert (await world.audit("sync.failed"))[0].actor == f"slack:{BOB_SLACK}"


async def test_signing_in_as_the_person_links_the_account(world: World) -> None:
    location = await world.zoom.authorize(await sign_in_link(world), BOB_ZOOM)
    answer = query(location)

    result = await consent.oauth_callback(world.core, "zoom", answer["code"], answer["state"], None)

    assert (result.ok, result.status, result.title) == (True, 200, "Linked to Zoom")
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason, sync.next_due_at) == ("synced", None, None)
    async with world.core.sessions() as session:
        (grant,) = await Grants(session).of_person(sync.person_id, "zoom")
    assert grant.platform_user_id == BOB_ZOOM
    assert world.core.vault.open(grant.tokens)["access_token"]
    assert len(await world.audit("sync.synced")) == 1
    # The state worked once: a reload of the callback finds it spent.
    reload = await consent.oauth_callback(world.core, "zoom", answer["code"], answer["state"], None)
    assert (reload.ok, reload.status) == (False, 400)


async def test_signing_in_as_someone_else_revokes_that_grant_and_fails(world: World) -> None:
    location = await world.zoom.authorize(await sign_in_link(world), CAROL_ZOOM)
    answer = query(location)

    result = await consent.oauth_callback(world.core, "zoom", answer["code"], answer["state"], None)

    assert (result.ok, result.status) == (False, 403)
    assert "Bob Marley's Zoom account" in result.sentence
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason) == ("failed", "identity_mismatch")
    (revoke,) = [r for r in await world.outbox() if r.kind == "revoke"]
    assert revoke.payload == {"person_id": sync.person_id}
    assert world.core.vault.open(revoke.secret or "")["user_id"] == CAROL_ZOOM
    async with world.core.sessions() as session:
        assert await Grants(session).of_person(sync.person_id) == []


async def test_a_declined_sign_in_fails_the_sync(world: World) -> None:
    location = await world.zoom.authorize(await sign_in_link(world), BOB_ZOOM, approve=False)
    answer = query(location)
    assert answer["error"] == "access_denied"

    state, error = answer["state"], answer["error"]
    result = await consent.oauth_callback(world.core, "zoom", None, state, error)

    assert (result.ok, result.status) == (False, 400) and "access_denied" in result.sentence
    sync = await world.sync("bob@acme.test", "zoom")
    assert (sync.status, sync.reason) == ("failed", "oauth_failed")


async def test_a_code_the_platform_refuses_fails_the_sync(world: World) -> None:
    state = query(await sign_in_link(world))["state"]
    result = await consent.oauth_callback(world.core, "zoom", "not-a-code", state, None)
    assert (result.ok, result.status) == (False, 502)
    assert (await world.sync("bob@acme.test", "zoom")).reason == "oauth_failed"


async def test_an_expired_sign_in_link_fails_the_sync(world: World) -> None:
    state = query(await sign_in_link(world))["state"]
    world.clock.advance(world.core.settings.pending_expires_after + timedelta(seconds=1))
    result = await consent.oauth_callback(world.core, "zoom", "code", state, None)
    assert (result.ok, result.title) == (False, "Link expired")
    assert (await world.sync("bob@acme.test", "zoom")).reason == "expired"


async def test_callbacks_that_name_nothing_valid_change_nothing(world: World) -> None:
    state = query(await sign_in_link(world))["state"]
    unknown = await consent.oauth_callback(world.core, "myspace", "c", state, None)
    missing = await consent.oauth_callback(world.core, "zoom", "c", None, None)
    wrong_platform = await consent.oauth_callback(world.core, "slack", "c", state, None)
    forged = await consent.oauth_callback(world.core, "zoom", "c", "forged", None)

    assert [r.status for r in (unknown, missing, wrong_platform, forged)] == [404, 400, 400, 400]
    sync = await world.sync("bob@acme.test", "zoom")
    assert sync.status == "pending" and not sync.token_used
