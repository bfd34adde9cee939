"""The Zoom stand-in behaves like the Zoom pages it was built from (platform-apis.md §A–F, I).

These talk to the sandbox with a plain aiohttp client, and receive its webhook deliveries on a
bare capture server, so what is checked is the wire format itself, not our adapter's reading of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.org import load_org
from sandbox.zoom import SandboxMessage, ZoomSandbox

BOB, HEIDI = "Zbob0000MARLEY", "Zhei0000GONE"
CARD = {
    "head": {"text": "Link?"},
    "body": [{"type": "actions", "items": [{"text": "Allow", "value": "a|1", "style": "Primary"}]}],
}


@dataclass
class Capture:
    """A stand-in bot: keeps what Zoom delivered, answers `answer`."""

    requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})


@pytest.fixture
async def zoom() -> AsyncIterator[ZoomSandbox]:
    sandbox = ZoomSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def capture(zoom: ZoomSandbox) -> AsyncIterator[Capture]:
    seen = Capture()

    async def events(request: web.Request) -> web.Response:
        seen.requests.append(
            (await request.read(), {k.lower(): v for k, v in request.headers.items()})
        )
        return web.json_response(seen.answer)

    app = web.Application()
    app.router.add_post("/zoom/events", events)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    zoom.bot_url = str(server.make_url("/"))
    yield seen
    await server.close()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(client_id, secret)}


async def token(zoom: ZoomSandbox, http: aiohttp.ClientSession, kind: str) -> str:
    if kind == "chatbot":
        params, creds = {"grant_type": "client_credentials"}, (zoom.client_id, zoom.client_secret)
    else:
        params = {"grant_type": "account_credentials", "account_id": zoom.account_id}
        creds = (zoom.s2s_client_id, zoom.s2s_client_secret)
    async with http.post(f"{zoom.url}/oauth/token", params=params, headers=basic(*creds)) as r:
        assert r.status == 200
        return str((await r.json())["access_token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def send_body(zoom: ZoomSandbox, to: str, **changes: Any) -> dict[str, Any]:
    jid = zoom.user(to).jid
    body = {
        "robot_jid": zoom.bot_jid,
        "to_jid": jid,
        "user_jid": jid,
        "account_id": zoom.account_id,
    }
    return body | {"content": CARD} | changes


def verify(zoom: ZoomSandbox, raw: bytes, headers: dict[str, str]) -> None:
    """The documented check (§A.4), written out independently of both sandbox and adapter."""
    ts = headers["x-zm-request-timestamp"]
    mac = hmac.new(zoom.webhook_secret.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256)
    assert headers["x-zm-signature"] == "v0=" + mac.hexdigest()
    assert abs(int(ts) - time.time()) < 5
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-zm-request-id"]


# -- setup ------------------------------------------------------------------------------------


def test_env_points_every_zoom_setting_here(zoom: ZoomSandbox) -> None:
    env = zoom.env()
    assert (
        env["ZOOM_API_URL"] == f"{zoom.url}/v2/" and env["ZOOM_OAUTH_URL"] == f"{zoom.url}/oauth/"
    )
    assert env["ZOOM_ACCOUNT_ID"] == "acme-account-01"
    assert env["ZOOM_BOT_JID"].endswith("@xmpp.zoom.us")
    assert len({env["ZOOM_CLIENT_ID"], env["ZOOM_S2S_CLIENT_ID"]}) == 2
    assert all(env.values())
    assert zoom.user(BOB).role_id == "2" and zoom.user("Zada0000LOVELACE").role_id == "0"


# -- OAuth ------------------------------------------------------------------------------------


async def test_token_endpoint_issues_each_app_its_own_kind(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    chatbot = basic(zoom.client_id, zoom.client_secret)
    s2s = basic(zoom.s2s_client_id, zoom.s2s_client_secret)
    url = f"{zoom.url}/oauth/token"
    async with http.post(url, params={"grant_type": "client_credentials"}, headers=chatbot) as r:
        body = await r.json()
        assert (r.status, body["expires_in"], body["scope"]) == (200, 3600, "imchat:bot")
    account = {"grant_type": "account_credentials", "account_id": zoom.account_id}
    async with http.post(url, params=account, headers=s2s) as r:
        assert (r.status, (await r.json())["expires_in"]) == (200, 3599)
    async with http.post(url, params=account | {"account_id": "other"}, headers=s2s) as r:
        assert r.status == 400
    async with http.post(url, params={"grant_type": "client_credentials"}, headers=s2s) as r:
        assert (r.status, (await r.json())["error"]) == (400, "unsupported_grant_type")
    wrong = basic(zoom.client_id, "nope")
    async with http.post(url, params={"grant_type": "client_credentials"}, headers=wrong) as r:
        assert (r.status, await r.json()) == (
            401,
            {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
        )


async def test_authorize_page_asks_for_consent(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    query = {
        "response_type": "code",
        "client_id": zoom.client_id,
        "redirect_uri": "https://b/cb",
        "state": "s",
    }
    async with http.get(f"{zoom.url}/oauth/authorize", params=query) as r:
        page = await r.text()
    assert r.status == 200
    assert "Mio User Sync would like to access your Zoom account" in page
    assert "Bob Marley" in page and "Heidi Gone" not in page  # deactivated users cannot sign in
    assert "Allow" in page and "Decline" in page
    async with http.get(f"{zoom.url}/oauth/authorize", params=query | {"client_id": "x"}) as r:
        assert r.status == 400


async def test_codes_and_refresh_tokens_are_single_use(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    query = {
        "response_type": "code",
        "client_id": zoom.client_id,
        "redirect_uri": "https://b/cb",
        "state": "s 1",
    }
    location = await zoom.authorize(
        f"{zoom.url}/oauth/authorize?{urllib.parse.urlencode(query)}", BOB
    )
    parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert location.startswith("https://b/cb?") and parsed["state"] == ["s 1"]
    exchange = {
        "grant_type": "authorization_code",
        "code": parsed["code"][0],
        "redirect_uri": "https://b/cb",
    }
    app = basic(zoom.client_id, zoom.client_secret)
    url = f"{zoom.url}/oauth/token"
    async with http.post(url, data=exchange, headers=app) as r:
        first = await r.json()
        assert (r.status, first["expires_in"], first["token_type"]) == (200, 3599, "bearer")
    async with http.post(url, data=exchange, headers=app) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_grant")
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    async with http.post(url, data=refresh, headers=app) as r:
        rotated = await r.json()
        assert r.status == 200 and rotated["refresh_token"] != first["refresh_token"]
    async with http.post(url, data=refresh, headers=app) as r:
        assert r.status == 400
    async with http.get(f"{zoom.url}/v2/users/me", headers=bearer(rotated["access_token"])) as r:
        me = await r.json()
        assert (me["id"], me["email"], me["jid"]) == (
            BOB,
            "bob@acme.test",
            "zbob0000marley@xmpp.zoom.us",
        )


async def test_revoke_needs_app_credentials_and_a_live_user_token(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    query = {"response_type": "code", "client_id": zoom.client_id, "redirect_uri": "https://b/cb"}
    location = await zoom.authorize(
        f"{zoom.url}/oauth/authorize?{urllib.parse.urlencode(query)}", BOB
    )
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    app = basic(zoom.client_id, zoom.client_secret)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://b/cb"}
    async with http.post(f"{zoom.url}/oauth/token", data=exchange, headers=app) as r:
        access = (await r.json())["access_token"]
    async with http.post(f"{zoom.url}/oauth/revoke", data={"token": access}) as r:
        assert r.status == 401
    async with http.post(f"{zoom.url}/oauth/revoke", data={"token": access}, headers=app) as r:
        assert (r.status, await r.json()) == (200, {"status": "success"})
    assert zoom.revoked == [access]
    async with http.get(f"{zoom.url}/v2/users/me", headers=bearer(access)) as r:
        assert (r.status, (await r.json())["code"]) == (401, 124)


# -- directory --------------------------------------------------------------------------------


async def test_users_pages_with_opaque_tokens(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    s2s = await token(zoom, http, "s2s")
    seen: list[str] = []
    params = {"page_size": "2"}
    while True:
        async with http.get(f"{zoom.url}/v2/users", params=params, headers=bearer(s2s)) as r:
            page = await r.json()
        assert set(page) == {
            "page_count",
            "page_number",
            "page_size",
            "total_records",
            "next_page_token",
            "users",
        }
        assert all("jid" not in u for u in page["users"])  # only GET /users/{id} has it (§I.25)
        seen += [u["id"] for u in page["users"]]
        if not page["next_page_token"]:
            break
        assert len(page["next_page_token"]) >= 16  # opaque, not a page number
        params = {"page_size": "2", "next_page_token": page["next_page_token"]}
    active = [u.id for u in zoom.users.values() if u.status == "active"]
    assert seen == active and HEIDI not in seen
    async with http.get(
        f"{zoom.url}/v2/users", params={"status": "inactive"}, headers=bearer(s2s)
    ) as r:
        inactive = await r.json()
    assert [u["id"] for u in inactive["users"]] == [HEIDI] and inactive["page_size"] == 30
    async with http.get(
        f"{zoom.url}/v2/users", params={"page_size": "5000"}, headers=bearer(s2s)
    ) as r:
        assert (await r.json())["page_size"] == 300


async def test_wrong_or_missing_tokens_get_zoom_errors(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    chatbot = await token(zoom, http, "chatbot")
    async with http.get(f"{zoom.url}/v2/users", headers=bearer(chatbot)) as r:
        assert (r.status, (await r.json())["code"]) == (400, 4711)
    async with http.get(f"{zoom.url}/v2/users") as r:
        assert (r.status, await r.json()) == (
            401,
            {"code": 124, "message": "Invalid access token."},
        )
    s2s = await token(zoom, http, "s2s")
    zoom.expire_tokens("s2s")
    async with http.get(f"{zoom.url}/v2/users", headers=bearer(s2s)) as r:
        assert (r.status, (await r.json())["message"]) == (401, "Access token is expired.")


async def test_tokens_really_expire(zoom: ZoomSandbox, http: aiohttp.ClientSession) -> None:
    zoom.s2s_token_lifetime = 0
    s2s = await token(zoom, http, "s2s")
    async with http.get(f"{zoom.url}/v2/users", headers=bearer(s2s)) as r:
        assert r.status == 401


async def test_get_user_has_jid_and_unknown_is_1001(
    zoom: ZoomSandbox, http: aiohttp.ClientSession
) -> None:
    s2s = await token(zoom, http, "s2s")
    async with http.get(f"{zoom.url}/v2/users/bob@acme.test", headers=bearer(s2s)) as r:
        assert (await r.json())["jid"] == "zbob0000marley@xmpp.zoom.us"
    async with http.get(f"{zoom.url}/v2/users/Znobody", headers=bearer(s2s)) as r:
        assert (r.status, (await r.json())["code"]) == (404, 1001)


# -- chatbot messages -------------------------------------------------------------------------


async def test_send_validates_like_zoom(zoom: ZoomSandbox, http: aiohttp.ClientSession) -> None:
    url = f"{zoom.url}/v2/im/chat/messages"
    chatbot = bearer(await token(zoom, http, "chatbot"))
    s2s = bearer(await token(zoom, http, "s2s"))
    cases = [
        (s2s, send_body(zoom, BOB), 401, 7010),
        (chatbot, send_body(zoom, BOB, user_jid=""), 400, 7001),
        (chatbot, send_body(zoom, BOB, robot_jid="nobody"), 404, 7002),
        (chatbot, send_body(zoom, BOB, robot_jid="v1other@xmpp.zoom.us"), 403, 7003),
        (chatbot, send_body(zoom, BOB, account_id="other"), 403, 7004),
        (chatbot, send_body(zoom, HEIDI), 403, 7004),
    ]
    for headers, body, status, code in cases:
        async with http.post(url, json=body, headers=headers) as r:
            assert (r.status, (await r.json())["code"]) == (status, code), body
    assert zoom.inbox(BOB) == []


async def test_send_edit_delete(zoom: ZoomSandbox, http: aiohttp.ClientSession) -> None:
    url = f"{zoom.url}/v2/im/chat/messages"
    chatbot = bearer(await token(zoom, http, "chatbot"))
    async with http.post(url, json=send_body(zoom, BOB), headers=chatbot) as r:
        sent = await r.json()
    assert r.status == 201
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", sent["sent_time"])
    assert (
        sent["to_jid"] == sent["user_jid"] == zoom.user(BOB).jid
        and sent["robot_jid"] == zoom.bot_jid
    )
    new = {"head": {"text": "Linked"}}
    edit = {"robot_jid": zoom.bot_jid, "account_id": zoom.account_id, "content": new}
    async with http.put(f"{url}/{sent['message_id']}", json=edit, headers=chatbot) as r:
        assert r.status == 200
    (message,) = zoom.inbox(BOB)
    assert (message.message_id, message.content, message.edited, message.text) == (
        sent["message_id"],
        new,
        1,
        "Linked",
    )
    async with http.put(f"{url}/UNKNOWN", json=edit, headers=chatbot) as r:
        assert (r.status, (await r.json())["code"]) == (404, 8001)
    query = {"robot_jid": zoom.bot_jid, "account_id": zoom.account_id}
    async with http.delete(f"{url}/{sent['message_id']}", params=query, headers=chatbot) as r:
        assert r.status == 200
    assert zoom.inbox(BOB) == []


async def test_faults_use_zoom_shapes(zoom: ZoomSandbox, http: aiohttp.ClientSession) -> None:
    url = f"{zoom.url}/v2/im/chat/messages"
    zoom.fail("/v2/im/chat/messages", 500)
    async with http.post(url, json={}) as r:
        assert (r.status, (await r.json())["code"]) == (500, 500)
    zoom.rate_limit("/v2/im/chat/messages")
    async with http.post(url, json={}) as r:
        assert r.status == 429 and "Retry-After" not in r.headers
        assert r.headers["X-RateLimit-Type"] == "QPS"
    reset = zoom.rate_limit("/v2/im/chat/messages", daily=True)
    async with http.post(url, json={}) as r:
        assert r.headers["X-RateLimit-Type"] == "Daily-limit"
        assert reset is not None and r.headers["Retry-After"] == reset.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    async with http.post(url, json={}) as r:
        assert r.status == 401  # faults used up: the real endpoint answers again
    zoom.fail("/oauth/token", 503)
    async with http.post(f"{zoom.url}/oauth/token") as r:
        assert set(await r.json()) == {"reason", "error"}


# -- acting as Zoom towards the bot -----------------------------------------------------------


async def test_slash_command_is_a_signed_bot_notification(
    zoom: ZoomSandbox, capture: Capture
) -> None:
    status, text = await zoom.slash_command(BOB, "status @Carol")
    assert (status, json.loads(text)) == (200, {"status": "ok"})
    ((raw, headers),) = capture.requests
    verify(zoom, raw, headers)
    event = json.loads(raw)
    assert raw == json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()  # compact
    assert event["event"] == "bot_notification" and isinstance(event["event_ts"], int)
    bob = zoom.user(BOB)
    assert event["payload"] == {
        "accountId": zoom.account_id,
        "channelName": "Bob Marley",
        "cmd": "status @Carol",
        "name": "Mio User Sync",
        "robotJid": zoom.bot_jid,
        "timestamp": event["event_ts"],
        "toJid": bob.jid,
        "userId": BOB,
        "userJid": bob.jid,
        "userName": "Bob Marley",
    }


async def test_press_is_a_signed_interactive_message_action(
    zoom: ZoomSandbox, capture: Capture
) -> None:
    message = await _seed_message(zoom)
    assert (await zoom.press(BOB, message, "Allow"))[0] == 200
    assert (await zoom.press(BOB, message, "a|1"))[0] == 200  # by value as well as by label
    (raw, headers), _ = capture.requests
    verify(zoom, raw, headers)
    event = json.loads(raw)
    assert event["event"] == "interactive_message_actions"
    assert (
        event["callback_url"].startswith(f"{zoom.url}/v2/im/chat/callback/")
        and event["callback_token"]
    )
    payload = event["payload"]
    assert payload["actionItem"] == {"text": "Allow", "value": "a|1"}  # no style (§I.25)
    assert payload["original"] == CARD and payload["messageId"] == message.message_id
    assert payload["toJid"] == f"{zoom.user(BOB).jid}/robot_{zoom.bot_jid}"
    assert (payload["userId"], payload["userJid"]) == (BOB, zoom.user(BOB).jid)
    with pytest.raises(LookupError):
        await zoom.press(BOB, message, "Delete")


async def test_redeliver_resends_the_same_bytes(zoom: ZoomSandbox, capture: Capture) -> None:
    await zoom.slash_command(BOB, "help")
    await zoom.slash_command(BOB, "users")
    await zoom.redeliver()
    await zoom.redeliver(last=False)
    bodies = [raw for raw, _ in capture.requests]
    assert bodies[2] == bodies[1] and bodies[3] == bodies[0] and bodies[0] != bodies[1]
    ids = {headers["x-zm-request-id"] for _, headers in capture.requests}
    assert len(ids) == 4
    for raw, headers in capture.requests:
        verify(zoom, raw, headers)


async def test_url_validation_checks_the_answer(zoom: ZoomSandbox, capture: Capture) -> None:
    with pytest.raises(AssertionError, match="URL validation failed"):
        await zoom.url_validation()  # the capture bot does not know the secret
    ((raw, headers),) = capture.requests
    verify(zoom, raw, headers)
    assert json.loads(raw)["event"] == "endpoint.url_validation"
    plain = json.loads(raw)["payload"]["plainToken"]

    async def answered(request: web.Request) -> web.Response:
        token = (await request.json())["payload"]["plainToken"]
        digest = hmac.new(zoom.webhook_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        return web.json_response({"plainToken": token, "encryptedToken": digest})

    app = web.Application()
    app.router.add_post("/zoom/events", answered)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    zoom.bot_url = str(server.make_url("/"))
    try:
        answer = await zoom.url_validation()
    finally:
        await server.close()
    assert answer["plainToken"] != plain and len(answer["encryptedToken"]) == 64


async def test_inbox_page_shows_messages_and_presses_buttons(
    zoom: ZoomSandbox, capture: Capture, http: aiohttp.ClientSession
) -> None:
    message = await _seed_message(zoom)
    async with http.get(f"{zoom.url}/inbox/{BOB}") as r:
        page = await r.text()
    assert r.status == 200 and "Link?" in page and 'value="a|1"' in page
    form = {"message_id": message.message_id, "value": "a|1"}
    async with http.post(f"{zoom.url}/inbox/{BOB}/press", data=form, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (303, f"/inbox/{BOB}")
    ((raw, _),) = capture.requests
    assert json.loads(raw)["payload"]["actionItem"]["value"] == "a|1"


async def _seed_message(zoom: ZoomSandbox) -> SandboxMessage:
    async with aiohttp.ClientSession() as http:
        chatbot = bearer(await token(zoom, http, "chatbot"))
        async with http.post(
            f"{zoom.url}/v2/im/chat/messages", json=send_body(zoom, BOB), headers=chatbot
        ) as r:
            assert r.status == 201
    (message,) = zoom.inbox(BOB)
    return message
