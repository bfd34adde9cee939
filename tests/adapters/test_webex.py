"""WebexPlatform against the Webex sandbox, over real HTTP in both directions.

The sandbox signs deliveries with each webhook's own secret, serves tokens that really expire,
and refuses what Webex refuses (card edits, bot-token directory listing), so nothing here mocks
the verifier, the SDK or the token keeping.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from webexpythonsdk import ApiError, RateLimitError  # type: ignore[import-untyped]

from adapters.webex import WebexPlatform
from adapters.webex.adapter import USER_SCOPES
from adapters.webex.admin import ADMIN_SCOPES
from adapters.webex.errors import to_platform_error
from adapters.webex.inbound import command_text
from adapters.webex.render import plain_text, render_message, to_markdown
from adapters.webex.webhooks import WANTED
from bot.types import (
    Button,
    ButtonPress,
    ButtonStyle,
    DirectoryUser,
    Identity,
    InboundCommand,
    Message,
    PermanentFailure,
    Platform,
    PlatformUserId,
    RetryLater,
    TokenGrant,
)
from sandbox.org import OrgAccount, load_org
from sandbox.webex import SandboxMessage, WebexSandbox
from sandbox.webex.model import Hook
from tests.adapters.support import Recorder, serving
from tests.e2e.agents_webex import WebexAgent

ADA = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hZGE"
BOB = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I"
HELPER = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9oZWxwZXI"
REDIRECT = "https://mio.example/oauth/webex/callback"
ADMIN_REDIRECT = "https://mio.example/oauth/webex/admin-callback"
CONSENT = Message(
    text="Allow Mio to link your Webex account?",
    title="Link your *Webex* account",
    lines=("Ada asked to sync you to <https://teams.example|Teams>.",),
    buttons=(
        Button("Allow", action_id="mio:allow", value="42", style=ButtonStyle.PRIMARY),
        Button("Decline", action_id="mio:decline", value="42", style=ButtonStyle.DANGER),
        Button("Why?", url="https://mio.example/help"),
    ),
)


class Saved:
    """The core's SaveAdminGrant: keeps what the adapter asked it to persist."""

    def __init__(self) -> None:
        self.grants: list[dict[str, Any]] = []

    async def __call__(self, grant: dict[str, Any]) -> None:
        self.grants.append(grant)


@pytest.fixture
async def webex() -> AsyncIterator[WebexSandbox]:
    sandbox = WebexSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def platform(webex: WebexSandbox) -> AsyncIterator[WebexPlatform]:
    adapter = WebexPlatform.from_env(webex.env())
    assert adapter is not None
    await adapter.start()
    yield adapter
    await webex.settle()
    await adapter.close()


@pytest.fixture
async def bot(webex: WebexSandbox, platform: WebexPlatform) -> AsyncIterator[Recorder]:
    """The adapter's routes on a real server, its webhooks registered as `mio serve` does."""
    recorder = Recorder()
    async with serving(platform, recorder) as url:
        await platform.prepare(url)
        yield recorder
        await webex.settle()


def person(webex: WebexSandbox, person_id: str) -> DirectoryUser:
    p = webex.person(person_id)
    return DirectoryUser(Platform("webex"), PlatformUserId(p.id), p.email, p.display_name)


def query(location: str) -> dict[str, str]:
    return {
        k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items()
    }


async def connect_admin(
    webex: WebexSandbox, platform: WebexPlatform
) -> tuple[dict[str, Any], Saved]:
    """`mio connect webex` as Ada, the org's admin: authorize, exchange, hand to the adapter."""
    location = await webex.authorize(platform.admin_authorize_url("st", ADMIN_REDIRECT), ADA)
    grant = await platform.exchange_admin_code(query(location)["code"], ADMIN_REDIRECT)
    saved = Saved()
    platform.use_admin_grant(grant, saved)
    return grant, saved


async def link(webex: WebexSandbox, platform: WebexPlatform, person_id: str) -> TokenGrant:
    location = await webex.authorize(platform.authorize_url("st", REDIRECT), person_id)
    return await platform.exchange_code(query(location)["code"], REDIRECT)


async def until(check: Any, tries: int = 200) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


# -- settings ---------------------------------------------------------------------------------


def test_from_env_is_none_without_bot_token() -> None:
    assert WebexPlatform.from_env({}) is None
    assert WebexPlatform.from_env({"WEBEX_BOT_TOKEN": " ", "WEBEX_CLIENT_ID": "C1"}) is None


def test_from_env_names_the_missing_variable(webex: WebexSandbox) -> None:
    env = webex.env()
    del env["WEBEX_CLIENT_SECRET"]
    with pytest.raises(ValueError, match="WEBEX_CLIENT_SECRET"):
        WebexPlatform.from_env(env)
    with pytest.raises(ValueError, match="WEBEX_API_URL"):
        WebexPlatform.from_env(webex.env() | {"WEBEX_API_URL": "webexapis.com/v1"})


def test_from_env_defaults_and_trailing_slash(webex: WebexSandbox) -> None:
    default = WebexPlatform.from_env(webex.env() | {"WEBEX_API_URL": ""})
    bare = WebexPlatform.from_env(webex.env() | {"WEBEX_API_URL": f"{webex.url}/v1"})
    assert default is not None and bare is not None
    assert default.api_url == "https://webexapis.com/v1/"
    assert bare.api_url == f"{webex.url}/v1/"
    assert (WebexPlatform.name, WebexPlatform.label, bare.rate_per_second) == (
        "webex",
        "Webex",
        5.0,
    )
    for secret in (webex.bot_token, webex.client_secret, webex.webhook_secret):
        assert secret not in repr(bare)


async def test_base_url_without_slash_still_reaches_v1(webex: WebexSandbox) -> None:
    adapter = WebexPlatform.from_env(webex.env() | {"WEBEX_API_URL": f"{webex.url}/v1"})
    assert adapter is not None
    org_id, _ = await adapter.workspace()
    assert org_id == webex.state.org_id
    assert webex.calls_to("/v1/people/me")


# -- inbound ----------------------------------------------------------------------------------


async def test_signed_message_becomes_a_command_with_fetched_text(
    webex: WebexSandbox, bot: Recorder
) -> None:
    (delivery,) = await webex.send_text(BOB, "/mio sync  ada@acme.test teams ")
    assert delivery.status == 200
    (event,) = bot.events
    assert isinstance(event, InboundCommand)
    assert (event.platform, event.user_id, event.text) == (
        "webex",
        BOB,
        "sync  ada@acme.test teams",
    )
    data = json.loads(delivery.body)["data"]
    assert "text" not in data  # the webhook carries ids only; the text came from the API
    assert event.delivery_id == f"webex:messages:{data['id']}"
    fetched = webex.calls_to(f"/v1/messages/{data['id']}")
    assert fetched and fetched[0].headers["authorization"] == f"Bearer {webex.bot_token}"
    assert event.reply_to.data == {
        "room_id": data["roomId"],
        "room_type": "direct",
        "person_id": BOB,
    }


async def test_group_messages_count_only_when_they_mention_the_bot(
    webex: WebexSandbox, bot: Recorder
) -> None:
    room = webex.group("Ops", [ADA, BOB])
    assert await webex.send_text(ADA, "lunch?", room=room) == []  # Webex tells the bot nothing
    await webex.send_text(ADA, "status bob@acme.test", room=room, mention_bot=True)
    (event,) = bot.events
    assert isinstance(event, InboundCommand) and event.text == "status bob@acme.test"
    # Were an unmentioned group message delivered anyway, the adapter would still drop it.
    unmentioned = webex.messages.post(webex.person(BOB), room, text="users")
    body = webex.envelope("messages", webex.messages.event_data(unmentioned))
    assert (await webex.deliver(body)).status == 200
    assert len(bot.events) == 1


async def test_the_bots_own_messages_are_ignored(
    webex: WebexSandbox, platform: WebexPlatform, bot: Recorder
) -> None:
    await platform.send_dm(person(webex, BOB), CONSENT)
    await webex.settle()
    own = [
        d for d in webex.hooks.deliveries if json.loads(d.body)["data"]["personId"] == webex.bot.id
    ]
    assert own and all(d.status == 200 and "ignored" in d.text for d in own)
    assert bot.events == []
    (message,) = webex.inbox(BOB)
    assert not webex.calls_to(f"/v1/messages/{message.id}")  # dropped before any fetch


async def test_forged_or_missing_signature_is_refused_before_the_handler(
    webex: WebexSandbox, bot: Recorder
) -> None:
    message = webex.messages.post(webex.person(BOB), webex.state.direct_room(BOB), text="reset ada")
    body = webex.envelope("messages", webex.messages.event_data(message))
    forged = {"Content-Type": "application/json", "X-Spark-Signature": webex.sign(body, "guess")}
    assert (await webex.deliver(body, forged)).status == 401
    assert (await webex.deliver(body, {"Content-Type": "application/json"})).status == 401
    assert bot.events == []
    assert not webex.calls_to(f"/v1/messages/{message.id}")


async def test_signed_but_unreadable_bodies_are_bad_requests(
    webex: WebexSandbox, bot: Recorder
) -> None:
    assert (await webex.deliver(b"{not json")).status == 400
    assert (
        await webex.deliver(b'{"resource":"messages","event":"created","data":{}}')
    ).status == 400
    body = b'{"resource":"memberships","event":"created","data":{"id":"x"}}'
    assert (await webex.deliver(body)).status == 200
    assert bot.events == []


async def test_a_replayed_body_keeps_its_delivery_id(webex: WebexSandbox, bot: Recorder) -> None:
    await webex.send_text(ADA, "users")
    again = await webex.replay_last()
    assert again.status == 200
    first, second = bot.events
    assert first.delivery_id == second.delivery_id  # the core's processed-id table drops it
    await webex.send_text(ADA, "users")
    assert bot.events[2].delivery_id != first.delivery_id  # the same words typed again are new


async def test_card_press_becomes_a_button_press_with_the_inputs(
    webex: WebexSandbox, platform: WebexPlatform, bot: Recorder
) -> None:
    ref = await platform.send_dm(person(webex, BOB), CONSENT)
    (message,) = webex.inbox(BOB)
    (delivery,) = await webex.press(BOB, message, "mio:decline")
    assert delivery.status == 200 and "inputs" not in json.loads(delivery.body)["data"]
    (event,) = bot.events
    assert isinstance(event, ButtonPress)
    assert (event.user_id, event.action_id, event.value) == (BOB, "mio:decline", "42")
    assert event.message is not None
    assert (event.message.channel_id, event.message.message_id) == (ref.channel_id, ref.message_id)
    assert event.delivery_id.startswith("webex:attachmentActions:")


async def test_handler_failure_answers_500(webex: WebexSandbox, bot: Recorder) -> None:
    bot.fail = True
    (delivery,) = await webex.send_text(ADA, "import")
    assert delivery.status == 500 and "ref:" in delivery.text


async def test_details_that_cannot_be_read_yet_answer_503(
    webex: WebexSandbox, bot: Recorder
) -> None:
    webex.rate_limit("/v1/people/me", after=3)  # who the bot is, needed to read the event
    (delivery,) = await webex.send_text(ADA, "help")
    assert (delivery.status, bot.events) == (503, [])
    assert (await webex.replay_last()).status == 200  # Webex's next try goes through
    assert len(bot.events) == 1


async def test_the_answer_is_posted_to_the_same_space(webex: WebexSandbox, bot: Recorder) -> None:
    bot.answer = Message(text="Bob: synced on Teams ✅", title="Status")
    await webex.send_text(ADA, "status bob@acme.test")
    await until(lambda: webex.inbox(ADA))
    (answer,) = webex.inbox(ADA)
    assert answer.markdown == "**Status**\n\nBob: synced on Teams ✅"
    assert answer.room_id == webex.state.direct_room(ADA).id and not answer.attachments


def test_command_text_strips_the_bot_name_and_mio() -> None:
    names = ("Mio User Sync", "Mio")
    assert command_text("Mio User Sync sync bob teams", names) == "sync bob teams"
    assert command_text("mio, help", names) == "help"
    assert command_text("/mio reset @bob", names) == "reset @bob"
    assert command_text("Miombo is a forest", names) == "Miombo is a forest"


# -- outbound ---------------------------------------------------------------------------------


async def test_send_dm_posts_one_card_with_a_fallback(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    ref = await platform.send_dm(person(webex, BOB), CONSENT)
    sent = webex.calls_to("/v1/messages")[-1].json()
    assert sent["toPersonId"] == BOB and sent["markdown"] and sent["text"]
    (attachment,) = sent["attachments"]
    card = attachment["content"]
    assert (attachment["contentType"], card["version"]) == (
        "application/vnd.microsoft.card.adaptive",
        "1.3",
    )
    assert card["actions"] == [
        {
            "type": "Action.Submit",
            "title": "Allow",
            "data": {"action_id": "mio:allow", "value": "42"},
            "style": "positive",
        },
        {
            "type": "Action.Submit",
            "title": "Decline",
            "data": {"action_id": "mio:decline", "value": "42"},
            "style": "destructive",
        },
        {"type": "Action.OpenUrl", "title": "Why?", "url": "https://mio.example/help"},
    ]
    assert card["body"][1]["text"] == "Ada asked to sync you to [Teams](https://teams.example)."
    (message,) = webex.inbox(BOB)
    assert (ref.channel_id, ref.message_id) == (message.room_id, message.id)


async def test_update_posts_a_threaded_follow_up_and_the_old_card_stays_pressable(
    webex: WebexSandbox, platform: WebexPlatform, bot: Recorder
) -> None:
    ref = await platform.send_dm(person(webex, BOB), CONSENT)
    done = await platform.update_message(
        ref, Message(text="Linked ✅", title="Your Webex account is linked")
    )
    again = await platform.update_message(ref, Message(text="Unlinked", title="Reset"))
    card, first, second = webex.inbox(BOB)
    assert (first.parent_id, second.parent_id) == (card.id, card.id)  # all in the card's thread
    assert (done.message_id, done.channel_id, done.data["parent_id"]) == (
        first.id,
        card.room_id,
        card.id,
    )
    assert again.message_id == second.id
    assert not webex.calls_to(f"/v1/messages/{card.id}")  # never an edit (PUT) of the card
    (delivery,) = await webex.press(BOB, card, "mio:allow")
    assert delivery.status == 200 and isinstance(bot.events[-1], ButtonPress)
    threaded = await platform.update_message(done, Message(text="Once more"))
    assert threaded.data["parent_id"] == card.id  # a reply to a reply threads under the root


async def test_more_than_five_buttons_fail_before_calling_webex(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    crowded = Message(text="pick", buttons=tuple(Button(str(i), f"a{i}", str(i)) for i in range(6)))
    with pytest.raises(PermanentFailure, match="at most 5 buttons"):
        await platform.send_dm(person(webex, BOB), crowded)
    assert not webex.calls_to("/v1/messages")


async def test_429_is_retry_later_with_retry_after(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    webex.rate_limit("/v1/messages", after=7)
    with pytest.raises(RetryLater, match="429") as raised:
        await platform.send_dm(person(webex, BOB), CONSENT)
    assert raised.value.after == 7
    assert len(webex.calls_to("/v1/messages")) == 1  # the SDK did not sleep and retry by itself


async def test_server_errors_and_outages_are_retry_later(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    webex.fail("/v1/messages", 502)
    with pytest.raises(RetryLater, match="502") as raised:
        await platform.send_dm(person(webex, BOB), CONSENT)
    assert raised.value.after == 10.0
    gone = WebexPlatform.from_env(webex.env() | {"WEBEX_API_URL": "http://127.0.0.1:9/v1/"})
    assert gone is not None
    with pytest.raises(RetryLater, match="unreachable"):
        await gone.send_dm(person(webex, BOB), CONSENT)


async def test_deactivated_recipient_is_permanent(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    gone = webex.add_person(
        OrgAccount(
            "webex",
            "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9nb25l",
            "gone@acme.test",
            "Gone Person",
            active=False,
        )
    )
    with pytest.raises(PermanentFailure, match="400"):
        await platform.send_dm(person(webex, gone.id), CONSENT)


def test_error_mapping_table() -> None:
    def response(
        status: int, headers: dict[str, str] | None = None, body: Any = None
    ) -> requests.Response:
        r = requests.Response()
        r.status_code, r.reason = status, "x"
        r.headers.update({"Content-Type": "application/json", **(headers or {})})
        r._content = json.dumps(body or {"message": "nope", "trackingId": "T1"}).encode()
        r.request = requests.Request("GET", "http://h/v1/x").prepare()
        return r

    limited = to_platform_error(RateLimitError(response(429, {"Retry-After": "12"})))
    assert isinstance(limited, RetryLater) and limited.after == 12
    bot_401 = to_platform_error(ApiError(response(401)), who="bot")
    assert isinstance(bot_401, RetryLater) and "WEBEX_BOT_TOKEN" in bot_401.reason
    assert isinstance(to_platform_error(ApiError(response(401)), who="user"), PermanentFailure)
    edit = to_platform_error(ApiError(response(400, body={"message": "Cannot edit a card"})))
    assert isinstance(edit, PermanentFailure) and edit.reason.startswith("400 Cannot edit")
    busy = to_platform_error(ApiError(response(503, {"Retry-After": "30"})))
    assert isinstance(busy, RetryLater) and busy.after == 30
    assert isinstance(to_platform_error(requests.ConnectionError("refused")), RetryLater)


def test_markdown_and_plain_text() -> None:
    assert to_markdown("*Bob* is _here_, see <https://h.example|the hub>") == (
        "**Bob** is _here_, see [the hub](https://h.example)"
    )
    assert plain_text("*Bob* at <https://h.example>") == "Bob at https://h.example"
    plain = render_message(Message(text="x" * 8000))
    assert len(plain["markdown"].encode()) <= 7439 and "attachments" not in plain


def test_the_manifest_asks_for_what_the_adapter_uses() -> None:
    spec = yaml.safe_load((Path(__file__).parents[2] / "manifests/webex/app.yaml").read_text())
    integration = spec["integration"]
    assert integration["requested_scopes"] == {
        "person": " ".join(USER_SCOPES),
        "admin": " ".join(ADMIN_SCOPES),
    }
    assert set(integration["scopes"]) == {*ADMIN_SCOPES, *USER_SCOPES}
    assert integration["redirect_uris"] == [
        "https://YOUR-HOST/oauth/webex/callback",
        "https://YOUR-HOST/oauth/webex/admin-callback",
    ]
    hooks = spec["webhooks"]
    assert hooks["target_url"] == "https://YOUR-HOST/webex/events"
    assert [(h["name"], h["resource"], h["event"]) for h in hooks["subscriptions"]] == [
        (w.name, w.resource, w.event) for w in WANTED
    ]


def test_parse_mention(platform: WebexPlatform) -> None:
    assert platform.parse_mention(f"<@personId:{BOB}|Bob>") == BOB
    assert platform.parse_mention(BOB) == BOB
    assert platform.parse_mention("@Bob") is None
    assert platform.parse_mention("bob@acme.test") is None


# -- directory and the admin grant ------------------------------------------------------------


async def test_without_admin_grant_the_directory_says_how_to_connect(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    for stored in (None, {"access_token": "half a grant"}):  # never connected, or unreadable
        platform.use_admin_grant(stored, Saved())
        with pytest.raises(PermanentFailure) as raised:
            await anext(aiter(platform.list_users()))
        assert (
            str(raised.value) == "webex: directory access not authorized: run `mio connect webex`"
        )
    org_id, name = await platform.workspace()  # the bot token alone still proves the connection
    assert (org_id, name) == (webex.state.org_id, f"Webex organisation {webex.state.org_id}")


async def test_admin_grant_is_checked_and_kept(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    url = platform.admin_authorize_url("st-9", ADMIN_REDIRECT)
    assert url.startswith(
        f"{webex.url}/v1/authorize?client_id={webex.client_id}&response_type=code"
    )
    assert (
        "scope=spark-admin%3Apeople_read%20identity%3Atokens_read%20identity%3Atokens_write%20spark%3Apeople_read"
        in url
    )
    grant, saved = await connect_admin(webex, platform)
    assert set(grant) >= {"access_token", "refresh_token", "expires_at", "scope"}
    assert grant["person_id"] == ADA and saved.grants == []
    expires_at = datetime.fromisoformat(grant["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=1)
    assert await platform.workspace() == (webex.state.org_id, "Acme Robotics")


async def test_a_non_admin_cannot_grant_directory_access(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    location = await webex.authorize(platform.admin_authorize_url("st", ADMIN_REDIRECT), BOB)
    with pytest.raises(PermanentFailure, match=r"cannot list the organisation \(403"):
        await platform.exchange_admin_code(query(location)["code"], ADMIN_REDIRECT)


async def test_directory_pages_through_link_headers(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    webex.add_person(
        OrgAccount(
            "webex",
            "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ndWVzdA",
            "gus@partner.test",
            "Gus Guest",
            is_guest=True,
        )
    )
    webex.add_person(
        OrgAccount(
            "webex",
            "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9vbGQ",
            "old@acme.test",
            "Old Timer",
            active=False,
        )
    )
    invited = webex.add_person(
        OrgAccount("webex", "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9uZXc", "new@acme.test", "New Hire")
    )
    invited.invite_pending = True
    webex.people.max_page_size = 2
    webex.people.flags_as_strings = True  # "false", as Webex's OpenAPI types the flags
    await connect_admin(webex, platform)
    pages = [page async for page in platform.list_users()]
    assert [len(p) for p in pages] == [2, 2, 2, 2]
    users = {u.user_id: u for page in pages for u in page}
    assert set(users) == set(webex.state.people)
    assert users[PlatformUserId(ADA)].is_admin and not users[PlatformUserId(BOB)].is_admin
    assert users[PlatformUserId(HELPER)].is_bot
    assert users[PlatformUserId("Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ndWVzdA")].is_guest
    assert not users[PlatformUserId("Y2lzY29zcGFyazovL3VzL1BFT1BMRS9vbGQ")].is_active
    assert not users[PlatformUserId(invited.id)].is_active
    assert (
        users[PlatformUserId(BOB)].is_active and users[PlatformUserId(BOB)].email == "bob@acme.test"
    )
    calls = [c for c in webex.calls_to("/v1/people") if c.query.get("max") != "1"]  # not the probe
    assert calls[0].query == {"max": "1000"} and all("cursor" in c.query for c in calls[1:])
    assert len(calls) == 4


async def test_admin_token_is_refreshed_before_expiry_and_saved(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    grant, _ = await connect_admin(webex, platform)
    soon = dict(grant, expires_at=(datetime.now(UTC) + timedelta(minutes=20)).isoformat())
    saved = Saved()
    platform.use_admin_grant(soon, saved)
    users = [u async for page in platform.list_users() for u in page]
    assert len(users) == len(webex.state.people)
    (fresh,) = saved.grants
    assert fresh["access_token"] != grant["access_token"]
    assert fresh["refresh_token"] == grant["refresh_token"] and fresh["person_id"] == ADA
    refreshes = [
        c for c in webex.calls_to("/v1/access_token") if b"grant_type=refresh_token" in c.body
    ]
    assert len(refreshes) == 1
    await anext(aiter(platform.list_users()))
    assert len(saved.grants) == 1  # the fresh token is used, not refreshed again


async def test_an_admin_token_refused_early_is_refreshed_once(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    grant, saved = await connect_admin(webex, platform)
    del webex.state.tokens[grant["access_token"]]  # revoked behind our back
    assert await platform.workspace() == (webex.state.org_id, "Acme Robotics")
    assert len(saved.grants) == 1
    webex.oauth.revoke(
        next(a for a in webex.state.authorizations.values() if a.token == grant["refresh_token"])
    )
    with pytest.raises(PermanentFailure, match="mio connect webex"):
        await anext(aiter(platform.list_users()))


# -- webhooks ---------------------------------------------------------------------------------


async def test_prepare_creates_the_two_webhooks_once(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    said = await platform.prepare("https://mio.example/")
    assert said == [
        "created webhook “Mio User Sync: messages” (messages:created) → https://mio.example/webex/events.",
        "created webhook “Mio User Sync: card presses” (attachmentActions:created) → https://mio.example/webex/events.",
    ]
    hooks = sorted(webex.hooks.hooks.values(), key=lambda h: h.resource)
    assert [(h.resource, h.event, h.filter, h.secret) for h in hooks] == [
        ("attachmentActions", "created", "", webex.webhook_secret),
        ("messages", "created", "", webex.webhook_secret),
    ]
    again = await platform.prepare("https://mio.example")
    assert all(s.endswith("is in place.") for s in again) and len(webex.hooks.hooks) == 2


async def test_prepare_fixes_moves_and_removes_stale_webhooks(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    await platform.prepare("https://old.example")
    messages = next(h for h in webex.hooks.hooks.values() if h.resource == "messages")
    messages.secret = "leaked"
    presses = next(h for h in webex.hooks.hooks.values() if h.resource == "attachmentActions")
    del webex.hooks.hooks[presses.id]
    bot = webex.bot.id
    for hook_id, resource, flt in [
        ("dup", "messages", ""),
        ("mention", "attachmentActions", "mentionedPeople=me"),
        ("rooms", "rooms", ""),
    ]:
        webex.hooks.hooks[hook_id] = Hook(
            hook_id,
            hook_id,
            "https://old.example/webex/events",
            resource,
            "created",
            bot,
            "app",
            filter=flt,
        )
    said = await platform.prepare("https://mio.example")
    assert said[0].startswith(
        "updated webhook “Mio User Sync: messages” "
        "(target URL was https://old.example/webex/events, secret re-set"
    )
    assert said[1].startswith("created webhook “Mio User Sync: card presses”")
    assert sorted(s.split(" (")[0] for s in said[2:]) == [
        "deleted webhook dup",
        "deleted webhook mention",
        "deleted webhook rooms",
    ]
    assert "filter mentionedPeople=me" in " ".join(said)
    update = [c for c in webex.calls if c.method == "PUT" and c.path.startswith("/v1/webhooks/")]
    assert update[0].json() == {
        "name": "Mio User Sync: messages",
        "targetUrl": "https://mio.example/webex/events",
        "secret": webex.webhook_secret,
        "status": "active",
    }
    assert {(h.resource, h.target_url, h.secret) for h in webex.hooks.hooks.values()} == {
        ("messages", "https://mio.example/webex/events", webex.webhook_secret),
        ("attachmentActions", "https://mio.example/webex/events", webex.webhook_secret),
    }


# -- user OAuth and revocation ----------------------------------------------------------------


async def test_oauth_round_trip_gives_the_identity(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    url = platform.authorize_url("st-1", REDIRECT)
    assert query(url) == {
        "client_id": webex.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": " ".join(USER_SCOPES),
        "state": "st-1",
    }
    location = await webex.authorize(url, BOB)
    assert location.startswith(REDIRECT + "?") and query(location)["state"] == "st-1"
    grant = await platform.exchange_code(query(location)["code"], REDIRECT)
    assert grant.identity == Identity(PlatformUserId(BOB), "bob@acme.test")
    assert grant.refresh_token and set(grant.scope.split()) == set(USER_SCOPES)
    assert grant.expires_at is not None and grant.expires_at > datetime.now(UTC) + timedelta(
        days=13
    )
    with pytest.raises(PermanentFailure, match="invalid_grant"):
        await platform.exchange_code(query(location)["code"], REDIRECT)  # codes are single-use


async def test_declined_consent_and_wrong_client_secret(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    location = await webex.authorize(platform.authorize_url("st-2", REDIRECT), BOB, approve=False)
    assert query(location) == {"error": "access_denied", "state": "st-2"}
    wrong = WebexPlatform.from_env(webex.env() | {"WEBEX_CLIENT_SECRET": "wrong"})
    assert wrong is not None
    location = await webex.authorize(wrong.authorize_url("st-3", REDIRECT), BOB)
    with pytest.raises(RetryLater, match="WEBEX_CLIENT_SECRET"):
        await wrong.exchange_code(query(location)["code"], REDIRECT)


async def test_revoke_deletes_only_this_integrations_authorizations(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    grant = await link(webex, platform, BOB)
    with pytest.raises(PermanentFailure, match="mio connect webex"):
        await platform.revoke(grant)  # the person's own token cannot revoke itself
    admin, _ = await connect_admin(webex, platform)
    ours = [
        a
        for a in webex.state.authorizations.values()
        if a.person_id == BOB and a.integration is webex.oauth.integration
    ]
    others = [
        a.id for a in webex.state.authorizations.values() if a.integration is webex.oauth.other
    ]
    assert {a.type for a in ours} == {"refresh", "access"}
    sentence = await platform.revoke(grant)
    assert sentence == f"Webex authorization of this integration revoked for {BOB} (1 deleted)"
    assert not any(
        a.person_id == BOB and a.integration is webex.oauth.integration
        for a in webex.state.authorizations.values()
    )
    assert [a for a in others if a in webex.state.authorizations] == others  # other apps untouched
    assert (
        grant.access_token not in webex.state.tokens and admin["access_token"] in webex.state.tokens
    )
    assert not any(c.method == "DELETE" and c.path == "/v1/authorizations" for c in webex.calls)
    again = await platform.revoke(grant)
    assert again.startswith("Webex had no authorization of this integration left")


async def test_revoking_the_admin_keeps_the_directory_grant(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    await connect_admin(webex, platform)
    grant = await link(webex, platform, ADA)
    assert (await platform.revoke(grant)).startswith("Webex authorization kept")
    assert [u async for page in platform.list_users() for u in page]


# -- the end-to-end agent ---------------------------------------------------------------------


async def test_webex_agent_commands_presses_and_reads_dms(
    webex: WebexSandbox, platform: WebexPlatform, bot: Recorder
) -> None:
    agent = WebexAgent(webex, load_org())
    bot.answer = CONSENT
    seen = await agent.command("bob@acme.test", "sync ada@acme.test teams")
    assert seen.actions == {"mio:allow": "42", "mio:decline": "42"}
    assert seen.links == ["https://mio.example/help"] and "Link your Webex account" in seen.text
    bot.answer = None
    assert await agent.press("bob@acme.test", seen, "mio:allow") == 200
    press = bot.events[-1]
    assert isinstance(press, ButtonPress) and press.action_id == "mio:allow"
    assert isinstance(agent.dms("bob@acme.test")[0].raw, SandboxMessage)
    location = await agent.authorize(platform.authorize_url("s", REDIRECT), "bob@acme.test")
    assert "code=" in location and agent.user_id("BOB@acme.test") == BOB
