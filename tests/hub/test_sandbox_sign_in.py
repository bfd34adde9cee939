"""The demo's natural path: Bob opens "Sign in to Zoom" from his Slack inbox and just presses
Allow on the page that opens, as a browser would submit it; the sync completes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.hub.conftest import Hub
from tests.hub.test_sandbox_page import BOB, get, post, sandbox_url

__all__ = ["sandbox_url"]

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
OPTION = re.compile(r'<option value="([^"]*)"( selected)?>')


def as_browser_submits(page: str) -> dict[str, str]:
    """The hidden fields and the drop-down's selected option (the first, when none is)."""
    options = OPTION.findall(page)
    chosen = next((v for v, s in options if s), options[0][0])
    return {**dict(HIDDEN.findall(page)), "user_id": chosen, "decision": "allow"}


async def test_the_sign_in_page_from_bobs_inbox_is_signed_in_as_bob(
    hub: Hub, sandbox_url: str
) -> None:
    h = hub.h
    bob = await hub.person_id(BOB)
    await hub.post(f"/hub/people/{bob}/primary", {"platform": "slack"})
    await hub.post(f"/hub/people/{bob}/sync/zoom")
    await h.deliver()
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0BOB")
    message = page.split('name="message" value="')[1].split('"')[0]
    await post(
        f"{sandbox_url}/sandbox/slack/U0BOB/press",
        {"message": message, "action": "mio:consent:allow"},
    )
    await h.deliver()
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0BOB&fragment=1")
    link_action = page.split('value="link:')[1].split('"')[0]
    status, where = await post(
        f"{sandbox_url}/sandbox/slack/U0BOB/press",
        {"message": message, "action": f"link:{link_action}"},
    )
    (hint,) = parse_qs(urlsplit(where).query)["login_hint"]
    assert status == 303 and hint.lower() == BOB  # Slack has it as " Bob@Acme.test "
    async with aiohttp.ClientSession() as http:
        async with http.get(where) as resp:
            sign_in = await resp.text()
        assert '<option value="Zbob0000MARLEY" selected>' in sign_in
        async with http.post(
            f"{h.zoom.url}/oauth/authorize", data=as_browser_submits(sign_in)
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert "Linked to Zoom" in await resp.text()
    assert await h.status(BOB, "zoom") == ("synced", None)


async def test_links_elsewhere_are_left_alone(hub: Hub, sandbox_url: str) -> None:
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0BOB")
    assert "login_hint" not in page  # nothing to sign in to yet
