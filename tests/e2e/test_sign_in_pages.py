"""The pages a person meets while linking an account: the Zoom stand-in's sign-in page, which
shows whose browser it is, and Mio's answer when someone signs in as somebody else."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import aiohttp

from tests.e2e.conftest import Harness
from tests.e2e.test_consent_flow import BOB, request_consent

OPTION = re.compile(r'<option value="([^"]*)"( selected)?>')


async def zoom_sign_in_page(h: Harness, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": h.zoom.client_id,
        "redirect_uri": f"{h.url}/oauth/zoom/callback",
        "state": "s",
        **extra,
    }
    async with h.http.get(f"{h.zoom.url}/oauth/authorize?{urlencode(query)}") as resp:
        assert resp.status == 200
        return await resp.text()


def selected(page: str) -> list[str]:
    return [value for value, chosen in OPTION.findall(page) if chosen]


async def test_the_zoom_sign_in_page_shows_whose_browser_it_is(harness: Harness) -> None:
    h = harness
    bob = h.org.find("zoom", BOB).user_id
    assert selected(await zoom_sign_in_page(h, login_hint=BOB)) == [bob]
    assert selected(await zoom_sign_in_page(h, login_hint=" Bob@ACME.test ")) == [bob]
    assert selected(await zoom_sign_in_page(h, login_hint=bob)) == [bob]
    # Without a hint, or with one naming nobody active, the browser shows its first account.
    assert selected(await zoom_sign_in_page(h)) == []
    assert selected(await zoom_sign_in_page(h, login_hint="nobody@acme.test")) == []
    page = await zoom_sign_in_page(h, login_hint='"><script>')
    assert "<script>" not in page and selected(page) == []


async def test_signing_in_as_someone_else_tells_the_reader_what_next(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "zoom")
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    callback = await h.agents["zoom"].authorize(dm.links[0], "carol@acme.test")
    async with aiohttp.ClientSession() as http, http.get(callback) as resp:
        assert resp.status == 403
        page = await resp.text()
    assert "Not linked to Zoom" in page
    assert (
        "You signed in to Zoom as carol@acme.test, but this link is for Bob Marley&#39;s Zoom "
        "account (bob@acme.test), so nothing was linked"
    ) in page
    assert "Your admin sees this request as failed: ask them for a new link" in page
    assert "sign in to Zoom as bob@acme.test when you open it." in page
    assert "They signed in" not in page and "not theirs" not in page
    assert await h.status(BOB, "zoom") == ("failed", "identity_mismatch")
    # The DM that turns ⚠️ speaks to Bob too, and says what happens next.
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    assert "You signed in to Zoom with an account that is not yours" in dm.text
    assert "ask them for a new request" in dm.text
    assert "They " not in dm.text and "theirs" not in dm.text
