"""The Slack adapter against the Slack stand-in, over real HTTP both ways.

The sandbox signs deliveries with the real v0 algorithm and Bolt's own verifier checks them;
nothing is mocked between the adapter and the wire.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack import SlackPlatform
from adapters.slack.adapter import USER_SCOPES
from adapters.slack.inbound import reparse_misread_form, strip_command
from adapters.slack.render import render_blocks
from bot.platform import EventHandler
from bot.types import (
    Button,
    ButtonPress,
    ButtonStyle,
    DirectoryUser,
    Identity,
    InboundCommand,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    ReplyTarget,
    RetryLater,
)
from sandbox.org import load_org
from sandbox.slack import SlackSandbox
from sandbox.slack.payloads import envelope
from tests.adapters.support import Recorder, serving

SLACK = Platform("slack")
FORM = "application/x-www-form-urlencoded"
MANIFEST = Path(__file__).parents[2] / "manifests" / "slack" / "manifest.yaml"
CALLBACK = "http://127.0.0.1:3978/oauth/slack/callback"
CONSENT = Message(
    text="Allow Mio to link your Zoom account?",
    title="Link your accounts",
    lines=("*Ada* asked to sync you to _Zoom_.", "You can change this later."),
    buttons=(
        Button("Allow", "mio:allow", "tok-1", ButtonStyle.PRIMARY),
        Button("Decline", "mio:decline", "tok-1", ButtonStyle.DANGER),
    ),
)


def person(user_id: str) -> DirectoryUser:
    return DirectoryUser(SLACK, PlatformUserId(user_id), None, user_id)


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    service = SlackSandbox(load_org())
    await service.start()
    yield service
    await service.stop()


@asynccontextmanager
async def connected(env: dict[str, str]) -> AsyncIterator[SlackPlatform]:
    platform = SlackPlatform.from_env(env)
    assert platform is not None
    await platform.start()
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
async def slack(sandbox: SlackSandbox) -> AsyncIterator[SlackPlatform]:
    async with connected(sandbox.env()) as platform:
        yield platform


@asynccontextmanager
async def serving_to(
    platform: SlackPlatform, handler: EventHandler, sandbox: SlackSandbox
) -> AsyncIterator[None]:
    """The adapter's routes on a real loopback server, with the sandbox delivering to it."""
    async with serving(platform, handler) as url:
        sandbox.bot_url = url
        yield


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def bot(
    sandbox: SlackSandbox, slack: SlackPlatform, recorder: Recorder
) -> AsyncIterator[None]:
    async with serving_to(slack, recorder, sandbox):
        yield


def _command_body(sandbox: SlackSandbox, text: str) -> bytes:
    form = {"token": "x", "team_id": sandbox.workspace.team_id, "user_id": "U0ADA",
            "command": "/mio", "text": text, "trigger_id": "1.2.3",
            "response_url": f"{sandbox.url}/response/none"}  # fmt: skip
    return urlencode(form).encode()


# -- settings --------------------------------------------------------------------------------
def test_from_env_is_none_without_a_bot_token() -> None:
    assert SlackPlatform.from_env({}) is None
    assert SlackPlatform.from_env({"SLACK_BOT_TOKEN": " ", "SLACK_CLIENT_ID": "1"}) is None


def test_from_env_names_the_missing_variable(sandbox: SlackSandbox) -> None:
    env = sandbox.env()
    del env["SLACK_CLIENT_SECRET"]
    with pytest.raises(ValueError, match="SLACK_CLIENT_SECRET"):
        SlackPlatform.from_env(env)


def test_from_env_defaults_to_the_public_service() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1.2",
           "SLACK_CLIENT_SECRET": "c"}  # fmt: skip
    platform = SlackPlatform.from_env(env)
    assert platform is not None
    assert platform.authorize_url("s", CALLBACK).startswith("https://slack.com/oauth/v2/authorize?")
    assert repr(platform) == "SlackPlatform(api_url='https://slack.com/api/')"
    assert (SlackPlatform.name, SlackPlatform.label, SlackPlatform.rate_per_second) == (
        "slack",
        "Slack",
        1.0,
    )


# -- inbound: slash commands ---------------------------------------------------------------------
async def test_slash_command_reaches_the_handler_and_the_ack_carries_blocks(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    recorder.answer = CONSENT
    status, body = await sandbox.slash_command("U0ADA", "status <@U0BOB|bob>")
    assert status == 200
    [event] = recorder.events
    assert isinstance(event, InboundCommand)
    assert (event.platform, event.user_id, event.text) == (SLACK, "U0ADA", "status <@U0BOB|bob>")
    assert event.delivery_id.startswith("slack:cmd:") and len(event.delivery_id) > 10
    assert event.reply_to.data["response_url"].startswith(f"{sandbox.url}/response/")
    assert event.reply_to.data["channel_id"] == sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    ack = json.loads(body)
    assert ack == {
        "text": CONSENT.text,
        "response_type": "ephemeral",
        "blocks": render_blocks(CONSENT),
    }


async def test_in_channel_answer_and_silent_ack(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    recorder.answer = Message(text="Imported 9 people", ephemeral=False)
    status, body = await sandbox.slash_command("U0ADA", "import")
    assert (status, json.loads(body)["response_type"]) == (200, "in_channel")
    recorder.answer = None
    assert await sandbox.slash_command("U0ADA", "import") == (200, "")
    first, second = recorder.events
    assert first.delivery_id != second.delivery_id


async def test_forged_signature_is_refused_before_the_handler(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    body = _command_body(sandbox, "reset <@U0BOB>")
    forged = {"X-Slack-Signature": "v0=" + "0" * 64}
    status, text = await sandbox.deliver(body, FORM, headers=forged)
    assert (status, json.loads(text)) == (401, {"error": "invalid request"})
    assert recorder.events == []


async def test_six_minute_old_timestamp_is_refused(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    body = _command_body(sandbox, "users")
    stale = sandbox.sign(body, ts=int(time.time()) - 6 * 60)
    assert (await sandbox.deliver(body, FORM, headers=stale))[0] == 401
    assert recorder.events == []


async def test_command_text_mentioning_payload_is_not_lost(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    recorder.answer = Message(text="Which people?")
    status, body = await sandbox.slash_command("U0ADA", "sync payload-team zoom")
    assert (status, json.loads(body)["text"]) == (200, "Which people?")
    [event] = recorder.events
    assert isinstance(event, InboundCommand)
    assert (event.user_id, event.text) == ("U0ADA", "sync payload-team zoom")


def test_bolt_still_misreads_payload_in_commands() -> None:
    """Guards the workaround: when this fails, Bolt fixed §I.11 and the workaround can go."""
    raw = "command=%2Fmio&text=sync+payload-team+zoom&user_id=U0ADA"
    request = AsyncBoltRequest(body=raw, headers={"content-type": FORM})
    assert request.body == {}
    reparse_misread_form(request)
    assert request.body["text"] == "sync payload-team zoom"
    assert request.context.user_id == "U0ADA"
    assert request.raw_body == raw  # the signature is still checked over these bytes


def test_the_workaround_leaves_real_interactivity_alone() -> None:
    raw = urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"}})})
    request = AsyncBoltRequest(body=raw, headers={"content-type": FORM})
    reparse_misread_form(request)
    assert request.body["type"] == "block_actions"


# -- inbound: buttons ------------------------------------------------------------------------
async def test_button_press_names_the_message_and_answers_only_the_presser(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    ref = await slack.send_dm(person("U0BOB"), CONSENT)
    [message] = sandbox.inbox("U0BOB")
    recorder.answer = Message(text="This button is not for you.", ephemeral=False)
    assert (await sandbox.press("U0BOB", message, "mio:allow"))[0] == 200
    [press] = recorder.events
    assert isinstance(press, ButtonPress)
    assert (press.user_id, press.action_id, press.value) == ("U0BOB", "mio:allow", "tok-1")
    assert press.message == MessageRef(SLACK, ref.channel_id, ref.message_id)
    assert press.delivery_id.startswith("slack:act:")
    assert press.reply_to.data["channel_id"] == ref.channel_id
    assert sandbox.responses["U0BOB"] == [
        {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": "This button is not for you.",
        }
    ]
    assert message.edited == 0  # the DM itself is the core's to edit, via update_message


async def test_press_in_an_ephemeral_answer_replaces_that_answer(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    recorder.answer = Message(
        text="Sync Bob to Zoom?", buttons=(Button("Confirm", "mio:confirm", "c-1"),)
    )
    await sandbox.slash_command("U0ADA", "sync <@U0BOB> zoom")
    [prompt] = sandbox.ephemerals
    assert sandbox.inbox("U0ADA") == []  # Slack shows an ephemeral answer outside the history
    recorder.answer = Message(text="Asked Bob.")
    assert (await sandbox.press("U0ADA", prompt, "mio:confirm"))[0] == 200
    press = recorder.events[-1]
    assert isinstance(press, ButtonPress)
    assert (press.action_id, press.value, press.message) == ("mio:confirm", "c-1", None)
    assert (prompt.text, prompt.blocks, prompt.edited) == ("Asked Bob.", [], 1)
    assert sandbox.responses["U0ADA"][-1]["replace_original"] is True


async def test_link_button_click_is_acked_without_the_handler(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    link = Message(text="Authorize", buttons=(Button("Open Zoom", url="https://zoom.example/a"),))
    await slack.send_dm(person("U0CAROL"), link)
    [message] = sandbox.inbox("U0CAROL")
    assert await sandbox.press("U0CAROL", message, "link:0") == (200, "")
    assert recorder.events == []


# -- inbound: DMs to the bot -------------------------------------------------------------------
async def test_dm_is_a_command_and_a_retry_keeps_its_delivery_id(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    recorder.answer = Message(text="Try /mio help")
    assert (await sandbox.dm_bot("U0ADA", "/mio status <@U0BOB>", event_id="Ev0ONE"))[0] == 200
    retry = await sandbox.dm_bot("U0ADA", "/mio status <@U0BOB>", event_id="Ev0ONE", retry_num=1)
    assert retry[0] == 200
    first, second = recorder.events
    assert isinstance(first, InboundCommand)
    assert first.delivery_id == second.delivery_id == "slack:evt:Ev0ONE"
    assert (first.user_id, first.text) == ("U0ADA", "status <@U0BOB>")
    dm = sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    assert first.reply_to == ReplyTarget(SLACK, {"channel_id": dm})
    assert [m.text for m in sandbox.inbox("U0ADA")] == ["Try /mio help", "Try /mio help"]


async def test_dm_during_a_slack_outage_is_refused_so_slack_retries_it(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    sandbox.fail("auth.test", 503)  # Bolt authorizes the first delivery with auth.test
    assert (await sandbox.dm_bot("U0ADA", "help", event_id="Ev0OUTAGE"))[0] == 500
    assert recorder.events == []
    retry = await sandbox.dm_bot("U0ADA", "help", event_id="Ev0OUTAGE", retry_num=1)
    assert retry[0] == 200
    [event] = recorder.events
    assert event.delivery_id == "slack:evt:Ev0OUTAGE"


async def test_bot_messages_and_edits_are_acked_but_not_handled(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    dm = sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    events: list[dict[str, Any]] = [
        {"type": "message", "channel_type": "im", "channel": dm, "user": sandbox.bot_user_id,
         "bot_id": "B0MIOBOT", "text": "Synced", "ts": "1.000001"},
        {"type": "message", "channel_type": "im", "channel": dm, "subtype": "message_changed",
         "message": {"text": "x"}, "ts": "1.000002"},
        {"type": "message", "channel_type": "channel", "channel": "C1", "user": "U0ADA",
         "text": "help", "ts": "1.000003"},
    ]  # fmt: skip
    for n, event in enumerate(events):
        body = json.dumps(envelope(sandbox.workspace, f"Ev0SKIP{n}", event)).encode()
        assert (await sandbox.deliver(body, "application/json"))[0] == 200
    assert recorder.events == []


async def test_url_verification_echoes_the_challenge(sandbox: SlackSandbox, bot: None) -> None:
    status, body = await sandbox.url_verification("chal-123")
    assert (status, json.loads(body)) == (200, {"challenge": "chal-123"})


async def test_client_id_in_os_environ_does_not_switch_bolt_to_oauth(
    sandbox: SlackSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§I.16: Bolt reads SLACK_CLIENT_ID/SECRET from os.environ and would drop the bot token."""
    monkeypatch.setenv("SLACK_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", sandbox.client_secret)
    recorder = Recorder(answer=Message(text="pong"))
    async with connected(sandbox.env()) as platform, serving_to(platform, recorder, sandbox):
        status, body = await sandbox.slash_command("U0ADA", "help")
    assert (status, json.loads(body)["text"]) == (200, "pong")
    assert len(recorder.events) == 1


def test_strip_command() -> None:
    assert strip_command("/mio sync <@U1> zoom") == "sync <@U1> zoom"
    assert strip_command("  /mio  ") == ""
    assert strip_command("/mionotacommand") == "/mionotacommand"
    assert strip_command("help") == "help"


# -- directory -------------------------------------------------------------------------------
async def test_workspace_is_the_team(slack: SlackPlatform) -> None:
    assert await slack.workspace() == ("T0ACME", "Acme Robotics")


async def test_list_users_pages_and_maps_what_slack_marks(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    sandbox.max_page_size = 3
    pages = [page async for page in slack.list_users()]
    assert [len(page) for page in pages] == [3, 3, 3, 2]  # 9 people + Slackbot + Mio
    calls = sandbox.calls_to("users.list")
    assert [c.query.get("limit") for c in calls] == ["200"] * 4
    users = {u.user_id: u for page in pages for u in page}
    ada, bob = users[PlatformUserId("U0ADA")], users[PlatformUserId("U0BOB")]
    assert (ada.email, ada.display_name, ada.is_admin, ada.is_bot) == (
        "ada@acme.test",
        "Ada Lovelace",
        True,
        False,
    )
    assert bob.email == " Bob@Acme.test " and not bob.is_admin  # normalising is the core's job
    assert not users[PlatformUserId("U0HEIDI")].is_active
    assert users[PlatformUserId("U0IVAN")].is_guest
    for bot_id in ("U0DEPLOYBOT", "USLACKBOT", "U0MIOBOT"):
        assert users[PlatformUserId(bot_id)].is_bot, bot_id
    assert users[PlatformUserId("USLACKBOT")].email is None
    assert all(u.platform == SLACK for u in users.values())


@pytest.mark.parametrize(
    ("token", "expected"),
    [("<@U0BOB>", "U0BOB"), ("<@U0BOB|bob>", "U0BOB"), ("<@W12AB|x y>", "W12AB"),
     ("@bob", None), ("<#C123|general>", None), ("U0BOB", None), ("<@U0BOB> extra", None)],
)  # fmt: skip
def test_parse_mention(slack: SlackPlatform, token: str, expected: str | None) -> None:
    assert slack.parse_mention(token) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("<mailto:bob@acme.test|bob@acme.test>", "bob@acme.test"),
     ("<mailto:bob@acme.test>", "bob@acme.test"), ("bob@acme.test", "bob@acme.test"),
     ("Bob Builder", "Bob Builder"), ("<mailto:bob@acme.test", "<mailto:bob@acme.test")],
)  # fmt: skip
def test_typed_email_comes_out_of_slacks_mailto_link(
    slack: SlackPlatform, text: str, expected: str
) -> None:
    assert slack.normalise_user_text(text) == expected


# -- outbound --------------------------------------------------------------------------------
def test_render_blocks() -> None:
    blocks = render_blocks(
        Message(
            text="fallback",
            title="Sync",
            lines=("one", "two"),
            buttons=(
                Button("x" * 100, "mio:a", "v", ButtonStyle.PRIMARY),
                Button("Plain", "mio:b"),
                Button("Open", url="https://example.test"),
            ),
        )
    )
    header, one, two, actions = blocks
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Sync"}}
    assert one == {"type": "section", "text": {"type": "mrkdwn", "text": "one"}}
    assert two["text"]["text"] == "two"
    assert actions["block_id"] == "mio_actions"
    primary, plain, link = actions["elements"]
    assert len(primary["text"]["text"]) == 75 and primary["style"] == "primary"
    assert (primary["action_id"], primary["value"], primary["type"]) == ("mio:a", "v", "button")
    assert "style" not in plain and "value" not in plain
    assert (link["action_id"], link["url"]) == ("link:2", "https://example.test")
    assert render_blocks(Message(text="only text")) == []


async def test_send_dm_then_update_edits_the_same_message(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    ref = await slack.send_dm(person("U0BOB"), CONSENT)
    [message] = sandbox.inbox("U0BOB")
    assert ref == MessageRef(SLACK, message.channel, message.ts)
    assert ref.channel_id.startswith("D")
    assert message.blocks == render_blocks(CONSENT)
    synced = Message(text="You are synced", lines=("✅ Linked to Zoom",))
    assert await slack.update_message(ref, synced) == ref
    assert sandbox.inbox("U0BOB") == [message]
    assert (message.text, message.edited) == ("You are synced", 1)
    assert [b["type"] for b in message.blocks] == ["section"]  # Allow/Decline are gone
    await slack.update_message(ref, Message(text="Done"))
    assert (message.text, message.blocks, message.edited) == ("Done", [], 2)


async def test_rate_limit_is_retry_later_with_retry_after(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    sandbox.fail("chat.postMessage", 429, headers={"Retry-After": "7"})
    with pytest.raises(RetryLater) as raised:
        await slack.send_dm(person("U0BOB"), CONSENT)
    assert (raised.value.after, raised.value.reason) == (7.0, "ratelimited")
    assert (await slack.send_dm(person("U0BOB"), CONSENT)).channel_id.startswith("D")


async def test_server_error_is_retry_later(sandbox: SlackSandbox, slack: SlackPlatform) -> None:
    sandbox.fail("chat.update", 500)
    ref = await slack.send_dm(person("U0BOB"), CONSENT)
    with pytest.raises(RetryLater) as raised:
        await slack.update_message(ref, Message(text="x"))
    assert raised.value.after is None
    assert sandbox.inbox("U0BOB")[0].edited == 0


async def test_unreachable_slack_is_retry_later(sandbox: SlackSandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = sandbox.env() | {"SLACK_API_URL": f"http://127.0.0.1:{port}/api/"}
    async with connected(env) as platform:
        with pytest.raises(RetryLater, match="unreachable"):
            await platform.workspace()


@pytest.mark.parametrize(
    ("user_id", "reason"),
    [("U0NOBODY", "channel_not_found"), ("U0HEIDI", "user_disabled"),
     ("U0DEPLOYBOT", "cannot_dm_bot")],
)  # fmt: skip
async def test_undeliverable_recipient_is_permanent(
    slack: SlackPlatform, user_id: str, reason: str
) -> None:
    with pytest.raises(PermanentFailure) as raised:
        await slack.send_dm(person(user_id), CONSENT)
    assert raised.value.reason == reason


async def test_wrong_bot_token_is_invalid_auth_retried_later(sandbox: SlackSandbox) -> None:
    async with connected(sandbox.env() | {"SLACK_BOT_TOKEN": "xoxb-wrong"}) as platform:
        with pytest.raises(RetryLater) as raised:
            await platform.workspace()
    assert (raised.value.reason, raised.value.after) == ("invalid_auth", 60.0)


async def test_reply_goes_to_response_url_or_the_channel(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await sandbox.slash_command("U0ADA", "import")
    [command] = recorder.events
    assert isinstance(command, InboundCommand)
    await slack.reply(command.reply_to, Message(text="Import finished", lines=("9 people",)))
    [posted] = sandbox.responses["U0ADA"]
    assert (posted["text"], posted["response_type"], posted["replace_original"]) == (
        "Import finished",
        "ephemeral",
        False,
    )
    assert posted["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": "9 people"}}]
    dm = sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    await slack.reply(ReplyTarget(SLACK, {"channel_id": dm}), Message(text="Hello"))
    assert [m.text for m in sandbox.inbox("U0ADA")] == ["Hello"]
    with pytest.raises(PermanentFailure):
        await slack.reply(ReplyTarget(SLACK, {}), Message(text="nowhere"))


async def test_expired_response_url_is_permanent(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    target = ReplyTarget(SLACK, {"response_url": f"{sandbox.url}/response/expired"})
    with pytest.raises(PermanentFailure, match="http_404"):
        await slack.reply(target, Message(text="late"))


# -- user OAuth ------------------------------------------------------------------------------
async def test_oauth_round_trip_yields_the_identity_with_email(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    url = slack.authorize_url("st/ate=1", CALLBACK)
    query = parse_qs(urlsplit(url).query)
    assert query["user_scope"] == [
        "users:read,users:read.email,im:write,chat:write,im:history,im:read"
    ]
    assert query["redirect_uri"] == [CALLBACK] and query["client_id"] == [sandbox.client_id]
    location = await sandbox.authorize(url, "U0ADA")
    answer = parse_qs(urlsplit(location).query)
    assert location.startswith(CALLBACK + "?") and answer["state"] == ["st/ate=1"]
    grant = await slack.exchange_code(answer["code"][0], CALLBACK)
    assert grant.identity == Identity(PlatformUserId("U0ADA"), "ada@acme.test")
    assert sandbox.user_tokens[grant.access_token] == "U0ADA"
    assert grant.scope == "users:read,users:read.email,im:write,chat:write,im:history,im:read"
    assert (grant.refresh_token, grant.expires_at) == (None, None)  # token rotation is off
    assert grant.access_token not in repr(grant)
    [exchange] = sandbox.calls_to("oauth.v2.access")
    assert exchange.headers["authorization"].startswith("Basic ")
    with pytest.raises(PermanentFailure, match="invalid_code"):
        await slack.exchange_code(answer["code"][0], CALLBACK)


async def test_declined_consent_has_no_code(sandbox: SlackSandbox, slack: SlackPlatform) -> None:
    location = await sandbox.authorize(slack.authorize_url("s", CALLBACK), "U0BOB", approve=False)
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["s"]}


async def test_revoke_then_revoke_again(sandbox: SlackSandbox, slack: SlackPlatform) -> None:
    location = await sandbox.authorize(slack.authorize_url("s", CALLBACK), "U0GRACE")
    grant = await slack.exchange_code(parse_qs(urlsplit(location).query)["code"][0], CALLBACK)
    assert await slack.revoke(grant) == "Slack user token revoked (auth.revoke)"
    assert grant.access_token in sandbox.revoked
    assert await slack.revoke(grant) == "Slack user token was already invalid"
    sandbox.fail("auth.revoke", 503)
    with pytest.raises(RetryLater):
        await slack.revoke(grant)


# -- manifest --------------------------------------------------------------------------------
def test_manifest_matches_what_the_adapter_needs() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["display_information"]["name"] == "Mio User Sync"
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/mio" and command["usage_hint"]
    assert command["should_escape"] is True  # mentions arrive as <@U…|name> for parse_mention
    assert command["url"] == "https://YOUR-HOST/slack/events"
    settings = manifest["settings"]
    assert settings["interactivity"]["request_url"] == "https://YOUR-HOST/slack/events"
    assert settings["event_subscriptions"]["request_url"] == "https://YOUR-HOST/slack/events"
    assert settings["event_subscriptions"]["bot_events"] == [
        "message.im", "app_uninstalled", "tokens_revoked",
    ]  # fmt: skip
    assert settings["event_subscriptions"]["user_events"] == ["message.im"]
    assert settings["token_rotation_enabled"] is False
    oauth = manifest["oauth_config"]
    assert oauth["redirect_urls"] == ["https://YOUR-HOST/oauth/slack/callback"]
    assert set(oauth["scopes"]["bot"]) == {
        "chat:write", "chat:write.customize", "im:write", "im:history", "im:read", "commands",
        "users:read", "users:read.email",
    }  # fmt: skip
    assert oauth["scopes"]["user"] == list(USER_SCOPES)
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
