"""ZoomPlatform's relay half against the Zoom stand-in, over real HTTP in both directions.

People sign in to the login app (ZOOM_LOGIN_*) through the stand-in's consent page; the stand-in
delivers the login app's `team_chat.dm_message_posted` signed with that app's secret token, and
the chatbot app's deliveries with its own, so nothing here mocks a verifier or a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.zoom import ZoomPlatform
from adapters.zoom.relay import conversation_id
from bot.platform import RelayPlatform
from bot.prose import Mention, Prose, Run, Style
from bot.types import (
    AccessRevoked,
    DirectoryUser,
    DmSeen,
    InboundCommand,
    PermanentFailure,
    Platform,
    PlatformUserId,
    Post,
    RetryLater,
    Sender,
    Subscription,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from sandbox.base import RelayStandIn
from sandbox.org import load_org
from sandbox.zoom import ZoomSandbox
from tests.adapters.support import Recorder, serving

ADA, BOB, CARA = "Zada0000LOVELACE", "Zbob0000MARLEY", "Zcar0000DANVERS"
REDIRECT = "https://mio.example/oauth/zoom/callback"
SEND = "/v2/chat/users/me/messages"


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


async def sign_in(zoom: ZoomSandbox, platform: ZoomPlatform, user_id: str) -> TokenGrant:
    location = await zoom.authorize(platform.authorize_url("st", REDIRECT), user_id)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    return await platform.exchange_code(code, REDIRECT)


def person(zoom: ZoomSandbox, user_id: str) -> DirectoryUser:
    user = zoom.user(user_id)
    return DirectoryUser(
        Platform("zoom"),
        PlatformUserId(user.id),
        user.email,
        user.display_name,
        extra={"jid": user.jid},
    )


def long_prose() -> Prose:
    """2,500 characters in three paragraphs, the middle one bold."""
    return Prose.of(
        [
            Run("a" * 799 + " " + "b" * 200 + "\n"),
            Run("c" * 1000 + "\n", frozenset({Style.BOLD})),
            Run("d" * 499),
        ]
    )


# -- the login app ----------------------------------------------------------------------------


async def test_sign_in_goes_to_the_login_app_and_covers_the_relay(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    assert isinstance(platform, RelayPlatform)
    url = platform.authorize_url("st", REDIRECT)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["client_id"] == [
        zoom.login_client_id
    ]
    grant = await sign_in(zoom, platform, BOB)
    assert grant.identity.user_id == BOB and platform.grant_covers_relay(grant)
    assert "team_chat:write:user_message" in grant.scope.split()
    assert BOB in zoom.installed
    assert (platform.bot_threads, platform.message_limit) == (False, 1024)
    stand_in: RelayStandIn = zoom  # the stand-in offers what the relay's e2e tests drive
    assert stand_in.conversation(BOB, ADA) == []


async def test_without_the_login_app_the_chatbot_app_links_but_not_for_the_relay(
    zoom: ZoomSandbox,
) -> None:
    env = {k: v for k, v in zoom.env().items() if not k.startswith("ZOOM_LOGIN_")}
    adapter = ZoomPlatform.from_env(env)
    assert adapter is not None
    await adapter.start()
    try:
        assert f"client_id={zoom.client_id}" in adapter.authorize_url("st", REDIRECT)
        grant = await sign_in(zoom, adapter, BOB)
        assert grant.scope == "user:read" and not adapter.grant_covers_relay(grant)
        with pytest.raises(PermanentFailure, match="relay scopes"):
            await adapter.subscribe(grant, "https://mio.example", None)
        with pytest.raises(TokenRefused, match="4711"):  # the token lacks the chat scopes
            await adapter.post_as_user(grant, person(zoom, ADA), Prose.text("hi"))
        refreshed = await adapter.refresh_grant(grant)  # at the chatbot app, which issued it
        assert refreshed.access_token != grant.access_token
    finally:
        await adapter.close()


def test_login_app_settings_come_together(zoom: ZoomSandbox) -> None:
    env = zoom.env()
    del env["ZOOM_LOGIN_WEBHOOK_SECRET"]
    with pytest.raises(ValueError, match="ZOOM_LOGIN_WEBHOOK_SECRET"):
        ZoomPlatform.from_env(env)
    adapter = ZoomPlatform.from_env(zoom.env())
    assert adapter is not None and zoom.login_client_secret not in repr(adapter)


async def test_refresh_gives_a_new_token_and_a_refused_refresh_is_token_refused(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    fresh = await platform.refresh_grant(grant)
    assert fresh.access_token != grant.access_token and fresh.refresh_token != grant.refresh_token
    assert fresh.identity == grant.identity and platform.grant_covers_relay(fresh)
    assert fresh.expires_at is not None and fresh.expires_at > datetime.now(UTC)
    with pytest.raises(TokenRefused, match="refresh refused"):  # refresh tokens are single use
        await platform.refresh_grant(grant)
    zoom.revoke_user_token(BOB)
    with pytest.raises(TokenRefused):
        await platform.refresh_grant(fresh)
    with pytest.raises(TokenRefused, match="124"):
        await platform.post_as_user(fresh, person(zoom, ADA), Prose.text("hi"))


async def test_subscription_is_the_grant_itself(zoom: ZoomSandbox, platform: ZoomPlatform) -> None:
    grant = await sign_in(zoom, platform, BOB)
    subscription = await platform.subscribe(grant, "https://mio.example", None)
    assert subscription == Subscription("")
    assert await platform.renew(grant, subscription) == subscription
    await platform.unsubscribe(grant, subscription)
    assert [c.path for c in zoom.calls if c.path.startswith("/v2/")] == ["/v2/users/me"]


# -- posting ----------------------------------------------------------------------------------


async def test_post_as_user_splits_a_long_message_into_ordered_parts(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    posts = await platform.post_as_user(grant, person(zoom, ADA), long_prose())
    sent = zoom.calls_to(SEND)
    assert len(posts) == len(sent) == 3
    bodies = [call.json() for call in sent]
    assert all(body["to_contact"] == ADA and len(body["message"]) <= 1024 for body in bodies)
    assert "".join(body["message"] for body in bodies) == long_prose().plain()
    assert bodies[1]["rich_text"] == [
        {"start_position": 0, "end_position": 1001, "format_type": "Bold"}
    ]
    native = zoom.conversation(BOB, ADA)
    assert [dm.message_id for dm in native] == [post.message_id for post in posts]
    assert all(dm.sender_id == BOB and dm.by_app for dm in native)
    assert {post.conversation_id for post in posts} == {f"{ADA}:{BOB}"}


async def test_post_as_user_echoes_once_per_part_with_the_post_ids(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    posts = await platform.post_as_user(grant, person(zoom, ADA), long_prose())
    await zoom.settle()
    seen = [e for e in bot.events if isinstance(e, DmSeen)]
    assert [(s.conversation_id, s.message_id) for s in seen] == [
        (p.conversation_id, p.message_id) for p in posts
    ]
    assert all(s.sender_id == BOB and s.other_id == ADA and s.complete for s in seen)


async def test_post_as_bot_names_the_sender_in_a_bold_head(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    prose = Prose.of([Run("ship "), Run("it", frozenset({Style.BOLD})), Run(" *now*")])
    posts = await platform.post_as_bot(person(zoom, ADA), Sender("Bob M", "Teams"), prose, None)
    (message,) = zoom.inbox(ADA)
    assert posts == [Post(zoom.user(ADA).jid, message.message_id)]
    assert message.content == {
        "head": {"text": "Bob M (Teams)", "style": {"bold": True}},
        "body": [{"type": "message", "text": "ship it *now*"}],
    }
    body = zoom.calls_to("/v2/im/chat/messages")[0].json()
    assert "is_markdown_support" not in body  # literal text, never chatbot markdown


async def test_a_dropped_answer_is_unanswered_and_find_post_finds_the_parts(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    since = datetime.now(UTC) - timedelta(seconds=2)
    await platform.post_as_user(grant, person(zoom, ADA), Prose.text("earlier"))
    zoom.drop_answer(SEND)
    with pytest.raises(Unanswered):
        await platform.post_as_user(grant, person(zoom, ADA), Prose.text("hello Ada"))
    (dm,) = [d for d in zoom.conversation(BOB, ADA) if d.text == "hello Ada"]
    found = await platform.find_post(grant, person(zoom, ADA), Prose.text("hello Ada"), since)
    assert found == [Post(f"{ADA}:{BOB}", dm.message_id)]
    assert await platform.find_post(grant, person(zoom, ADA), Prose.text("never"), since) is None
    assert await platform.find_post(None, person(zoom, ADA), Prose.text("hello"), since) is None
    long = await platform.post_as_user(grant, person(zoom, CARA), long_prose())
    assert await platform.find_post(grant, person(zoom, CARA), long_prose(), since) == long


async def test_rate_limits_and_server_errors_are_retry_later(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    ada = person(zoom, ADA)
    zoom.fail(SEND, 429, headers={"Retry-After": "7", "X-RateLimit-Type": "QPS"})
    with pytest.raises(RetryLater) as limited:
        await platform.post_as_user(grant, ada, Prose.text("hi"))
    assert limited.value.after == 7 and not isinstance(limited.value, Unanswered)
    zoom.rate_limit(SEND)  # a per-second 429 has no Retry-After (platform-apis §I.24)
    with pytest.raises(RetryLater) as per_second:
        await platform.post_as_user(grant, ada, Prose.text("hi"))
    assert per_second.value.after == 1.0
    zoom.fail(SEND, 503)
    with pytest.raises(RetryLater):
        await platform.post_as_user(grant, ada, Prose.text("hi"))
    zoom.fail("/v2/im/chat/messages", 429, headers={"Retry-After": "3"})
    with pytest.raises(RetryLater) as bot_limited:
        await platform.post_as_bot(ada, Sender("Bob", "Teams"), Prose.text("hi"), None)
    assert bot_limited.value.after == 3
    assert zoom.conversation(BOB, ADA) == []


async def test_the_stand_in_refuses_what_zoom_refuses(
    zoom: ZoomSandbox, platform: ZoomPlatform
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    with pytest.raises(PermanentFailure, match="300 Validation Failed"):
        await platform._as_user(  # the raw send, bypassing the split
            grant, "POST", "chat/users/me/messages", json={"message": "x" * 1025, "to_contact": ADA}
        )
    link = {"start_position": 0, "end_position": 3, "format_type": "AddLink", "format_attr": "x:y"}
    with pytest.raises(PermanentFailure, match="AddLink"):
        await platform._as_user(
            grant,
            "POST",
            "chat/users/me/messages",
            json={"message": "abc", "to_contact": ADA, "rich_text": [link]},
        )
    assert zoom.conversation(BOB, ADA) == []


# -- reading ----------------------------------------------------------------------------------


async def test_fetch_dm_and_messages_since_read_with_the_owners_token(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    since = datetime.now(UTC) - timedelta(seconds=2)
    first = await zoom.user_dm(ADA, BOB, "hi Bob")
    await platform.post_as_user(grant, person(zoom, ADA), Prose.text("hi Ada"))
    await zoom.user_dm(CARA, BOB, "from Cara")
    seen = next(e for e in bot.events if isinstance(e, DmSeen))
    bare = replace(seen, message_id=first, other_id=None, prose=None)
    fetched = await platform.fetch_dm(grant, bare)
    assert fetched is not None and fetched.complete
    assert (fetched.other_id, fetched.prose) == (BOB, Prose.text("hi Bob"))
    gone = replace(seen, message_id="no-such-id")
    assert await platform.fetch_dm(grant, gone) is None
    backlog = await platform.messages_since(grant, Subscription(""), since)
    assert [(s.sender_id, s.other_id, s.prose) for s in backlog] == [
        (ADA, BOB, Prose.text("hi Bob")),
        (BOB, ADA, Prose.text("hi Ada")),
        (CARA, BOB, Prose.text("from Cara")),
    ]
    assert backlog[0].delivery_id == seen.delivery_id  # the same id as the webhook's


# -- inbound ----------------------------------------------------------------------------------


async def test_a_typed_dm_arrives_as_a_complete_dm_seen(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    await sign_in(zoom, platform, BOB)
    message_id = await zoom.user_dm(ADA, BOB, "*not bold* <!channel>")
    (seen,) = bot.events
    assert isinstance(seen, DmSeen)
    assert seen == DmSeen(
        platform=Platform("zoom"),
        delivery_id=f"team_chat.dm_message_posted:{message_id}",
        owner_id=PlatformUserId(BOB),
        conversation_id=conversation_id(ADA, BOB),
        message_id=message_id,
        sender_id=PlatformUserId(ADA),
        other_id=PlatformUserId(BOB),
        prose=Prose.text("*not bold* <!channel>"),
        sent_at=seen.sent_at,
        received_at=seen.received_at,
    )
    assert zoom.deliveries[-1].statuses == [200]
    assert await zoom.redeliver() == (200, json.dumps({"status": "ok"}))
    assert bot.events[1].delivery_id == seen.delivery_id  # Zoom's retry, the same id


async def test_styled_dm_from_the_api_keeps_its_styles_and_mention(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    prose = Prose.of([Run("hey "), Mention(ADA, "Ada"), Run(" go", frozenset({Style.ITALIC}))])
    await platform.post_as_user(grant, person(zoom, ADA), prose)
    await zoom.settle()
    (seen,) = bot.events
    assert isinstance(seen, DmSeen)
    # The event has no at_items (ZS team-chat/events schema): the mention is its text.
    assert seen.prose == Prose.of([Run("hey @Ada"), Run(" go", frozenset({Style.ITALIC}))])


async def test_nobody_installed_means_no_event(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    await zoom.user_dm(ADA, CARA, "just us")
    assert bot.events == [] and zoom.deliveries == []


async def test_forged_or_wrong_app_user_events_are_refused(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    await sign_in(zoom, platform, BOB)
    await zoom.user_dm(ADA, BOB, "hello")
    body = zoom.deliveries[-1].body
    status, _ = await zoom.deliver(body, secret="not-the-secret")
    assert status == 401
    status, text = await zoom.deliver(body)  # signed by the chatbot app: not a person's event
    assert (status, json.loads(text)) == (200, {"status": "ignored"})
    assert len(bot.events) == 1


async def test_url_validation_answers_with_the_signing_apps_secret(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    await zoom.url_validation()  # the chatbot app
    body = b'{"payload":{"plainToken":"abc"},"event_ts":1,"event":"endpoint.url_validation"}'
    status, text = await zoom.deliver(body, secret=zoom.login_webhook_secret)
    expected = hmac.new(zoom.login_webhook_secret.encode(), b"abc", hashlib.sha256).hexdigest()
    assert status == 200 and json.loads(text) == {"plainToken": "abc", "encryptedToken": expected}


async def test_deauthorization_by_a_person_or_of_the_chatbot(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    grant = await sign_in(zoom, platform, BOB)
    assert (await zoom.deauthorize(BOB))[0] == 200
    assert (await zoom.deauthorize(ADA, login_app=False))[0] == 200
    person_left, app_gone = bot.events
    assert isinstance(person_left, AccessRevoked) and isinstance(app_gone, AccessRevoked)
    assert (person_left.user_ids, person_left.app_removed) == ((BOB,), False)
    assert (app_gone.user_ids, app_gone.app_removed) == ((), True)
    assert BOB not in zoom.installed
    with pytest.raises(TokenRefused):
        await platform.refresh_grant(grant)


async def test_typing_to_the_bot_is_a_redeliverable_command_with_prose(
    zoom: ZoomSandbox, platform: ZoomPlatform, bot: Recorder
) -> None:
    message_id = await zoom.user_to_bot(ADA, "@Bob *hi* there")
    (command,) = bot.events
    assert isinstance(command, InboundCommand) and command.redeliverable
    assert command.prose == Prose.text("@Bob *hi* there")
    assert (command.conversation_id, command.message_id) == (zoom.user(ADA).jid, message_id)
