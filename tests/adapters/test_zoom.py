"""ZoomPlatform against the Zoom sandbox, over real HTTP in both directions.

The sandbox signs deliveries with the real algorithm and serves real tokens that expire, so
nothing here mocks the verifier or the token cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.zoom import ZoomPlatform
from adapters.zoom.errors import retry_after, to_platform_error
from adapters.zoom.render import decode_value, plain_text, render_content
from bot.types import (
    Button,
    ButtonPress,
    ButtonStyle,
    DirectoryUser,
    InboundCommand,
    Message,
    PermanentFailure,
    Platform,
    PlatformUserId,
    RetryLater,
    TokenGrant,
)
from sandbox.org import load_org
from sandbox.zoom import ZoomSandbox
from tests.adapters.support import Recorder, serving

ADA, BOB, HEIDI = "Zada0000LOVELACE", "Zbob0000MARLEY", "Zhei0000GONE"
REDIRECT = "https://mio.example/oauth/zoom/callback"
CONSENT = Message(
    text="Allow Mio to link your Zoom account?",
    title="Link your *Zoom* account",
    lines=("Bob asked to sync you to <https://teams.example|Teams>.",),
    buttons=(
        Button("Allow", action_id="consent.allow", value="42", style=ButtonStyle.PRIMARY),
        Button("Decline", action_id="consent.decline", value="42", style=ButtonStyle.DANGER),
        Button("Why?", url="https://mio.example/help"),
    ),
)


@pytest.fixture
async def zoom() -> AsyncIterator[ZoomSandbox]:
    sandbox = ZoomSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def platform(zoom: ZoomSandbox) -> AsyncIterator[ZoomPlatform]:
    adapter = ZoomPlatform.from_env(zoom.env())
    assert adapter is not None
    await adapter.start()
    yield adapter
    await adapter.close()


@pytest.fixture
async def bot(zoom: ZoomSandbox, platform: ZoomPlatform) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with serving(platform, recorder) as url:
        zoom.bot_url = url
        yield recorder


def directory_user(zoom: ZoomSandbox, user_id: str) -> DirectoryUser:
    user = zoom.user(user_id)
    return DirectoryUser(
        Platform("zoom"),
        PlatformUserId(user.id),
        user.email,
        user.display_name,
        extra={"jid": user.jid},
    )


def token_grants(zoom: ZoomSandbox, grant_type: str) -> int:
    return sum(
        1
        for c in zoom.calls_to("/oauth/token")
        if c.query.get("grant_type") == grant_type or f"grant_type={grant_type}".encode() in c.body
    )


# -- settings ---------------------------------------------------------------------------------


def test_from_env_is_none_without_client_id() -> None:
    assert ZoomPlatform.from_env({}) is None
    assert ZoomPlatform.from_env({"ZOOM_CLIENT_ID": "  ", "ZOOM_API_URL": "http://x/v2/"}) is None


def test_from_env_names_the_missing_variable(zoom: ZoomSandbox) -> None:
    env = zoom.env()
    del env["ZOOM_S2S_CLIENT_SECRET"]
    with pytest.raises(ValueError, match="ZOOM_S2S_CLIENT_SECRET"):
        ZoomPlatform.from_env(env)
    with pytest.raises(ValueError, match="ZOOM_CLIENT_ID"):
        ZoomPlatform.from_env({"ZOOM_BOT_JID": "x@xmpp.zoom.us"})
    with pytest.raises(ValueError, match="ZOOM_RATE_PER_SECOND"):
        ZoomPlatform.from_env(zoom.env() | {"ZOOM_RATE_PER_SECOND": "fast"})


def test_from_env_rate_and_repr_without_secrets(zoom: ZoomSandbox) -> None:
    default = ZoomPlatform.from_env(zoom.env())
    business = ZoomPlatform.from_env(zoom.env() | {"ZOOM_RATE_PER_SECOND": "60"})
    assert default is not None and business is not None
    assert (default.rate_per_second, business.rate_per_second, ZoomPlatform.rate_per_second) == (
        2.0,
        60.0,
        2.0,
    )
    assert zoom.client_secret not in repr(default) and zoom.webhook_secret not in repr(default)


async def test_base_urls_without_trailing_slash_still_reach_the_api(zoom: ZoomSandbox) -> None:
    env = zoom.env() | {"ZOOM_API_URL": f"{zoom.url}/v2", "ZOOM_OAUTH_URL": f"{zoom.url}/oauth"}
    adapter = ZoomPlatform.from_env(env)
    assert adapter is not None
    await adapter.start()
    try:
        assert await adapter.workspace() == (zoom.account_id, f"Zoom account {zoom.account_id}")
    finally:
        await adapter.close()


# -- inbound ----------------------------------------------------------------------------------


async def test_url_validation_proves_the_secret(zoom: ZoomSandbox, bot: Recorder) -> None:
    answer = await zoom.url_validation()  # the sandbox raises if encryptedToken is wrong
    assert set(answer) == {"plainToken", "encryptedToken"}
    assert bot.events == []


async def test_signed_slash_command_becomes_an_inbound_command(
    zoom: ZoomSandbox, bot: Recorder
) -> None:
    status, _ = await zoom.slash_command(BOB, "sync  @Carol teams ")
    assert status == 200
    (event,) = bot.events
    assert isinstance(event, InboundCommand)
    assert (event.platform, event.user_id, event.text) == ("zoom", BOB, "sync  @Carol teams")
    assert event.delivery_id == "zoom:" + hashlib.sha256(zoom.deliveries[-1].body).hexdigest()
    bob_jid = zoom.user(BOB).jid
    assert event.reply_to.data == {
        "to_jid": bob_jid,
        "user_jid": bob_jid,
        "account_id": zoom.account_id,
        "user_id": BOB,
    }


async def test_forged_signature_is_refused_before_the_handler(
    zoom: ZoomSandbox, bot: Recorder
) -> None:
    payload = {"userId": "x", "userJid": "x", "toJid": "x", "cmd": "reset"}
    body = json.dumps({"event": "bot_notification", "payload": payload}).encode()
    headers = zoom.sign(body)
    headers["x-zm-signature"] = "v0=" + "0" * 64
    status, text = await zoom.deliver(body, headers)
    assert (status, json.loads(text)) == (401, {"error": "invalid request"})
    unsigned = {"content-type": "application/json"}
    assert (await zoom.deliver(body, unsigned))[0] == 401
    assert bot.events == []


async def test_stale_or_future_timestamp_is_refused(zoom: ZoomSandbox, bot: Recorder) -> None:
    body = b'{"event":"bot_notification","payload":{}}'
    now = int(time.time())
    assert (await zoom.deliver(body, zoom.sign(body, ts=now - 330)))[0] == 401
    assert (await zoom.deliver(body, zoom.sign(body, ts=now + 330)))[0] == 401
    assert bot.events == []


async def test_signed_but_unreadable_bodies_are_bad_requests(
    zoom: ZoomSandbox, bot: Recorder
) -> None:
    assert (await zoom.deliver(b"{not json"))[0] == 400
    assert (await zoom.deliver(b"[]"))[0] == 400
    no_user = b'{"event":"bot_notification","payload":{"cmd":"help"}}'
    status, text = await zoom.deliver(no_user)
    assert status == 400 and "userId" in text
    assert bot.events == []


async def test_other_events_are_acknowledged_and_ignored(zoom: ZoomSandbox, bot: Recorder) -> None:
    body = b'{"event":"bot_installed","payload":{"accountId":"a","userId":"u"}}'
    assert (await zoom.deliver(body))[0] == 200
    assert bot.events == []


async def test_zoom_retry_keeps_the_delivery_id(zoom: ZoomSandbox, bot: Recorder) -> None:
    await zoom.slash_command(ADA, "users")
    await asyncio.sleep(1.1)  # a retry carries a newer signature timestamp, never a new body
    status, _ = await zoom.redeliver()
    assert status == 200
    first, again = bot.events
    assert first.delivery_id == again.delivery_id
    await zoom.slash_command(ADA, "users")
    assert bot.events[2].delivery_id != first.delivery_id  # the same words typed again are new


async def test_handler_failure_answers_500_so_zoom_retries(
    zoom: ZoomSandbox, bot: Recorder
) -> None:
    bot.fail = True
    status, text = await zoom.slash_command(ADA, "import")
    assert status == 500 and "ref:" in text


async def test_button_press_decodes_action_and_value(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    ref = await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    (message,) = zoom.inbox(BOB)
    status, _ = await zoom.press(BOB, message, "Decline")
    assert status == 200
    (event,) = bot.events
    assert isinstance(event, ButtonPress)
    assert (event.user_id, event.action_id, event.value) == (BOB, "consent.decline", "42")
    assert event.message is not None
    bob_jid = zoom.user(BOB).jid
    assert (event.message.message_id, event.message.channel_id) == (ref.message_id, bob_jid)
    assert event.message.data["to_jid"] == bob_jid  # "/robot_…" resource dropped
    assert event.reply_to.data["user_jid"] == bob_jid


async def test_handler_answer_arrives_as_a_chatbot_message(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    bot.answer = Message(text="Carol: synced on Teams ✅", title="Status")
    status, _ = await zoom.slash_command(ADA, "status @Carol")
    assert status == 200
    for _ in range(100):
        if zoom.inbox(ADA):
            break
        await asyncio.sleep(0.02)
    (message,) = zoom.inbox(ADA)
    assert message.content["head"]["text"] == "Status"
    assert "Carol: synced on Teams ✅" in message.text
    assert message.user_jid == zoom.user(ADA).jid


# -- directory --------------------------------------------------------------------------------


async def test_workspace_checks_both_apps(zoom: ZoomSandbox, platform: ZoomPlatform) -> None:
    assert await platform.workspace() == (zoom.account_id, f"Zoom account {zoom.account_id}")
    assert token_grants(zoom, "client_credentials") == 1
    assert token_grants(zoom, "account_credentials") == 1


async def test_workspace_with_a_wrong_s2s_secret_fails(zoom: ZoomSandbox) -> None:
    adapter = ZoomPlatform.from_env(zoom.env() | {"ZOOM_S2S_CLIENT_SECRET": "wrong"})
    assert adapter is not None
    await adapter.start()
    try:
        with pytest.raises(RetryLater, match="invalid_client") as raised:
            await adapter.workspace()
        assert raised.value.after == 60
    finally:
        await adapter.close()


async def test_list_users_pages_through_active_then_inactive(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    zoom.max_page_size = 2
    pages = [page async for page in platform.list_users()]
    users = {u.user_id: u for page in pages for u in page}
    assert len(pages) >= 4 and all(len(page) <= 2 for page in pages)
    assert set(users) == set(zoom.users)
    assert users[PlatformUserId(ADA)].is_admin and not users[PlatformUserId(BOB)].is_admin
    assert not users[PlatformUserId(HEIDI)].is_active and users[PlatformUserId(BOB)].is_active
    bob = users[PlatformUserId(BOB)]
    assert (bob.email, bob.display_name, bob.extra) == (
        "bob@acme.test",
        "Bob Marley",
        {"jid": "zbob0000marley@xmpp.zoom.us"},
    )
    statuses = [c.query["status"] for c in zoom.calls_to("/v2/users")]
    assert statuses.index("inactive") > statuses.index("active")
    assert all(c.query["page_size"] == "300" for c in zoom.calls_to("/v2/users"))


def test_parse_mention_knows_only_jids(platform: ZoomPlatform) -> None:
    assert platform.parse_mention("zbob0000marley@xmpp.zoom.us") == "zbob0000marley"
    assert platform.parse_mention("@zbob0000marley@xmpp.zoom.us/robot_x") == "zbob0000marley"
    assert platform.parse_mention("@Bob") is None
    assert platform.parse_mention("bob@acme.test") is None


# -- outbound ---------------------------------------------------------------------------------


async def test_send_dm_then_update_edits_in_place(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    ref = await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    sent = zoom.calls_to("/v2/im/chat/messages")[-1]
    assert sent.status == 201
    body = sent.json()
    assert body["to_jid"] == body["user_jid"] == zoom.user(BOB).jid
    assert body["robot_jid"] == zoom.bot_jid and body["account_id"] == zoom.account_id
    (message,) = zoom.inbox(BOB)
    assert [b["value"] for b in message.buttons] == ["consent.allow|42", "consent.decline|42"]

    done = Message(text="Linked ✅", title="Your Zoom account is linked")
    assert await platform.update_message(ref, done) == ref
    (edited,) = zoom.inbox(BOB)
    assert edited.message_id == ref.message_id and edited.edited == 1
    assert edited.content["head"]["text"] == "Your Zoom account is linked"
    assert edited.buttons == []


async def test_update_of_an_unknown_message_is_permanent(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    ref = await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    gone = type(ref)(ref.platform, ref.channel_id, "NOPE", ref.data)
    with pytest.raises(PermanentFailure, match="8001"):
        await platform.update_message(gone, CONSENT)


async def test_chatbot_token_is_cached_across_sends(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    bob = directory_user(zoom, BOB)
    await asyncio.gather(*(platform.send_dm(bob, CONSENT) for _ in range(4)))
    assert len(zoom.inbox(BOB)) == 4
    assert token_grants(zoom, "client_credentials") == 1


async def test_chatbot_token_is_refreshed_when_it_expires(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    zoom.chatbot_token_lifetime = 1
    bob = directory_user(zoom, BOB)
    await platform.send_dm(bob, CONSENT)
    await asyncio.sleep(1.05)
    await platform.send_dm(bob, CONSENT)
    assert token_grants(zoom, "client_credentials") == 2
    assert [c.status for c in zoom.calls_to("/v2/im/chat/messages")] == [201, 201]


async def test_a_rejected_token_is_fetched_again_once(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    bob = directory_user(zoom, BOB)
    await platform.send_dm(bob, CONSENT)
    zoom.expire_tokens("chatbot")  # Zoom stops accepting it before our cache says so
    await platform.send_dm(bob, CONSENT)
    assert [c.status for c in zoom.calls_to("/v2/im/chat/messages")] == [201, 401, 201]
    assert token_grants(zoom, "client_credentials") == 2


async def test_persistent_401_is_retry_later_for_the_admin(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    zoom.fail(
        "/v2/im/chat/messages",
        401,
        times=2,
        body={"code": 7010, "message": "Invalid authorization token."},
    )
    with pytest.raises(RetryLater, match="7010") as raised:
        await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    assert raised.value.after == 60
    assert len(zoom.calls_to("/v2/im/chat/messages")) == 2


async def test_per_second_429_without_retry_after(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    zoom.rate_limit("/v2/im/chat/messages")
    with pytest.raises(RetryLater, match="429") as raised:
        await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    assert raised.value.after == 1.0


async def test_daily_429_waits_until_the_date_time(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    reset = zoom.rate_limit("/v2/im/chat/messages", daily=True)
    assert reset is not None
    with pytest.raises(RetryLater, match="Daily-limit") as raised:
        await platform.send_dm(directory_user(zoom, BOB), CONSENT)
    expected = (reset - datetime.now(UTC)).total_seconds()
    assert raised.value.after is not None and abs(raised.value.after - expected) < 5


async def test_server_error_is_retry_later(zoom: ZoomSandbox, platform: ZoomPlatform) -> None:
    zoom.fail("/v2/users", 500)  # list_users waits one out instead
    with pytest.raises(RetryLater, match="500") as raised:
        await platform.workspace()
    assert raised.value.after == 10.0


async def test_unreachable_zoom_is_retry_later(zoom: ZoomSandbox) -> None:
    adapter = ZoomPlatform.from_env(zoom.env() | {"ZOOM_OAUTH_URL": "http://127.0.0.1:9/oauth/"})
    assert adapter is not None
    await adapter.start()
    try:
        with pytest.raises(RetryLater, match="unreachable"):
            await adapter.send_dm(directory_user(zoom, BOB), CONSENT)
    finally:
        await adapter.close()


async def test_deactivated_recipient_is_permanent(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    with pytest.raises(PermanentFailure) as raised:
        await platform.send_dm(directory_user(zoom, HEIDI), CONSENT)
    assert raised.value.reason.startswith("7004 No channel or user")


def test_error_mapping_table() -> None:
    now = datetime(2025, 8, 22, 23, 0, tzinfo=UTC)
    http_date = {"Retry-After": "Fri, 22 Aug 2025 23:02:00 GMT"}
    assert retry_after(http_date, now) == 120
    assert retry_after({"Retry-After": "2025-08-23T00:00:00Z"}, now) == 3600
    assert retry_after({"Retry-After": "7"}, now) == 7
    assert retry_after({"X-RateLimit-Type": "Daily-limit"}, now) == 3600
    assert retry_after({"Retry-After": "soon"}, now) == 1.0
    missing_user = to_platform_error(404, {}, {"code": 1001, "message": "User does not exist: x."})
    assert (
        isinstance(missing_user, PermanentFailure)
        and missing_user.reason == "1001 User does not exist: x."
    )
    assert isinstance(
        to_platform_error(400, {}, {"code": 7001, "message": "bad"}), PermanentFailure
    )
    assert isinstance(to_platform_error(401, {}, {"code": 124}, user_token=True), PermanentFailure)
    assert isinstance(to_platform_error(503, {}, "<html>"), RetryLater)


# -- rendering --------------------------------------------------------------------------------


def test_render_content_encodes_buttons_and_links() -> None:
    content = render_content(CONSENT)
    assert content["head"] == {"text": "Link your Zoom account"}
    line, link, actions = content["body"]
    assert line == {
        "type": "message",
        "text": "Bob asked to sync you to <https://teams.example|Teams>.",
        "is_markdown_support": True,
    }
    assert link == {"type": "message", "text": "Why?", "link": "https://mio.example/help"}
    assert actions["items"] == [
        {"text": "Allow", "value": "consent.allow|42", "style": "Primary"},
        {"text": "Decline", "value": "consent.decline|42", "style": "Danger"},
    ]
    assert decode_value("consent.allow|42|x") == ("consent.allow", "42|x")


def test_render_without_title_uses_the_first_line() -> None:
    content = render_content(Message(text="*Done*: 3 imported\nsee <https://h.example|the hub>"))
    assert content["head"]["text"] == "Done: 3 imported"
    assert [item["text"] for item in content["body"]] == ["see <https://h.example|the hub>"]
    assert plain_text("_a_ and <https://x.example>") == "a and https://x.example"
    with pytest.raises(ValueError, match="action_id"):
        render_content(Message(text="x", buttons=(Button("Bad", action_id="a|b"),)))


# -- user OAuth -------------------------------------------------------------------------------


async def test_oauth_round_trip_gives_identity_with_email(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    url = platform.authorize_url("st-1", REDIRECT)
    location = await zoom.authorize(url, BOB)
    assert location.startswith(REDIRECT + "?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["state"] == ["st-1"]
    grant = await platform.exchange_code(query["code"][0], REDIRECT)
    assert (grant.identity.user_id, grant.identity.email) == (BOB, "bob@acme.test")
    assert grant.refresh_token and platform.grant_covers_relay(grant)  # the ZOOM_LOGIN_* app
    assert grant.expires_at is not None
    assert abs(grant.expires_at - (datetime.now(UTC) + timedelta(seconds=3599))) < timedelta(
        seconds=5
    )
    with pytest.raises(PermanentFailure, match="invalid_grant"):
        await platform.exchange_code(query["code"][0], REDIRECT)  # codes are single-use


async def test_declined_consent_redirects_with_access_denied(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    location = await zoom.authorize(platform.authorize_url("st-2", REDIRECT), BOB, approve=False)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query == {"error": ["access_denied"], "state": ["st-2"]}


async def test_revoke_is_recorded_and_idempotent(zoom: ZoomSandbox, platform: ZoomPlatform) -> None:
    location = await zoom.authorize(platform.authorize_url("st-3", REDIRECT), ADA)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    grant = await platform.exchange_code(code, REDIRECT)
    assert await platform.revoke(grant) == "Zoom user token revoked (oauth/revoke)"
    assert zoom.revoked == [grant.access_token]
    assert await platform.revoke(grant) == "Zoom user token was already invalid"
    stranger = TokenGrant(grant.identity, access_token="never-issued")
    assert await platform.revoke(stranger) == "Zoom user token was already invalid"
