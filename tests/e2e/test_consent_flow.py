"""The User Sync guide, end to end: real app, real HTTP, signed webhooks, both databases."""

from __future__ import annotations

from itertools import permutations

import pytest

from store.repositories import Audit, Grants
from tests.e2e.conftest import ADMIN, Harness

PLATFORMS = ("slack", "zoom", "teams", "webex")
# Every ordered pair of platforms: Bob has an account on all four.
PAIRS = [pytest.param(p, s, id=f"{p}-to-{s}") for p, s in permutations(PLATFORMS, 2)]
BOB = "bob@acme.test"
# Someone else on the primary platform, to press Bob's button. Webex delivers card presses
# only from members of the 1:1 space, so nobody else can press there at all.
OTHER = {"slack": "carol@acme.test", "zoom": "carol@acme.test", "teams": "grace@acme.test"}
OTHER_PAIRS = [p for p in PAIRS if p.values[0] in OTHER]


async def request_consent(h: Harness, primary: str, secondary: str, who: str = BOB) -> None:
    """Admin chooses the primary, asks for a sync, confirms; the consent DM is delivered."""
    answer = await h.command(primary, ADMIN, f"primary {who} {primary}")
    assert "primary platform is now" in answer
    before = len(h.agents[primary].dms(who))
    seen = await h.agents[primary].command(ADMIN, f"sync {who} {secondary}")
    assert "consent sync" in seen.text and "mio:confirm" in seen.actions
    assert await h.status(who, secondary) == ("not_created", None)  # nothing before Confirm
    assert len(h.agents[primary].dms(who)) == before
    assert "Asked" in await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    assert await h.status(who, secondary) == ("pending", None)
    await h.deliver()


async def test_import_leaves_primary_open_for_people_on_both(harness: Harness) -> None:
    h = harness
    bob = await h.person(BOB)
    frank = await h.person("frank@acme.test")
    erin = await h.person("erin@acme.test")
    assert bob.primary_platform is None  # type: ignore[attr-defined]
    assert frank.primary_platform == "slack"  # type: ignore[attr-defined]
    assert erin.primary_platform == "zoom"  # type: ignore[attr-defined]
    answer = await h.command("slack", ADMIN, "sync bob@acme.test zoom")
    assert "no primary" in answer.lower() or "primary platform" in answer.lower()


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
async def test_allow_then_authorize_syncs_and_updates_the_dm(
    harness: Harness, primary: str, secondary: str
) -> None:
    h = harness
    await request_consent(h, primary, secondary)
    (dm,) = h.agents[primary].dms(BOB)
    assert {"mio:consent:allow", "mio:consent:decline"} <= set(dm.actions)
    assert await h.agents[primary].press(BOB, dm, "mio:consent:allow") == 200
    await h.deliver()
    (dm,) = h.agents[primary].dms(BOB)  # edited in place, not a second message
    (link,) = dm.links
    callback = await h.agents[secondary].authorize(link, BOB)
    async with h.http.get(callback) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    assert "Linked" in page
    assert await h.status(BOB, secondary) == ("synced", None)
    await h.deliver()
    (dm,) = h.agents[primary].dms(BOB)
    assert "✅" in dm.text and not dm.actions
    async with h.core.sessions() as session:
        bob = await h.person(BOB)
        (grant,) = await Grants(session).of_person(bob.id)  # type: ignore[attr-defined]
    assert grant.platform == secondary
    assert "access_token" not in grant.tokens  # encrypted at rest
    # The same link a second time changes nothing.
    async with h.http.get(callback) as resp:
        assert resp.status == 400
    assert await h.status(BOB, secondary) == ("synced", None)


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
async def test_decline_fails_the_sync_with_the_reason(
    harness: Harness, primary: str, secondary: str
) -> None:
    h = harness
    await request_consent(h, primary, secondary)
    (dm,) = h.agents[primary].dms(BOB)
    assert await h.agents[primary].press(BOB, dm, "mio:consent:decline") == 200
    assert await h.status(BOB, secondary) == ("failed", "declined")
    await h.deliver()
    (dm,) = h.agents[primary].dms(BOB)
    assert "Not linked" in dm.text and not dm.actions
    status = await h.command(primary, ADMIN, f"status {BOB}")
    assert "declined" in status.lower()


@pytest.mark.parametrize(("primary", "secondary"), OTHER_PAIRS)
async def test_second_press_and_someone_elses_press_change_nothing(
    harness: Harness, primary: str, secondary: str
) -> None:
    h = harness
    await request_consent(h, primary, secondary)
    (dm,) = h.agents[primary].dms(BOB)
    # Carol presses Bob's button (a forwarded or replayed payload): refused, audited.
    assert await h.agents[primary].press(OTHER[primary], dm, "mio:consent:decline") == 200
    assert await h.status(BOB, secondary) == ("pending", None)
    # A double click: the second Allow and a late Decline arrive before the DM is updated.
    assert await h.agents[primary].press(BOB, dm, "mio:consent:allow") == 200
    assert await h.agents[primary].press(BOB, dm, "mio:consent:allow") == 200
    assert await h.agents[primary].press(BOB, dm, "mio:consent:decline") == 200
    assert await h.status(BOB, secondary) == ("pending", None)  # still waiting for OAuth
    async with h.core.sessions() as session:
        actions = [e.action for e in await Audit(session).recent(100)]
    assert "consent.press_refused" in actions
    assert actions.count("consent.allowed") == 1


async def test_represented_sync_completes_at_once(harness: Harness) -> None:
    h = harness
    seen = await h.agents["zoom"].command(ADMIN, "sync erin@acme.test slack")
    assert "represented" in seen.text
    answer = await h.press_and_read("zoom", ADMIN, seen, "mio:confirm")
    assert "represented" in answer and "synced" in answer
    assert await h.status("erin@acme.test", "slack") == ("synced", None)
    await h.deliver()
    assert h.agents["zoom"].dms("erin@acme.test") == []  # nobody to ask


async def test_person_without_zoom_is_refused_with_the_rule(harness: Harness) -> None:
    h = harness
    answer = await h.command("slack", ADMIN, "sync frank@acme.test zoom")
    assert "Zoom" in answer and "account" in answer
    assert (
        "mio:confirm"
        not in (await h.agents["slack"].command(ADMIN, "sync frank@acme.test zoom")).actions
    )
    assert await h.status("frank@acme.test", "zoom") == ("not_created", None)


async def test_identity_mismatch_fails_and_revokes(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    callback = await h.agents["zoom"].authorize(dm.links[0], "carol@acme.test")
    async with h.http.get(callback) as resp:
        assert resp.status == 403
    assert await h.status(BOB, "zoom") == ("failed", "identity_mismatch")
    await h.deliver()
    assert len(h.zoom.revoked) == 1


async def test_oauth_denied_fails_the_sync(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    callback = await h.agents["zoom"].authorize(dm.links[0], BOB, approve=False)
    async with h.http.get(callback) as resp:
        assert resp.status == 400
    assert await h.status(BOB, "zoom") == ("failed", "oauth_failed")
