"""What only some platforms do, through the real app: Teams installs and blocks, Webex replays."""

from __future__ import annotations

from sandbox.teams import TeamsSandbox
from sandbox.webex import WebexSandbox
from store.repositories import Audit
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_consent_flow import BOB, request_consent


def teams(h: Harness) -> TeamsSandbox:
    service = h.sandbox.services["teams"]
    assert isinstance(service, TeamsSandbox)
    return service


def webex(h: Harness) -> WebexSandbox:
    service = h.sandbox.services["webex"]
    assert isinstance(service, WebexSandbox)
    return service


async def test_teams_user_who_never_installed_the_app_still_gets_the_dm(harness: Harness) -> None:
    h = harness
    bob = h.org.find("teams", BOB).user_id
    assert bob not in teams(h).installed
    await request_consent(h, "teams", "zoom")
    assert bob in teams(h).installs  # installed for him through Graph first
    (dm,) = h.agents["teams"].dms(BOB)
    assert "mio:consent:allow" in dm.actions


async def test_teams_user_who_blocked_the_bot_fails_as_undeliverable(harness: Harness) -> None:
    h = harness
    teams(h).block(h.org.find("teams", BOB).user_id)
    await request_consent(h, "teams", "zoom")
    assert await h.status(BOB, "zoom") == ("failed", "undeliverable")


async def test_replayed_webex_press_changes_nothing(harness: Harness) -> None:
    h = harness
    await request_consent(h, "webex", "zoom")
    (dm,) = h.agents["webex"].dms(BOB)
    assert await h.agents["webex"].press(BOB, dm, "mio:consent:decline") == 200
    assert await h.status(BOB, "zoom") == ("failed", "declined")
    async with h.core.sessions() as session:
        before = len(await Audit(session).recent(10_000))
    replayed = await webex(h).replay_last()
    assert b"attachmentActions" in replayed.body and replayed.status == 200
    async with h.core.sessions() as session:
        assert len(await Audit(session).recent(10_000)) == before
    assert await h.status(BOB, "zoom") == ("failed", "declined")


async def test_admin_commands_work_from_teams_and_webex(harness: Harness) -> None:
    h = harness
    for platform in ("teams", "webex"):
        answer = await h.command(platform, ADMIN, "status bob@acme.test")
        assert "Bob Marley" in answer and "Primary" in answer, platform
