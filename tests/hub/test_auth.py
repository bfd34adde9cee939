"""Who gets into the Hub: one-time links, platform sign-in for admins only, CSRF, sign-out."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import aiohttp
from aiohttp import web

from bot.hub import auth
from bot.hub.auth import create_link
from bot.settings import Settings
from store.repositories import Audit
from tests.hub.conftest import ADMIN, Harness, Hub


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_pages_need_a_session(harness: Harness) -> None:
    async with jar() as http:
        async with http.get(harness.url + "/hub/users", allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (303, "/hub/sign-in")
        async with http.get(harness.url + "/hub/api/rows?rows=1:x") as resp:
            assert resp.status == 401
            assert "session has ended" in (await resp.json())["sentence"]
        async with http.post(harness.url + "/hub/people/1/reset", data={}) as resp:
            assert resp.status == 403
        async with http.get(harness.url + "/hub/sign-in") as resp:
            page = await resp.text()
    assert "Sign in with Slack" in page and "Sign in with Zoom" in page
    assert "mio hub-link" in page


async def test_a_link_signs_in_once(harness: Harness) -> None:
    link = await create_link(harness.core, ADMIN)
    assert link.startswith(harness.url + "/hub/link/")
    async with jar() as http:
        async with http.get(link) as resp:
            assert resp.status == 200
            assert resp.headers["Referrer-Policy"] == "same-origin"  # the token stays here
            assert "Sign in" in await resp.text()
        async with http.post(link, allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (303, "/hub/users")
            cookie = resp.cookies["mio_hub"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        assert int(cookie["max-age"]) == 12 * 3600
        async with http.get(harness.url + "/hub/users") as resp:
            assert resp.status == 200 and "Signed in with a sign-in link." in await resp.text()
    async with jar() as other:
        async with other.post(link, allow_redirects=False) as resp:
            assert resp.status == 403
            assert "already used" in await resp.text()
        async with other.get(link) as resp:
            assert resp.status == 403


async def test_an_expired_link_is_refused(harness: Harness) -> None:
    link = await create_link(harness.core, ADMIN)
    harness.clock.advance(timedelta(minutes=10, seconds=1))
    async with jar() as http:
        async with http.get(link) as resp:
            assert resp.status == 403 and "expired" in await resp.text()
        async with http.post(link, allow_redirects=False) as resp:
            assert resp.status == 403
            text = await resp.text()
    assert "expired" in text and "mio hub-link" in text


async def test_an_unknown_link_is_refused(harness: Harness) -> None:
    async with jar() as http, http.post(harness.url + "/hub/link/nope") as resp:
        assert resp.status == 403 and "not valid" in await resp.text()


async def test_session_cookie_is_secure_behind_https(harness: Harness) -> None:
    env = dict(harness.core.settings.env, MIO_PUBLIC_URL="https://mio.example.com")
    core = dataclasses.replace(harness.core, settings=Settings.from_env(env))
    response = web.Response()
    await auth.start_session(core, response, ADMIN, "Ada", "link")
    cookie = response.cookies["__Host-mio_hub"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"


async def test_every_post_needs_the_csrf_token(hub: Hub) -> None:
    bob = await hub.person_id("bob@acme.test")
    path = f"/hub/people/{bob}/primary"
    answer = await hub.post(path, {"platform": "slack"}, csrf=False, status=403)
    assert "security token" in answer["sentence"]
    await hub.post(path, {"platform": "slack", "csrf": "0" * 64}, status=403)
    # A token from another admin's session does not work in this one.
    async with jar() as http:
        other = Hub(hub.h, http)
        await other.sign_in()
        await hub.post(path, {"platform": "slack", "csrf": other.csrf}, status=403)
    # Another site's page cannot post, even with the token.
    await hub.post(path, {"platform": "slack"}, headers={"Origin": "https://evil.test"}, status=403)
    assert (await hub.h.person("bob@acme.test")).primary_platform is None  # type: ignore[attr-defined]
    await hub.post(path, {"platform": "slack"})
    assert (await hub.h.person("bob@acme.test")).primary_platform == "slack"  # type: ignore[attr-defined]


async def test_sign_out_ends_the_session(hub: Hub) -> None:
    await hub.post("/hub/sign-out", as_json=False, status=303)
    await hub.page("/hub/users", status=303)
    await hub.post("/hub/sign-out", status=403)  # the old token died with the session


async def oauth(hub: Hub, platform: str, email: str, approve: bool = True) -> tuple[int, str]:
    """Press "Sign in with …", sign in on the stand-in's page, follow the callback."""
    async with hub.http.get(hub.url(f"/hub/auth/{platform}"), allow_redirects=False) as resp:
        assert resp.status == 302
        authorize = resp.headers["Location"]
    assert "/hub/auth/" + platform + "/callback" in authorize.replace("%2F", "/")
    callback = await hub.h.agents[platform].authorize(authorize, email, approve)
    async with hub.http.get(callback, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_platform_admins_sign_in_with_slack_and_zoom(harness: Harness) -> None:
    for platform in ("slack", "zoom"):
        async with jar() as http:
            hub = Hub(harness, http)
            status, _ = await oauth(hub, platform, ADMIN)
            assert status == 303
            page = await hub.page("/hub/users")
            assert f"Signed in with {harness.core.label(platform)} as Ada Lovelace" in page
    await harness.deliver()  # the revocations are outbox rows (the app's worker is off in tests)
    await harness.wait_for(lambda: harness.slack.revoked and harness.zoom.revoked)


async def test_non_admins_are_refused(harness: Harness) -> None:
    async with jar() as http:
        hub = Hub(harness, http)
        status, page = await oauth(hub, "slack", "bob@acme.test")
        assert status == 403
        assert "not a Mio admin" in page and "Bob Marley" in page
        await hub.page("/hub/users", status=303)
    async with harness.core.sessions() as session:
        refused = [e for e in await Audit(session).recent(20) if e.action == "hub.sign_in_refused"]
    assert refused[0].actor == "bob@acme.test"


async def test_oauth_state_works_once_and_only_in_its_browser(harness: Harness) -> None:
    async with jar() as http:
        hub = Hub(harness, http)
        async with http.get(hub.url("/hub/auth/slack"), allow_redirects=False) as resp:
            authorize = resp.headers["Location"]
        callback = await harness.agents["slack"].authorize(authorize, ADMIN)
        async with jar() as stranger, stranger.get(callback) as resp:
            assert resp.status == 400 and "did not start in this browser" in await resp.text()
        async with http.get(callback, allow_redirects=False) as resp:
            assert resp.status == 303
        async with http.get(callback) as resp:
            assert resp.status == 400
    async with jar() as http, http.get(harness.url + "/hub/auth/teamz") as resp:
        assert resp.status == 404 and "not connected" in await resp.text()


async def test_a_denied_sign_in_says_so(harness: Harness) -> None:
    async with jar() as http:
        status, page = await oauth(Hub(harness, http), "zoom", ADMIN, approve=False)
    assert status == 400 and "did not sign you in (access_denied)" in page


def test_admin_rule() -> None:
    """The one rule (bot/admins.py): an active person's account by MIO_ADMINS or platform role;
    an email by MIO_ADMINS unless every account it has is gone."""
    from bot import admins
    from store.models import Account

    def account(**kw: object) -> Account:
        base = {"email": None, "is_admin": False, "is_active": True, "is_bot": False}
        return Account(**{**base, "is_guest": False, **kw})

    listed = frozenset({"ada@acme.test"})
    assert admins.account_is_admin(listed, account(email=" Ada@Acme.test "))
    assert admins.account_is_admin(listed, account(email="x@acme.test", is_admin=True))
    assert not admins.account_is_admin(listed, account(email="ada@acme.test", is_active=False))
    assert not admins.account_is_admin(listed, account(email="ada@acme.test", is_bot=True))
    assert not admins.account_is_admin(listed, account(email="bob@acme.test"))
    assert not admins.account_is_admin(listed, None)
    assert admins.email_is_admin(listed, "ada@acme.test", [])  # a fresh install
    assert not admins.email_is_admin(listed, "ada@acme.test", [account(is_active=False)])
    assert admins.email_is_admin(listed, "x@acme.test", [account(is_admin=True)])
    assert not admins.email_is_admin(listed, "bob@acme.test", [account()])
