"""Represented syncs and resets for every ordered pair of platforms."""

from __future__ import annotations

import dataclasses

import pytest

from store.repositories import Audit
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_consent_flow import BOB, PAIRS, request_consent

# Someone with an account on the primary platform (and on Zoom, the required platform) but
# none on the secondary one. Into Zoom nobody qualifies while Zoom is required, so those pairs
# run with the rule turned off and use people who have no Zoom account.
REPRESENTED = {
    ("slack", "teams"): "carol",
    ("slack", "webex"): "carol",
    ("zoom", "slack"): "erin",
    ("zoom", "teams"): "erin",
    ("zoom", "webex"): "erin",
    ("teams", "slack"): "teri",
    ("teams", "webex"): "teri",
    ("webex", "slack"): "wes",
    ("webex", "teams"): "wes",
    ("slack", "zoom"): "dan",
    ("teams", "zoom"): "tess",
    ("webex", "zoom"): "vic",
}


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
async def test_represented_sync_completes_at_once(
    harness: Harness, primary: str, secondary: str
) -> None:
    h = harness
    who = f"{REPRESENTED[(primary, secondary)]}@acme.test"
    if secondary == "zoom":
        h.core.settings = dataclasses.replace(h.core.settings, required_platform=None)
    answer = await h.command(primary, ADMIN, f"primary {who} {primary}")
    assert "primary platform is now" in answer
    seen = await h.agents[primary].command(ADMIN, f"sync {who} {secondary}")
    assert "represented sync" in seen.text, seen.text
    answer = await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    assert "represented" in answer
    assert await h.status(who, secondary) == ("synced", None)
    await h.deliver()
    assert h.agents[primary].dms(who) == []  # nobody to ask


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
async def test_reset_after_a_consent_sync(harness: Harness, primary: str, secondary: str) -> None:
    h = harness
    await request_consent(h, primary, secondary)
    dm = h.agents[primary].dms(BOB)[-1]
    assert await h.agents[primary].press(BOB, dm, "mio:consent:allow") == 200
    await h.deliver()
    (link,) = h.agents[primary].dms(BOB)[-1].links
    callback = await h.agents[secondary].authorize(link, BOB)
    async with h.http.get(callback) as resp:
        assert resp.status == 200, await resp.text()
    assert await h.status(BOB, secondary) == ("synced", None)
    seen = await h.agents[primary].command(ADMIN, f"reset {BOB}")
    assert "Reset Bob Marley" in await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    assert await h.status(BOB, secondary) == ("not_created", None)
    await h.deliver()
    async with h.core.sessions() as session:
        revoked = [e for e in await Audit(session).recent(200) if e.action == "grant.revoked"]
    assert len(revoked) == 1 and revoked[0].detail["outcome"]
    await request_consent(h, primary, secondary)  # the admin can start over
