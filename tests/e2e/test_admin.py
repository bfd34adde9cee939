"""Reset, reminders, re-import and the admin gate, end to end."""

from __future__ import annotations

from datetime import timedelta

from bot import reminders
from store.repositories import Audit, Grants
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_consent_flow import BOB, request_consent


async def sync_bob(h: Harness) -> None:
    await request_consent(h, "slack", "zoom")
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    callback = await h.agents["zoom"].authorize(dm.links[0], BOB)
    async with h.http.get(callback) as resp:
        assert resp.status == 200
    await h.deliver()


async def test_reset_removes_syncs_and_revokes_then_allows_a_new_sync(harness: Harness) -> None:
    h = harness
    await sync_bob(h)
    seen = await h.agents["slack"].command(ADMIN, f"reset {BOB}")
    assert "mio:confirm" in seen.actions and "Reset" in seen.text  # always confirmed
    assert await h.status(BOB, "zoom") == ("synced", None)
    await h.agents["slack"].press(ADMIN, seen, "mio:confirm")
    assert await h.status(BOB, "zoom") == ("not_created", None)
    bob = await h.person(BOB)
    assert bob.primary_platform is None  # type: ignore[attr-defined]
    async with h.core.sessions() as session:
        assert await Grants(session).of_person(bob.id) == []  # type: ignore[attr-defined]
    await h.deliver()
    assert len(h.zoom.revoked) == 1
    async with h.core.sessions() as session:
        actions = [e.action for e in await Audit(session).recent(200)]
    assert "person.reset" in actions and "grant.revoked" in actions
    await request_consent(h, "slack", "zoom")  # can start over
    assert len(h.agents["slack"].dms(BOB)) == 2


async def test_cancel_leaves_everything_as_it_was(harness: Harness) -> None:
    h = harness
    await sync_bob(h)
    seen = await h.agents["slack"].command(ADMIN, f"reset {BOB}")
    assert "Cancelled" in await h.press_and_read("slack", ADMIN, seen, "mio:cancel")
    assert await h.status(BOB, "zoom") == ("synced", None)
    await h.agents["slack"].press(ADMIN, seen, "mio:confirm")  # a used confirmation is dead
    assert await h.status(BOB, "zoom") == ("synced", None)


async def test_reminders_on_schedule_then_expiry(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    assert len(h.agents["slack"].dms(BOB)) == 1
    h.clock.advance(timedelta(hours=23))
    assert await reminders.tick(h.core) == 0
    h.clock.advance(timedelta(hours=1, minutes=1))
    assert await reminders.tick(h.core) == 1
    assert await reminders.tick(h.core) == 0  # claimed once
    await h.deliver()
    dms = h.agents["slack"].dms(BOB)
    assert len(dms) == 2 and "Reminder" in dms[1].text  # a new message, so Bob is notified
    h.clock.advance(timedelta(days=2))
    await reminders.tick(h.core)
    await h.deliver()
    assert len(h.agents["slack"].dms(BOB)) == 3
    h.clock.advance(timedelta(days=4))
    await reminders.tick(h.core)
    assert await h.status(BOB, "zoom") == ("failed", "expired")
    await h.deliver()
    assert "Not linked" in h.agents["slack"].dms(BOB)[-1].text
    # The first DM's buttons no longer work.
    await h.agents["slack"].press(BOB, dms[0], "mio:consent:allow")
    assert await h.status(BOB, "zoom") == ("failed", "expired")


async def test_non_admin_is_refused_and_audited(harness: Harness) -> None:
    h = harness
    answer = await h.command("slack", "carol@acme.test", f"sync {BOB} zoom")
    assert "Only Mio admins" in answer
    async with h.core.sessions() as session:
        actions = [e.action for e in await Audit(session).recent(50)]
    assert "command.refused" in actions
    assert "Only Mio admins" not in await h.command("slack", "carol@acme.test", "help")


async def test_platform_admin_flag_counts_as_admin(harness: Harness) -> None:
    h = harness
    # Ada is in MIO_ADMINS; Grace is no admin anywhere. Ada's Zoom role makes her admin too.
    assert "Only Mio admins" in await h.command("zoom", "grace@acme.test", "users")
    assert "People" in await h.command("zoom", ADMIN, "users")


async def test_unknown_user_and_platform_get_a_sentence(harness: Harness) -> None:
    h = harness
    assert "couldn't find anyone" in await h.command("slack", ADMIN, "status nobody@acme.test")
    answer = await h.command("slack", ADMIN, f"sync {BOB} myspace")
    assert "myspace" in answer
    assert "matches" in await h.command("slack", ADMIN, "status acme")  # ambiguous → candidates


async def test_reimport_marks_vanished_accounts_inactive_and_fails_their_syncs(
    harness: Harness,
) -> None:
    from bot.directory import import_platform

    h = harness
    await sync_bob(h)
    bob_zoom = h.org.find("zoom", BOB).user_id
    del h.zoom.users[bob_zoom]
    h.clock.advance(timedelta(hours=1))
    result = await import_platform(h.core, "zoom", "test")
    assert result.failed_syncs == 1
    assert await h.status(BOB, "zoom") == ("failed", "account_inactive")


async def test_users_lists_people_with_icons(harness: Harness) -> None:
    h = harness
    await sync_bob(h)
    answer = await h.command("slack", ADMIN, "users bob")
    assert "Bob Marley" in answer and "✅" in answer


async def test_reminder_after_allow_sends_a_working_sign_in_link(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    h.clock.advance(timedelta(days=1, minutes=1))
    assert await reminders.tick(h.core) == 1
    await h.deliver()
    reminder = h.agents["slack"].dms(BOB)[-1]
    assert "Reminder" in reminder.text and "mio:consent:allow" not in reminder.actions
    callback = await h.agents["zoom"].authorize(reminder.links[0], BOB)
    async with h.http.get(callback) as resp:
        assert resp.status == 200
    assert await h.status(BOB, "zoom") == ("synced", None)


async def test_a_confirmation_for_an_unknown_action_runs_nothing(harness: Harness) -> None:
    """A pending action whose op this version does not know (an older or newer Mio stored it)
    is refused in one sentence; it must never fall through to another action, such as reset."""
    from bot.commands import run
    from bot.crypto import new_token, token_hash
    from bot.types import ButtonPress, Platform, PlatformUserId, ReplyTarget
    from store.repositories import PendingActions

    h = harness
    await sync_bob(h)
    bob = await h.person(BOB)
    ada = h.org.find("slack", ADMIN).user_id
    token = new_token()
    async with h.core.transaction() as session:
        PendingActions(session).add(
            token_hash=token_hash(token),
            actor=ADMIN,
            platform="slack",
            platform_user_id=ada,
            command={"op": "frobnicate", "person": bob.id},  # type: ignore[attr-defined]
            expires_at=h.clock.now() + timedelta(minutes=5),
            used=False,
        )
    press = ButtonPress(
        platform=Platform("slack"),
        delivery_id=new_token(),
        user_id=PlatformUserId(ada),
        action_id="mio:confirm",
        value=token,
        message=None,
        reply_to=ReplyTarget(Platform("slack")),
    )
    async with h.core.transaction() as session:
        answer = await run.confirm(session, h.core, press)
    assert str(answer.text) == run.NO_LONGER_IN_USE == "That button is no longer in use."
    assert await h.status(BOB, "zoom") == ("synced", None)  # not reset
    assert (await h.person(BOB)).primary_platform == "slack"  # type: ignore[attr-defined]


async def test_wildcards_in_a_name_are_just_characters(harness: Harness) -> None:
    """`%` and `_` are LIKE wildcards: unescaped, `status _` would match everybody."""
    h = harness
    for text in ("%", "_", "b_b"):
        answer = await h.command("slack", ADMIN, f"status {text}")
        assert "couldn't find anyone" in answer, (text, answer)
        assert "matches" not in answer
    assert "Bob Marley" in await h.command("slack", ADMIN, "users bob")
    assert "Nobody matches" in await h.command("slack", ADMIN, "users b_b")
