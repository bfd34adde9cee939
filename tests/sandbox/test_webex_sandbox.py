"""The Webex stand-in behaves like the Webex pages it was built from (platform-apis.md §A–F, I).

These talk to the sandbox with a plain aiohttp client and receive its webhook deliveries on a
bare capture server, so what is checked is the wire format itself, not our adapter's reading.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.org import load_org
from sandbox.webex import WebexSandbox
from sandbox.webex.model import NO_TOKEN

ADA = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hZGE"
BOB = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I"
CARD = {
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {
        "type": "AdaptiveCard",
        "version": "1.3",
        "body": [{"type": "TextBlock", "text": "Link?"}],
        "actions": [
            {"type": "Action.Submit", "title": "Allow", "data": {"action_id": "a", "value": "1"}}
        ],
    },
}


@dataclass
class Capture:
    """A stand-in bot: keeps what Webex delivered, answers 200."""

    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.received]


@pytest.fixture
async def webex() -> AsyncIterator[WebexSandbox]:
    sandbox = WebexSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    seen = Capture()

    async def events(request: web.Request) -> web.Response:
        seen.received.append((await request.read(), dict(request.headers)))
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webex/events", events)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    seen.url = str(server.make_url("/webex/events"))
    yield seen
    await server.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs: Any
) -> tuple[int, Any, Any]:
    async with http.request(method, url, headers=bearer(token), **kwargs) as response:
        text = await response.text()
        return response.status, response.headers, json.loads(text) if text else None


async def grant(webex: WebexSandbox, person_id: str, scope: str) -> dict[str, Any]:
    """The token answer for `person_id` authorizing Mio's integration with `scope`."""
    redirect = "https://mio.example/cb"
    q = {
        "client_id": webex.client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": scope,
        "state": "s",
    }
    location = await webex.authorize(
        f"{webex.url}/v1/authorize?{urllib.parse.urlencode(q)}", person_id
    )
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "client_id": webex.client_id,
        "client_secret": webex.client_secret,
        "code": code,
        "redirect_uri": redirect,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{webex.url}/v1/access_token", data=form) as answer,
    ):
        assert answer.status == 200
        body: dict[str, Any] = await answer.json()
        return body


ADMIN_SCOPES = (
    "spark-admin:people_read identity:tokens_read identity:tokens_write spark:people_read"
)


async def register(
    webex: WebexSandbox, http: aiohttp.ClientSession, target: str, **extra: str
) -> dict[str, Any]:
    body = {
        "name": "m",
        "targetUrl": target,
        "resource": "messages",
        "event": "created",
        "secret": "s3cret",
        **extra,
    }
    status, _, hook = await call(
        http, "POST", f"{webex.url}/v1/webhooks", webex.bot_token, json=body
    )
    assert status == 200
    return dict(hook)


# -- tokens and people ------------------------------------------------------------------------


def test_env_points_at_v1(webex: WebexSandbox) -> None:
    env = webex.env()
    assert env["WEBEX_API_URL"] == f"{webex.url}/v1/"
    assert set(env) == {
        "WEBEX_BOT_TOKEN",
        "WEBEX_WEBHOOK_SECRET",
        "WEBEX_CLIENT_ID",
        "WEBEX_CLIENT_SECRET",
        "WEBEX_API_URL",
    }


async def test_missing_or_bad_token_is_webex_401(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    status, _, body = await call(http, "GET", f"{webex.url}/v1/people/me", "nope")
    assert status == 401 and body["message"] == NO_TOKEN
    assert body["errors"] == [{"description": NO_TOKEN}] and body["trackingId"].startswith(
        "ROUTER_"
    )


async def test_a_bot_cannot_list_the_directory(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    status, _, body = await call(http, "GET", f"{webex.url}/v1/people", webex.bot_token)
    assert (
        status == 400 and body["message"] == "Email, displayName, or id list should be specified."
    )
    status, _, body = await call(
        http, "GET", f"{webex.url}/v1/people?email=BOB@acme.test", webex.bot_token
    )
    assert status == 200 and [p["id"] for p in body["items"]] == [BOB]
    assert "loginEnabled" not in body["items"][0] and "roles" not in body["items"][0]
    status, _, me = await call(http, "GET", f"{webex.url}/v1/people/me", webex.bot_token)
    assert (status, me["type"], me["orgId"]) == (200, "bot", webex.state.org_id)


async def test_admin_listing_pages_with_absolute_link_headers(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    admin = (await grant(webex, ADA, ADMIN_SCOPES))["access_token"]
    webex.people.max_page_size = 2
    status, headers, page = await call(http, "GET", f"{webex.url}/v1/people?max=1000", admin)
    assert status == 200 and len(page["items"]) == 2
    ada = page["items"][0]
    assert (ada["loginEnabled"], ada["invitePending"], bool(ada["roles"])) == (True, False, True)
    link = re.fullmatch(r'<(.+)>; rel="next"', headers["Link"])
    assert link and link.group(1).startswith(f"{webex.url}/v1/people?")
    seen = [p["id"] for p in page["items"]]
    while "Link" in headers:
        next_url = re.fullmatch(r"<(.+)>.*", headers["Link"]).group(1)  # type: ignore[union-attr]
        status, headers, page = await call(http, "GET", next_url, admin)
        seen += [p["id"] for p in page["items"]]
    assert seen == list(webex.state.people)
    webex.people.flags_as_strings = True
    _, _, page = await call(http, "GET", f"{webex.url}/v1/people?email=bob@acme.test", admin)
    assert page["items"][0]["loginEnabled"] == "true"


async def test_non_admins_and_orgs(webex: WebexSandbox, http: aiohttp.ClientSession) -> None:
    bob = (await grant(webex, BOB, ADMIN_SCOPES))["access_token"]  # scopes alone make no admin
    assert (await call(http, "GET", f"{webex.url}/v1/people", bob))[0] == 403
    org_url = f"{webex.url}/v1/organizations/{webex.state.org_id}"
    assert (await call(http, "GET", org_url, webex.bot_token))[0] == 403
    admin = (await grant(webex, ADA, ADMIN_SCOPES))["access_token"]
    status, _, org = await call(http, "GET", org_url, admin)
    assert (status, org["displayName"]) == (200, "Acme Robotics")


# -- messages ---------------------------------------------------------------------------------


async def test_cards_are_checked_like_webex(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    url, token = f"{webex.url}/v1/messages", webex.bot_token

    def card(**changes: Any) -> dict[str, Any]:
        return {**CARD, "content": {**CARD["content"], **changes}}  # type: ignore[dict-item]

    bad = [
        {"toPersonId": BOB, "attachments": [CARD]},  # no fallback text
        {"toPersonId": BOB, "text": "x", "attachments": [card(version="1.4")]},
        {
            "toPersonId": BOB,
            "text": "x",
            "attachments": [card(actions=[{"type": "Action.Execute"}])],
        },
        {
            "toPersonId": BOB,
            "text": "x",
            "attachments": [card(actions=[{"type": "Action.Submit"}] * 6)],
        },
        {"toPersonId": BOB, "roomId": "r", "text": "x"},
        {"toPersonId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ub2JvZHk", "text": "x"},
    ]
    assert [(await call(http, "POST", url, token, json=b))[0] for b in bad] == [
        400,
        400,
        400,
        400,
        400,
        404,
    ]
    status, _, sent = await call(
        http, "POST", url, token, json={"toPersonId": BOB, "text": "Link?", "attachments": [CARD]}
    )
    assert status == 200 and sent["toPersonId"] == BOB and sent["roomType"] == "direct"
    assert sent["personId"] == webex.bot.id and sent["attachments"] == [CARD]


async def test_card_messages_cannot_be_edited_but_text_ones_can(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    url, token = f"{webex.url}/v1/messages", webex.bot_token
    _, _, card = await call(
        http, "POST", url, token, json={"toPersonId": BOB, "text": "Link?", "attachments": [CARD]}
    )
    edit = {"roomId": card["roomId"], "text": "done"}
    status, _, body = await call(http, "PUT", f"{url}/{card['id']}", token, json=edit)
    assert status == 400 and "attachments" in body["message"]
    _, _, text = await call(
        http, "POST", url, token, json={"roomId": card["roomId"], "text": "hello"}
    )
    status, _, edited = await call(http, "PUT", f"{url}/{text['id']}", token, json=edit)
    assert (status, edited["text"]) == (200, "done")
    _, _, reply = await call(
        http,
        "POST",
        url,
        token,
        json={"roomId": card["roomId"], "parentId": card["id"], "text": "ok"},
    )
    assert reply["parentId"] == card["id"]
    nested = {"roomId": card["roomId"], "parentId": reply["id"], "text": "deeper"}
    assert (await call(http, "POST", url, token, json=nested))[0] == 400
    assert (await call(http, "DELETE", f"{url}/{card['id']}", token))[0] == 204
    assert (await call(http, "GET", f"{url}/{card['id']}", token))[0] == 404


async def test_429_fault_carries_retry_after(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    webex.rate_limit("/v1/messages", after=9)
    status, headers, body = await call(
        http, "POST", f"{webex.url}/v1/messages", webex.bot_token, json={}
    )
    assert (status, headers["Retry-After"], body["message"]) == (429, "9", "Too many requests.")


# -- webhooks and delivery --------------------------------------------------------------------


async def test_webhook_crud_and_ownership(
    webex: WebexSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    hook = await register(webex, http, capture.url)
    assert (hook["ownedBy"], hook["status"], hook["secret"]) == ("creator", "active", "s3cret")
    url = f"{webex.url}/v1/webhooks/{hook['id']}"
    change = {"name": "n", "targetUrl": capture.url, "secret": "new", "status": "inactive"}
    status, _, updated = await call(http, "PUT", url, webex.bot_token, json=change)
    assert (status, updated["secret"], updated["status"]) == (200, "new", "inactive")
    assert (await call(http, "PUT", url, webex.bot_token, json={"secret": "x"}))[0] == 400
    ada = (await grant(webex, ADA, "spark:people_read"))["access_token"]
    _, _, theirs = await call(http, "GET", f"{webex.url}/v1/webhooks", ada)
    assert theirs == {"items": []}
    assert (await call(http, "DELETE", url, webex.bot_token))[0] == 204
    assert (await call(http, "GET", url, webex.bot_token))[0] == 404


async def test_deliveries_are_signed_and_include_the_bots_own_messages(
    webex: WebexSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    await register(webex, http, capture.url)
    await webex.send_text(BOB, "help")
    await call(
        http,
        "POST",
        f"{webex.url}/v1/messages",
        webex.bot_token,
        json={"toPersonId": BOB, "text": "hi"},
    )
    await webex.settle()
    mine, raw_mine = capture.received[0]
    assert raw_mine["X-Spark-Signature"] == hmac.new(b"s3cret", mine, hashlib.sha1).hexdigest()
    first, second = capture.bodies()
    assert (first["resource"], first["event"], first["data"]["personId"]) == (
        "messages",
        "created",
        BOB,
    )
    assert second["data"]["personId"] == webex.bot.id  # the bot hears its own messages (§D.3)
    assert "text" not in first["data"] and "secret" not in first
    replay = await webex.replay_last()
    assert capture.received[-1] == capture.received[-2] and replay.status == 200


async def test_filters_and_group_spaces(
    webex: WebexSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    await register(webex, http, capture.url, filter="mentionedPeople=me")
    await webex.send_text(BOB, "help")  # in a 1:1 space nobody is mentioned: never delivered
    assert capture.received == []
    for hook_id in list(webex.hooks.hooks):
        await call(http, "DELETE", f"{webex.url}/v1/webhooks/{hook_id}", webex.bot_token)
    await register(webex, http, capture.url)
    room = webex.group("Ops", [ADA, BOB])
    await webex.send_text(ADA, "lunch?", room=room)
    await webex.send_text(ADA, "status", room=room, mention_bot=True)
    (event,) = capture.bodies()
    assert event["data"]["roomType"] == "group" and event["data"]["mentionedPeople"] == [
        webex.bot.id
    ]


async def test_press_delivers_an_attachment_action_with_inputs_behind_the_api(
    webex: WebexSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    webex.bot_url = capture.url.removesuffix("/webex/events")  # nothing registered: the fallback
    await call(
        http,
        "POST",
        f"{webex.url}/v1/messages",
        webex.bot_token,
        json={"toPersonId": BOB, "text": "Link?", "attachments": [CARD]},
    )
    await webex.settle()
    (card,) = webex.inbox(BOB)
    await webex.press(BOB, card, "a")
    body, headers = capture.received[-1]
    assert headers["X-Spark-Signature"] == webex.sign(body)
    data = json.loads(body)["data"]
    assert (data["messageId"], data["personId"], "inputs" in data) == (card.id, BOB, False)
    status, _, action = await call(
        http, "GET", f"{webex.url}/v1/attachment/actions/{data['id']}", webex.bot_token
    )
    assert (status, action["inputs"], action["type"]) == (
        200,
        {"action_id": "a", "value": "1"},
        "submit",
    )
    with pytest.raises(LookupError):
        await webex.press(BOB, card, "missing")


# -- OAuth and authorizations -----------------------------------------------------------------


async def test_consent_page_and_token_endpoint(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    q = {
        "client_id": webex.client_id,
        "response_type": "code",
        "redirect_uri": "https://m/cb",
        "scope": "spark:people_read",
        "state": "s",
    }
    async with http.get(f"{webex.url}/v1/authorize?{urllib.parse.urlencode(q)}") as page:
        text = await page.text()
        assert page.status == 200 and '<select name="person_id">' in text and "Bob Marley" in text
    q["scope"] = "spark:everything"
    async with http.get(f"{webex.url}/v1/authorize?{urllib.parse.urlencode(q)}") as page:
        assert page.status == 400
    answer = await grant(webex, BOB, "spark:people_read")
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 1_209_599
    assert answer["scope"] == "spark:people_read" and answer["refresh_token_expires_in"] > 0
    form = {
        "grant_type": "refresh_token",
        "client_id": webex.client_id,
        "client_secret": "wrong",
        "refresh_token": answer["refresh_token"],
    }
    async with http.post(f"{webex.url}/v1/access_token", data=form) as wrong:
        assert wrong.status == 401
    form["client_secret"] = webex.client_secret
    async with http.post(f"{webex.url}/v1/access_token", data=form) as fresh:
        renewed = await fresh.json()
    assert (
        renewed["refresh_token"] == answer["refresh_token"]
        and renewed["access_token"] != answer["access_token"]
    )


async def test_authorizations_api_is_admin_only_and_deletes_by_id(
    webex: WebexSandbox, http: aiohttp.ClientSession
) -> None:
    bob = await grant(webex, BOB, "spark:people_read")
    admin = (await grant(webex, ADA, ADMIN_SCOPES))["access_token"]
    url = f"{webex.url}/v1/authorizations"
    assert (await call(http, "GET", f"{url}?personId={BOB}", bob["access_token"]))[0] == 403
    _, _, found = await call(http, "GET", f"{url}?personId={BOB}", admin)
    apps = sorted((a["applicationName"], a["type"]) for a in found["items"])
    assert apps == [
        ("Developer Portal", "access"),
        ("Developer Portal", "refresh"),
        ("Mio User Sync", "access"),
        ("Mio User Sync", "refresh"),
    ]
    refresh = next(
        a for a in found["items"] if a["clientId"] == webex.client_id and a["type"] == "refresh"
    )
    assert (await call(http, "DELETE", f"{url}/{refresh['id']}", admin))[0] == 204
    assert (await call(http, "GET", f"{webex.url}/v1/people/me", bob["access_token"]))[0] == 401
    _, _, left = await call(http, "GET", f"{url}?personId={BOB}", admin)
    assert {a["applicationName"] for a in left["items"]} == {"Developer Portal"}
    # The trap of §F.3: by client id, everyone's grants go, the admin's own included.
    assert (await call(http, "DELETE", f"{url}?clientId={webex.client_id}", admin))[0] == 204
    assert (await call(http, "GET", f"{webex.url}/v1/people/me", admin))[0] == 401


async def test_inbox_page_shows_cards_and_presses_them(
    webex: WebexSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    webex.bot_url = capture.url.removesuffix("/webex/events")
    await call(
        http,
        "POST",
        f"{webex.url}/v1/messages",
        webex.bot_token,
        json={"toPersonId": BOB, "text": "Link?", "attachments": [CARD]},
    )
    await webex.settle()
    async with http.get(f"{webex.url}/inbox/{BOB}") as page:
        text = await page.text()
        assert page.status == 200 and "Link?" in text and 'value="a"' in text
    (card,) = webex.inbox(BOB)
    async with http.post(
        f"{webex.url}/inbox/{BOB}/press",
        data={"message_id": card.id, "action_id": "a"},
        allow_redirects=False,
    ) as pressed:
        assert pressed.status == 303
    assert capture.bodies()[-1]["resource"] == "attachmentActions"
    async with http.post(
        f"{webex.url}/inbox/{BOB}/send", data={"text": "help"}, allow_redirects=False
    ) as sent:
        assert sent.status == 303
    assert capture.bodies()[-1]["data"]["personId"] == BOB
    async with http.get(f"{webex.url}/inbox/nobody") as missing:
        assert missing.status == 404
