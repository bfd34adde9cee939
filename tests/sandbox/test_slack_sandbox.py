"""The Slack stand-in answers like Slack, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

from sandbox.org import load_org
from sandbox.slack import SandboxMessage, SlackSandbox

ORG_SLACK_IDS = {a.user_id for a in load_org().on("slack")}
ACTIONS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Allow the link?"}},
    {
        "type": "actions",
        "block_id": "mio_actions",
        "elements": [
            {"type": "button", "action_id": "mio:allow", "value": "tok-1",
             "text": {"type": "plain_text", "text": "Allow"}, "style": "primary"},
            {"type": "button", "action_id": "mio:decline", "value": "tok-1",
             "text": {"type": "plain_text", "text": "Decline"}},
        ],
    },
]  # fmt: skip


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    service = SlackSandbox(load_org())
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """Calls `{url}/api/<method>` the way a client would, returning (status, JSON)."""

    def __init__(self, sandbox: SlackSandbox, http: aiohttp.ClientSession) -> None:
        self.sandbox, self.http = sandbox, http

    async def __call__(
        self, method: str, token: str | None = "bot", *, how: str = "json", **args: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = {}
        if token is not None:
            bearer = self.sandbox.bot_token if token == "bot" else token
            headers["Authorization"] = f"Bearer {bearer}"
        url = f"{self.sandbox.url}/api/{method}"
        if how == "query":
            request = self.http.get(url, params=args, headers=headers)
        elif how == "form":
            request = self.http.post(url, data=args, headers=headers)
        else:
            request = self.http.post(url, json=args, headers=headers)
        async with request as response:
            return response.status, await response.json()

    async def post(self, user_id: str, **args: Any) -> dict[str, Any]:
        status, body = await self("chat.postMessage", channel=user_id, **args)
        assert status == 200 and body["ok"], body
        return body


@pytest.fixture
def api(sandbox: SlackSandbox, http: aiohttp.ClientSession) -> Api:
    return Api(sandbox, http)


class BotStub:
    """A stand-in for the bot's /slack/events that records what Slack would deliver."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")


@pytest.fixture
async def bot(sandbox: SlackSandbox) -> AsyncIterator[BotStub]:
    stub = BotStub()
    app = web.Application()
    app.router.add_post("/slack/events", stub.handle)
    server = TestServer(app)
    await server.start_server()
    sandbox.bot_url = str(server.make_url(""))
    yield stub
    await server.close()


# -- Web API -------------------------------------------------------------------------------
async def test_env_points_every_setting_at_the_sandbox(sandbox: SlackSandbox) -> None:
    env = sandbox.env()
    assert env["SLACK_API_URL"] == f"{sandbox.url}/api/"
    assert env["SLACK_AUTHORIZE_URL"] == f"{sandbox.url}/oauth/v2/authorize"
    assert env["SLACK_BOT_TOKEN"].startswith("xoxb-sandbox-")
    assert env["SLACK_SIGNING_SECRET"] == sandbox.signing_secret
    assert {env["SLACK_CLIENT_ID"], env["SLACK_CLIENT_SECRET"]} == {
        sandbox.client_id,
        sandbox.client_secret,
    }


async def test_missing_or_wrong_token_is_refused_with_http_200(api: Api) -> None:
    assert await api("auth.test", None) == (200, {"ok": False, "error": "not_authed"})
    assert await api("auth.test", "xoxb-wrong") == (200, {"ok": False, "error": "invalid_auth"})
    status, body = await api("auth.test")
    assert (status, body["team_id"], body["bot_id"]) == (200, "T0ACME", "B0MIOBOT")


@pytest.mark.parametrize("how", ["query", "form", "json"])
async def test_arguments_are_read_from_query_form_and_json_alike(api: Api, how: str) -> None:
    status, body = await api("users.info", how=how, user="U0ADA")
    assert status == 200
    assert body["user"]["profile"]["email"] == "ada@acme.test"


async def test_users_list_pages_with_opaque_cursors(api: Api) -> None:
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(10):
        _, page = await api("users.list", how="query", limit=4, cursor=cursor)
        assert len(page["members"]) <= 4
        seen += page["members"]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    ids = [m["id"] for m in seen]
    assert set(ids) == ORG_SLACK_IDS | {"USLACKBOT", "U0MIOBOT"}
    assert len(ids) == len(set(ids))
    slackbot = next(m for m in seen if m["id"] == "USLACKBOT")
    assert slackbot["is_bot"] is False and "email" not in slackbot["profile"]
    heidi = next(m for m in seen if m["id"] == "U0HEIDI")
    assert heidi["deleted"] is True


async def test_users_list_caps_the_page_and_rejects_a_bad_cursor(
    sandbox: SlackSandbox, api: Api
) -> None:
    sandbox.max_page_size = 2
    _, page = await api("users.list", how="query", limit=200)
    assert len(page["members"]) == 2 and page["response_metadata"]["next_cursor"]
    assert (await api("users.list", cursor="%%%"))[1]["error"] == "invalid_cursor"


async def test_post_to_a_user_id_lands_in_the_dm_channel(sandbox: SlackSandbox, api: Api) -> None:
    first = await api.post("U0BOB", text="Allow?", blocks=ACTIONS)
    second = await api.post("U0BOB", text="Reminder")
    _, opened = await api("conversations.open", how="query", users="U0BOB")
    assert first["channel"] == second["channel"] == opened["channel"]["id"]
    assert first["channel"].startswith("D")
    assert first["ts"] != second["ts"]
    assert first["message"]["bot_id"] == "B0MIOBOT"
    assert [(m.text, m.blocks) for m in sandbox.inbox("U0BOB")] == [
        ("Allow?", ACTIONS),
        ("Reminder", []),
    ]
    assert sandbox.inbox("U0ADA") == []


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("U0NOBODY", "channel_not_found"),
        ("D0NOTMINE", "channel_not_found"),
        ("U0HEIDI", "user_disabled"),
        ("U0DEPLOYBOT", "cannot_dm_bot"),
    ],
)
async def test_post_refuses_recipients_slack_refuses(api: Api, channel: str, error: str) -> None:
    assert await api("chat.postMessage", channel=channel, text="hi") == (
        200,
        {"ok": False, "error": error},
    )


async def test_post_validates_content_like_slack(api: Api) -> None:
    assert (await api("chat.postMessage", channel="U0ADA"))[1]["error"] == "no_text"
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}
    too_long = [{"type": "actions", "elements": [button]}]
    _, body = await api("chat.postMessage", channel="U0ADA", text="t", blocks=too_long)
    assert body["error"] == "invalid_blocks"
    assert "1–75" in body["errors"][0]


async def test_blocks_sent_as_a_form_string_are_parsed(sandbox: SlackSandbox, api: Api) -> None:
    await api.post("U0ADA", how="form", text="Allow?", blocks=json.dumps(ACTIONS))
    assert sandbox.inbox("U0ADA")[0].blocks == ACTIONS


async def test_update_edits_in_place_and_keeps_blocks_unless_sent(
    sandbox: SlackSandbox, api: Api
) -> None:
    sent = await api.post("U0BOB", text="Allow?", blocks=ACTIONS)
    channel, ts = sent["channel"], sent["ts"]
    await api("chat.update", channel=channel, ts=ts, text="Text only")
    [message] = sandbox.inbox("U0BOB")
    assert (message.text, message.blocks, message.edited) == ("Text only", ACTIONS, 1)
    await api("chat.update", channel=channel, ts=ts, text="Synced", blocks=[])
    assert (message.text, message.blocks, message.edited) == ("Synced", [], 2)


@pytest.mark.parametrize(
    ("target", "error"),
    [("user", "channel_not_found"), ("ts", "message_not_found")],
)
async def test_update_needs_the_dm_channel_and_a_known_ts(
    api: Api, target: str, error: str
) -> None:
    sent = await api.post("U0BOB", text="Allow?")
    channel = "U0BOB" if target == "user" else sent["channel"]
    ts = "1.000000" if target == "ts" else sent["ts"]
    assert (await api("chat.update", channel=channel, ts=ts, text="x"))[1]["error"] == error


async def test_post_ephemeral_is_recorded_apart_from_the_inbox(
    sandbox: SlackSandbox, api: Api
) -> None:
    channel = (await api.post("U0ADA", text="hello"))["channel"]
    _, body = await api("chat.postEphemeral", channel=channel, user="U0ADA", text="psst")
    assert body["ok"] and body["message_ts"]
    assert [m.text for m in sandbox.ephemerals] == ["psst"]
    assert [m.text for m in sandbox.inbox("U0ADA")] == ["hello"]


async def test_rate_limit_fault_answers_429_with_retry_after(
    sandbox: SlackSandbox, api: Api, http: aiohttp.ClientSession
) -> None:
    sandbox.fail("chat.postMessage", 429, headers={"Retry-After": "1"}, times=3)
    url = f"{sandbox.url}/api/chat.postMessage"
    auth = {"Authorization": f"Bearer {sandbox.bot_token}"}
    for _ in range(3):
        async with http.post(url, json={"channel": "U0ADA", "text": "hi"}, headers=auth) as r:
            assert (r.status, r.headers["Retry-After"]) == (429, "1")
            assert await r.json() == {"ok": False, "error": "ratelimited"}
    assert (await api("chat.postMessage", channel="U0ADA", text="hi"))[1]["ok"] is True
    assert [c.status for c in sandbox.calls_to("chat.postMessage")] == [429, 429, 429, 200]


async def test_server_error_fault_and_unknown_method(sandbox: SlackSandbox, api: Api) -> None:
    sandbox.fail("users.list", 500)
    assert await api("users.list") == (500, {"ok": False, "error": "fatal_error"})
    assert await api("nope.nothing") == (404, {"ok": False, "error": "unknown_method"})


# -- OAuth v2 ------------------------------------------------------------------------------
REDIRECT = "https://bot.example/oauth/slack/callback"


def _authorize_url(sandbox: SlackSandbox, client_id: str | None = None) -> str:
    return (
        f"{sandbox.url}/oauth/v2/authorize?client_id={client_id or sandbox.client_id}"
        f"&scope=&user_scope=users:read,chat:write&redirect_uri={REDIRECT}&state=s-1"
    )


async def test_consent_page_lists_active_people_only(
    sandbox: SlackSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(_authorize_url(sandbox)) as page:
        html = await page.text()
    assert page.status == 200
    assert "Mio is requesting permission to access the Acme Robotics Slack workspace" in html
    assert 'value="U0ADA"' in html and 'value="U0IVAN"' in html
    for absent in ("U0HEIDI", "U0DEPLOYBOT", "USLACKBOT", "U0MIOBOT"):
        assert f'value="{absent}"' not in html
    assert "<li>chat:write</li>" in html
    async with http.get(_authorize_url(sandbox, client_id="999.999")) as bad:
        assert bad.status == 400 and "client_id" in await bad.text()


async def test_allow_issues_a_single_use_code_exchanged_with_basic_auth(
    sandbox: SlackSandbox, http: aiohttp.ClientSession
) -> None:
    location = await sandbox.authorize(_authorize_url(sandbox), "U0ADA")
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-1"]
    form = {"code": query["code"][0], "redirect_uri": REDIRECT}
    auth = {"Authorization": aiohttp.encode_basic_auth(sandbox.client_id, sandbox.client_secret)}
    url = f"{sandbox.url}/api/oauth.v2.access"
    async with http.post(url, data=form, headers=auth) as r:
        granted = await r.json()
    user = granted["authed_user"]
    assert (user["id"], user["scope"], user["token_type"]) == (
        "U0ADA",
        "users:read,chat:write",
        "user",
    )
    assert sandbox.user_tokens[user["access_token"]] == "U0ADA"
    assert user["access_token"].startswith("xoxp-")
    async with http.post(url, data=form, headers=auth) as again:
        assert await again.json() == {"ok": False, "error": "invalid_code"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "1.2"}, "invalid_client_id"),
        ({"client_secret": "wrong"}, "bad_client_secret"),
        ({"redirect_uri": "https://elsewhere.example/cb"}, "bad_redirect_uri"),
        ({"code": "made-up"}, "invalid_code"),
    ],
)
async def test_code_exchange_refusals(
    sandbox: SlackSandbox, api: Api, change: dict[str, str], error: str
) -> None:
    location = await sandbox.authorize(_authorize_url(sandbox), "U0BOB")
    form = {
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "code": parse_qs(urlsplit(location).query)["code"][0],
        "redirect_uri": REDIRECT,
    } | change
    assert await api("oauth.v2.access", None, how="form", **form) == (
        200,
        {"ok": False, "error": error},
    )


async def test_cancel_redirects_with_access_denied(sandbox: SlackSandbox) -> None:
    location = await sandbox.authorize(_authorize_url(sandbox), "U0ADA", approve=False)
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["s-1"]}


async def test_auth_revoke_kills_the_user_token(sandbox: SlackSandbox, api: Api) -> None:
    location = await sandbox.authorize(_authorize_url(sandbox), "U0CAROL")
    code = parse_qs(urlsplit(location).query)["code"][0]
    _, granted = await api(
        "oauth.v2.access", None, how="form", client_id=sandbox.client_id,
        client_secret=sandbox.client_secret, code=code, redirect_uri=REDIRECT,
    )  # fmt: skip
    token = granted["authed_user"]["access_token"]
    assert (await api("auth.test", token))[1]["user_id"] == "U0CAROL"
    assert (await api("auth.revoke", token, how="query", test="true"))[1]["revoked"] is False
    assert (await api("auth.revoke", token, how="query"))[1] == {"ok": True, "revoked": True}
    assert token in sandbox.revoked
    assert (await api("auth.test", token))[1] == {"ok": False, "error": "token_revoked"}


# -- signed deliveries to the bot ------------------------------------------------------------
async def test_signature_matches_slack_sdks_verifier(sandbox: SlackSandbox) -> None:
    body = b"token=x&command=%2Fmio"
    verifier = SignatureVerifier(sandbox.signing_secret)
    assert verifier.is_valid_request(body, sandbox.sign(body))
    assert not verifier.is_valid_request(body, sandbox.sign(body, ts=int(time.time()) - 360))
    assert not SignatureVerifier("other").is_valid_request(body, sandbox.sign(body))


async def test_slash_command_is_a_signed_form_like_slacks(
    sandbox: SlackSandbox, bot: BotStub
) -> None:
    assert await sandbox.slash_command("U0ADA", "sync <@U0BOB|bob> zoom") == (200, "ok")
    [(headers, body)] = bot.requests
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(sandbox.signing_secret).is_valid_request(body, headers)
    form = dict(parse_qs(body.decode()))
    assert list(form)[:9] == [
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text",
    ]  # fmt: skip
    assert form["command"] == ["/mio"] and form["text"] == ["sync <@U0BOB|bob> zoom"]
    assert form["user_id"] == ["U0ADA"] and form["team_id"] == ["T0ACME"]
    assert form["response_url"][0].startswith(f"{sandbox.url}/response/")
    assert form["trigger_id"][0]


async def _posted(sandbox: SlackSandbox, user_id: str) -> SandboxMessage:
    async with aiohttp.ClientSession() as http:
        await Api(sandbox, http).post(user_id, text="Allow?", blocks=ACTIONS)
    return sandbox.inbox(user_id)[-1]


async def test_press_sends_block_actions_with_the_buttons_value(
    sandbox: SlackSandbox, bot: BotStub
) -> None:
    message = await _posted(sandbox, "U0BOB")
    assert (await sandbox.press("U0BOB", message, "mio:allow"))[0] == 200
    [(headers, body)] = bot.requests
    assert SignatureVerifier(sandbox.signing_secret).is_valid_request(body, headers)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0BOB"
    assert payload["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": message.channel,
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"], action["style"]) == (
        "mio:allow",
        "tok-1",
        "mio_actions",
        "primary",
    )
    with pytest.raises(LookupError):
        await sandbox.press("U0BOB", message, "mio:missing")


class AnsweringBot(BotStub):
    """Acks every delivery with an ephemeral answer carrying a button, as /mio sync does."""

    async def handle(self, request: web.Request) -> web.Response:
        await super().handle(request)
        return web.json_response(
            {"response_type": "ephemeral", "text": "Sure?", "blocks": ACTIONS[1:]}
        )


async def test_command_answers_are_ephemeral_and_their_buttons_pressable(
    sandbox: SlackSandbox,
) -> None:
    stub = AnsweringBot()
    app = web.Application()
    app.router.add_post("/slack/events", stub.handle)
    server = TestServer(app)
    await server.start_server()
    sandbox.bot_url = str(server.make_url(""))
    try:
        await sandbox.slash_command("U0ADA", "reset <@U0BOB>")
        [answer] = sandbox.ephemerals
        assert (answer.text, answer.blocks, answer.user) == ("Sure?", ACTIONS[1:], "U0MIOBOT")
        assert sandbox.inbox("U0ADA") == []
        await sandbox.press("U0ADA", answer, "mio:allow")
    finally:
        await server.close()
    payload = json.loads(parse_qs(stub.requests[1][1].decode())["payload"][0])
    assert payload["container"]["is_ephemeral"] is True
    assert payload["container"]["message_ts"] == answer.ts
    assert "message" not in payload  # Slack never shows the app an ephemeral message


async def test_response_url_records_and_replaces_the_pressed_message(
    sandbox: SlackSandbox, bot: BotStub, http: aiohttp.ClientSession
) -> None:
    message = await _posted(sandbox, "U0BOB")
    await sandbox.press("U0BOB", message, "mio:decline")
    response_url = json.loads(parse_qs(bot.requests[0][1].decode())["payload"][0])["response_url"]

    async def answer(body: dict[str, Any]) -> int:
        async with http.post(response_url, json=body) as response:
            return response.status

    assert await answer({"text": "Not for you", "replace_original": False}) == 200
    assert await answer({"text": "Declined", "replace_original": True}) == 200
    assert [r["text"] for r in sandbox.responses["U0BOB"]] == ["Not for you", "Declined"]
    assert (message.text, message.blocks, message.edited) == ("Declined", [], 1)
    assert [await answer({"text": "again"}) for _ in range(4)] == [200, 200, 200, 404]  # 5 uses


async def test_dm_retry_resends_the_same_event_with_retry_headers(
    sandbox: SlackSandbox, bot: BotStub
) -> None:
    await sandbox.dm_bot("U0ADA", "/mio help", event_id="Ev0TEST")
    await sandbox.dm_bot("U0ADA", "/mio help", event_id="Ev0TEST", retry_num=1)
    (first_headers, first), (retry_headers, retried) = bot.requests
    assert first == retried
    assert "X-Slack-Retry-Num" not in first_headers
    assert (retry_headers["X-Slack-Retry-Num"], retry_headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    envelope = json.loads(first)
    assert (envelope["type"], envelope["event_id"]) == ("event_callback", "Ev0TEST")
    event = envelope["event"]
    assert (event["type"], event["channel_type"], event["user"], event["text"]) == (
        "message",
        "im",
        "U0ADA",
        "/mio help",
    )
    assert event["channel"] == sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")


async def test_url_verification_carries_a_challenge(sandbox: SlackSandbox, bot: BotStub) -> None:
    await sandbox.url_verification("abc123")
    body = json.loads(bot.requests[0][1])
    assert (body["type"], body["challenge"]) == ("url_verification", "abc123")


async def test_inbox_page_shows_the_dm_with_working_buttons(
    sandbox: SlackSandbox, bot: BotStub, http: aiohttp.ClientSession
) -> None:
    message = await _posted(sandbox, "U0BOB")
    async with http.get(f"{sandbox.url}/inbox/U0BOB") as page:
        html = await page.text()
    assert "Allow the link?" in html and 'value="mio:allow"' in html
    form = {"channel": message.channel, "ts": message.ts, "action_id": "mio:allow"}
    async with http.post(f"{sandbox.url}/inbox/U0BOB/press", data=form) as pressed:
        assert pressed.status == 200  # redirected back to the inbox
    payload = json.loads(parse_qs(bot.requests[0][1].decode())["payload"][0])
    assert payload["actions"][0]["action_id"] == "mio:allow"
