"""Hub access under the one admin rule: first contact, re-checked on every request, sign out
everywhere, no database growth before sign-in, and a sign-in that never breaks a sync."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete, func, select
from yarl import URL

from bot.app import _prune
from store.models import Account, HubSession, HubTicket, Person
from store.repositories import Audit
from tests.e2e.test_consent_flow import request_consent
from tests.hub.conftest import ADMIN, Harness, Hub, wait_background

GRACE = "grace@acme.test"  # on Slack, Zoom and Teams; an admin nowhere until a test says so


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def oauth(hub: Hub, platform: str, email: str) -> tuple[int, str]:
    """Press "Sign in with …", sign in on the stand-in's page, follow the callback."""
    async with hub.http.get(hub.url(f"/hub/auth/{platform}"), allow_redirects=False) as resp:
        assert resp.status == 302
        authorize = resp.headers["Location"]
    callback = await hub.h.agents[platform].authorize(authorize, email)
    async with hub.http.get(callback, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def count(h: Harness, table: type[HubSession] | type[HubTicket]) -> int:
    async with h.core.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


def make_platform_admin(h: Harness, platform: str, email: str) -> None:
    """Give an account its platform's admin role in the stand-in (not in MIO_ADMINS)."""
    service: Any = h.sandbox.services[platform]
    uid = h.org.find(platform, email).user_id
    if platform == "slack":
        service.users[uid]["is_admin"] = True
    elif platform == "zoom":
        service.users[uid].role_id = "1"  # Admin
    elif platform == "teams":
        service.users[uid].is_admin = True  # a Global Administrator
    else:
        service.state.people[uid].is_admin = True  # a full administrator


@pytest.mark.parametrize(
    ("platform", "email"),
    [("slack", GRACE), ("zoom", GRACE), ("teams", GRACE), ("webex", "vic@acme.test")],
)
async def test_a_platform_admin_never_imported_signs_in_with_their_platform(
    harness: Harness, platform: str, email: str
) -> None:
    make_platform_admin(harness, platform, email)
    async with harness.core.transaction() as session:  # a fresh install: nobody imported
        await session.execute(delete(Account))
        await session.execute(delete(Person))
    async with jar() as http:
        hub = Hub(harness, http)
        status, page = await oauth(hub, platform, email)
        assert status == 303, page
        assert "Signed in with" in await hub.page("/hub/users")


async def test_a_removed_admin_loses_access_on_the_next_request(harness: Harness) -> None:
    from bot.directory import import_platform

    h = harness
    h.slack.users["U0GRACE"]["is_admin"] = True
    await import_platform(h.core, "slack", "test")
    async with jar() as http:
        hub = Hub(h, http)
        assert (await oauth(hub, "slack", GRACE))[0] == 303
        await hub.page("/hub/users")
        h.slack.users["U0GRACE"]["is_admin"] = False  # demoted on Slack…
        await import_platform(h.core, "slack", "test")  # …and Mio learns it
        page = await hub.page("/hub/users", status=403)
        assert "no longer a Mio admin" in page
        await hub.page("/hub/users", status=303)  # the session is gone: to the sign-in page
    async with h.core.sessions() as session:
        actions = [e.action for e in await Audit(session).recent(20)]
    assert "hub.session_ended" in actions


async def test_a_link_for_someone_who_left_stops_working(harness: Harness) -> None:
    h = harness
    async with jar() as http:
        hub = Hub(h, http)
        await hub.sign_in(ADMIN)  # in MIO_ADMINS
        async with h.core.transaction() as session:  # every account of Ada is deactivated
            for account in (await session.execute(select(Account))).scalars():
                if account.email == ADMIN:
                    account.is_active = False
        assert "no longer a Mio admin" in await hub.page("/hub/users", status=403)


async def test_sign_out_everywhere_ends_every_session_of_that_admin(hub: Hub) -> None:
    h = hub.h
    async with jar() as http, jar() as other_http:
        laptop = Hub(h, http)
        await laptop.sign_in(ADMIN)
        operator = Hub(h, other_http)
        await operator.sign_in("cli")  # someone else: stays signed in
        page = await hub.page("/hub/users")
        assert 'action="/hub/sign-out-everywhere"' in page
        await hub.post("/hub/sign-out-everywhere", as_json=False, status=303)
        await hub.page("/hub/users", status=303)
        await laptop.page("/hub/users", status=303)
        await operator.page("/hub/users")
    async with h.core.sessions() as session:
        (entry,) = [
            e for e in await Audit(session).recent(20) if e.action == "hub.signed_out_everywhere"
        ]
    assert entry.actor == ADMIN and entry.detail["sessions"] == 2


async def test_starting_a_sign_in_writes_nothing(harness: Harness) -> None:
    h = harness
    before = await count(h, HubTicket)
    async with jar() as http:
        for _ in range(30):
            async with http.get(h.url + "/hub/auth/slack", allow_redirects=False) as resp:
                assert resp.status == 302
        assert await count(h, HubTicket) == before  # the state is in a signed cookie
        hub = Hub(h, http)
        assert (await oauth(hub, "slack", ADMIN))[0] == 303  # the last one still works


async def test_a_forged_or_expired_state_cookie_is_refused(harness: Harness) -> None:
    h = harness
    async with jar() as http:
        async with http.get(h.url + "/hub/auth/slack", allow_redirects=False) as resp:
            authorize = resp.headers["Location"]
        callback = await h.agents["slack"].authorize(authorize, ADMIN)
        h.clock.advance(timedelta(minutes=11))
        async with http.get(callback) as resp:
            assert resp.status == 400 and "10 minutes" in await resp.text()
    async with jar() as http:
        async with http.get(h.url + "/hub/auth/slack", allow_redirects=False) as resp:
            authorize = resp.headers["Location"]
        cookie = http.cookie_jar.filter_cookies(URL(h.url + "/hub/auth/"))
        state, platform, expires, mac = cookie["mio_hub_state"].value.split(".")
        http.cookie_jar.update_cookies(
            {"mio_hub_state": f"{state}.{platform}.{int(expires) + 3600}.{mac}"},
            URL(h.url + "/hub/auth/"),
        )
        callback = await h.agents["slack"].authorize(authorize, ADMIN)
        async with http.get(callback) as resp:
            assert resp.status == 400


async def test_the_hourly_job_prunes_sessions_and_tickets(harness: Harness) -> None:
    h = harness
    async with jar() as http:
        await Hub(h, http).sign_in(ADMIN)  # one used link, one session
    h.clock.advance(timedelta(hours=13))
    await _prune(h.core)
    assert await count(h, HubTicket) == 0 and await count(h, HubSession) == 0


async def test_signing_in_with_teams_keeps_the_grant_behind_a_sync(harness: Harness) -> None:
    h = harness
    await request_consent(h, "slack", "teams", who=ADMIN)
    dm = h.agents["slack"].dms(ADMIN)[-1]
    await h.agents["slack"].press(ADMIN, dm, "mio:consent:allow")
    await h.deliver()
    dm = h.agents["slack"].dms(ADMIN)[-1]
    callback = await h.agents["teams"].authorize(dm.links[0], ADMIN)
    async with h.http.get(callback) as resp:
        assert resp.status == 200
    assert await h.status(ADMIN, "teams") == ("synced", None)
    teams = h.sandbox.services["teams"]
    async with jar() as http:
        assert (await oauth(Hub(h, http), "teams", ADMIN))[0] == 303
    await wait_background(h.core)  # the sign-in's revocation, had there been one, ran
    assert teams.deleted_grants == []  # type: ignore[attr-defined]


async def test_a_sign_in_the_platform_cannot_vouch_for_says_try_again(harness: Harness) -> None:
    make_platform_admin(harness, "zoom", GRACE)
    async with harness.core.transaction() as session:
        await session.execute(delete(Account).where(Account.platform == "zoom"))
    zoom = harness.zoom
    uid = harness.org.find("zoom", GRACE).user_id
    async with jar() as http:
        hub = Hub(harness, http)
        zoom.fail(f"/v2/users/{uid}", 500)  # Zoom asks 10 s for a 5xx: not waited out
        status, page = await oauth(hub, "zoom", GRACE)
        assert status == 502 and "could not ask Zoom who you are" in page
        assert (await oauth(hub, "zoom", GRACE))[0] == 303  # once Zoom answers again
