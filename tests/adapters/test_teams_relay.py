"""TeamsPlatform's relay side against the Teams stand-in, over real HTTP in both directions:
Graph subscriptions with the real validation handshake, change and lifecycle notifications
checked by clientState, reading and posting 1:1 messages as people, posting as the bot, and
the errors the relay core relies on (TokenRefused, RetryLater(after), Unanswered)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.teams import TeamsPlatform
from adapters.teams.notifications import dm_seen
from adapters.teams.subscriptions import client_state
from bot.platform import RelayPlatform
from bot.prose import Mention, Prose, Run, Style
from bot.types import (
    DirectoryUser,
    DmSeen,
    InboundCommand,
    PermanentFailure,
    Platform,
    PlatformUserId,
    RetryLater,
    Sender,
    Subscription,
    SubscriptionNotice,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from sandbox.org import load_org
from sandbox.teams import TeamsSandbox
from tests.adapters.support import Recorder, serving
from tests.e2e.agents_teams import TeamsAgent

ADA = "0a0a0a0a-0000-4000-8000-000000000ada"
BOB = "0b0b0b0b-0000-4000-8000-000000000b0b"
REDIRECT = "https://mio.example/oauth/teams/callback"
KEY = b"k" * 32


@pytest.fixture
async def teams() -> AsyncIterator[TeamsSandbox]:
    sandbox = TeamsSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def platform(teams: TeamsSandbox) -> AsyncIterator[TeamsPlatform]:
    adapter = TeamsPlatform.from_env(teams.env())
    assert adapter is not None
    adapter.use_relay_key(KEY)
    await adapter.start()
    yield adapter
    await adapter.close()


@pytest.fixture
async def bot(teams: TeamsSandbox, platform: TeamsPlatform) -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serving(platform, recorder) as url:
        teams.bot_url = url
        yield recorder, url


def person(teams: TeamsSandbox, user_id: str) -> DirectoryUser:
    user = teams.users[user_id]
    return DirectoryUser(Platform("teams"), PlatformUserId(user.id), user.mail, user.display_name)


async def sign_in(teams: TeamsSandbox, platform: TeamsPlatform, user_id: str) -> TokenGrant:
    location = await teams.authorize(platform.authorize_url("st", REDIRECT), user_id)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    return await platform.exchange_code(query["code"][0], REDIRECT)


async def post_json(url: str, body: object) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as answer:
        return answer.status, await answer.text()


# -- settings and scopes ------------------------------------------------------------------------


def test_is_a_relay_platform_in_either_subscription_mode(teams: TeamsSandbox) -> None:
    adapter = TeamsPlatform.from_env(teams.env() | {"TEAMS_CHAT_SUBSCRIPTION": "per-user"})
    assert isinstance(adapter, RelayPlatform) and not adapter.bot_threads
    assert adapter.relay_scopes == {
        "offline_access",
        "User.Read",
        "Chat.ReadWrite",
        "ChatMessage.Send",
    }
    assert not adapter.tenant_wide
    tenant = TeamsPlatform.from_env(teams.env() | {"TEAMS_CHAT_SUBSCRIPTION": "Tenant"})
    assert tenant is not None and tenant.tenant_wide
    with pytest.raises(ValueError, match="per-user or tenant"):
        TeamsPlatform.from_env(teams.env() | {"TEAMS_CHAT_SUBSCRIPTION": "everyone"})


async def test_consent_grants_cover_the_relay_and_older_ones_do_not(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, ADA)
    assert platform.grant_covers_relay(grant)
    old = TokenGrant(grant.identity, "x", "r", None, "User.Read profile openid email")
    assert not platform.grant_covers_relay(old)


async def test_refresh_rotates_and_a_revoked_token_is_refused(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, ADA)
    fresh = await platform.refresh_grant(grant)
    assert fresh.access_token != grant.access_token and fresh.refresh_token != grant.refresh_token
    assert fresh.expires_at is not None and fresh.identity == grant.identity
    with pytest.raises(TokenRefused):  # the old refresh token was rotated away
        await platform.refresh_grant(grant)
    teams.revoke_user_token(ADA)
    with pytest.raises(TokenRefused):
        await platform.refresh_grant(fresh)
    with pytest.raises(TokenRefused):
        await platform.post_as_user(fresh, person(teams, BOB), Prose.text("hi"))


# -- subscriptions ------------------------------------------------------------------------------


async def test_subscribe_passes_the_handshake_and_stores_our_client_state(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    teams.chats.lifetime_cap = 1800.0  # Graph may grant less than asked (surprise 9)
    grant = await sign_in(teams, platform, ADA)
    made = await platform.subscribe(grant, bot[1], None)
    stored = teams.chats.subscriptions[made.external_id]
    assert stored.client_state == client_state(KEY, ADA)
    assert stored.resource == f"/users/{ADA}/chats/getAllMessages"
    assert stored.notification_url == f"{bot[1]}/teams/notifications?owner={ADA}"
    assert stored.lifecycle_url == f"{bot[1]}/teams/lifecycle?owner={ADA}"
    assert made.expires_at is not None
    assert made.expires_at - datetime.now(UTC) < timedelta(minutes=31)  # what Graph granted
    assert bot[0].events == []  # the handshake is no event


async def test_a_failed_handshake_refuses_the_subscription(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, ADA)
    with pytest.raises(PermanentFailure, match="validation request failed"):
        await platform.subscribe(grant, teams.url + "/nowhere", None)  # answers 404
    assert teams.chats.subscriptions == {}


async def test_renew_repair_and_unsubscribe(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    grant = await sign_in(teams, platform, ADA)
    made = await platform.subscribe(grant, bot[1], None)
    teams.chats.subscriptions[made.external_id].expires_at -= 600
    renewed = await platform.renew(grant, made)
    assert renewed.external_id == made.external_id
    assert renewed.expires_at and made.expires_at and renewed.expires_at > made.expires_at
    assert (await platform.subscribe(grant, bot[1], made)).external_id == made.external_id
    await platform.unsubscribe(grant, made)
    assert teams.chats.subscriptions == {}
    await platform.unsubscribe(grant, made)  # already gone: fine
    repaired = await platform.subscribe(grant, bot[1], made)
    assert repaired.external_id != made.external_id
    assert list(teams.chats.subscriptions) == [repaired.external_id]
    async with serving(platform, Recorder()) as new_url:  # Mio moved to a new public URL
        moved = await platform.subscribe(grant, new_url, repaired)
    assert list(teams.chats.subscriptions) == [moved.external_id] != [repaired.external_id]
    assert teams.chats.subscriptions[moved.external_id].notification_url.startswith(new_url)


# -- notifications -------------------------------------------------------------------------------


async def test_validation_echoes_the_decoded_token_as_plain_text(
    bot: tuple[Recorder, str],
) -> None:
    token = "Validation: Testing client application reachability <&> é"
    for path in ("/teams/notifications", "/teams/lifecycle"):
        url = f"{bot[1]}{path}?validationToken={urllib.parse.quote(token)}"
        async with aiohttp.ClientSession() as session, session.post(url, data="") as answer:
            assert answer.status == 200 and answer.content_type == "text/plain"
            assert await answer.text() == token


async def test_a_typed_dm_reaches_both_members_subscriptions_and_fetch_completes_it(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    ada, bob = await sign_in(teams, platform, ADA), await sign_in(teams, platform, BOB)
    await platform.subscribe(ada, bot[1], None)
    await platform.subscribe(bob, bot[1], None)
    message_id = await teams.user_dm(ADA, BOB, "<p>Hi <b>there</b> <at>Bob Marley</at></p>")
    seen = [e for e in bot[0].events if isinstance(e, DmSeen)]
    assert sorted(s.owner_id for s in seen) == sorted([ADA, BOB])
    first = seen[0]
    assert first.message_id == message_id and not first.complete and first.sender_id == ""
    assert first.conversation_id == f"19:{ADA}_{BOB}@unq.gbl.spaces"
    assert first.delivery_id.endswith(
        f":created:chats('{first.conversation_id}')/messages('{message_id}')"
    )
    done = await platform.fetch_dm(bob, next(s for s in seen if s.owner_id == BOB))
    assert done is not None and done.complete
    assert (done.sender_id, done.other_id, done.owner_id) == (ADA, BOB, BOB)
    assert done.prose == Prose.of(
        [Run("Hi "), Run("there", frozenset({Style.BOLD})), Run(" "), Mention(BOB, "Bob Marley")]
    )
    gone = DmSeen(
        first.platform,
        "d",
        PlatformUserId(BOB),
        first.conversation_id,
        "404",
        PlatformUserId(""),
        None,
        None,
    )
    assert await platform.fetch_dm(bob, gone) is None


async def test_forged_client_state_is_refused_and_changes_nothing(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    item: dict[str, str | None] = {
        "subscriptionId": "s",
        "changeType": "created",
        "tenantId": teams.tenant_id,
        "resource": f"chats('19:{ADA}_{BOB}@unq.gbl.spaces')/messages('1')",
    }
    url = f"{bot[1]}/teams/notifications?owner={BOB}"
    for state in ("forged", client_state(KEY, ADA), None):  # Ada's state is not Bob's
        status, _ = await post_json(url, {"value": [item | {"clientState": state}]})
        assert status == 403
    status, _ = await post_json(
        f"{bot[1]}/teams/notifications", {"value": [item | {"clientState": client_state(KEY, BOB)}]}
    )
    assert status == 403  # no owner named in the URL
    assert bot[0].events == []
    mixed = [item | {"clientState": "forged"}, item | {"clientState": client_state(KEY, BOB)}]
    status, _ = await post_json(url, {"value": mixed})
    assert status == 202 and len(bot[0].events) == 1


async def test_a_refused_event_is_answered_5xx_for_graph_to_redeliver(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    bob = await sign_in(teams, platform, BOB)
    await platform.subscribe(bob, bot[1], None)
    bot[0].fail = True
    await teams.user_dm(ADA, BOB, "hello")
    assert [n.status for n in teams.chats.notifications] == [500]
    bot[0].fail = False
    (again,) = await teams.chats.retry_failed()
    assert again.status == 202 and again.body == teams.chats.notifications[0].body
    assert await teams.chats.retry_failed() == []
    first, second = bot[0].events
    assert first == replace(second, received_at=first.received_at)  # one delivery id twice


async def test_bot_posts_and_other_chats_are_not_relayed(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    bob = await sign_in(teams, platform, BOB)
    chat = teams.chats.chat_between(ADA, BOB)
    bot_post = teams.chats.add(chat, teams.app_id, "<p>from a bot</p>", [], by_app=True)
    seen = DmSeen(
        Platform("teams"),
        "d",
        PlatformUserId(BOB),
        chat.id,
        bot_post.id,
        PlatformUserId(""),
        None,
        None,
    )
    assert await platform.fetch_dm(bob, seen) is None  # no from.user (§2.7)
    group = replace(seen, conversation_id="19:0123456789abcdef@thread.v2")
    assert await platform.fetch_dm(bob, group) is None  # not a 1:1 Bob can read


async def test_lifecycle_notifications_become_subscription_notices(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    bob = await sign_in(teams, platform, BOB)
    made = await platform.subscribe(bob, bot[1], None)
    stored = teams.chats.subscriptions[made.external_id]
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        sent = await teams.chats.lifecycle(stored, event)
        assert sent.status == 202
    notices = [e for e in bot[0].events if isinstance(e, SubscriptionNotice)]
    assert [n.what for n in notices] == ["reauthorize", "missed", "removed"]
    assert {(n.owner_id, n.subscription_id) for n in notices} == {(BOB, made.external_id)}


async def test_messages_since_backfills_a_gap_oldest_first(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    bob = await sign_in(teams, platform, BOB)
    made = await platform.subscribe(bob, bot[1], None)
    await teams.user_dm(ADA, BOB, "before")
    await asyncio.sleep(0.01)
    since = datetime.now(UTC)
    teams.chats.paused = True
    first = await teams.user_dm(ADA, BOB, "one")
    second = await teams.user_dm(BOB, ADA, "two")
    await teams.user_dm(TERI := "07e17e17-0000-4000-8000-000000007e17", BOB, "three")
    assert len(bot[0].events) == 1  # only "before" was notified
    found = await platform.messages_since(bob, made, since)
    assert [s.prose.plain() if s.prose else "" for s in found] == ["one", "two", "three"]
    assert [s.message_id for s in found[:2]] == [first, second]
    assert (found[1].sender_id, found[1].other_id) == (BOB, ADA) and found[2].sender_id == TERI


# -- posting --------------------------------------------------------------------------------------


async def test_post_as_user_opens_the_1_1_and_its_echo_carries_the_same_ids(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    ada, bob = await sign_in(teams, platform, ADA), await sign_in(teams, platform, BOB)
    await platform.subscribe(bob, bot[1], None)
    prose = Prose.of([Run("*not bold* <b>x</b> "), Run("yes", frozenset({Style.BOLD}))])
    (post,) = await platform.post_as_user(ada, person(teams, BOB), prose)
    await teams.chats.settle()
    (native,) = teams.conversation(BOB, ADA)
    assert (native.message_id, native.sender_id, native.by_app) == (post.message_id, ADA, True)
    assert native.text == "*not bold* &lt;b&gt;x&lt;/b&gt; <b>yes</b>"
    (echo,) = [e for e in bot[0].events if isinstance(e, DmSeen)]
    assert (echo.conversation_id, echo.message_id) == (post.conversation_id, post.message_id)
    again = await platform.post_as_user(ada, person(teams, BOB), Prose.text("again"))
    assert again[0].conversation_id == post.conversation_id  # POST /chats is idempotent


async def test_post_as_bot_shows_who_wrote(teams: TeamsSandbox, platform: TeamsPlatform) -> None:
    teams.installed.add(BOB)
    prose = Prose.of([Run("see <script> "), Mention(ADA, "Ada")])
    (post,) = await platform.post_as_bot(
        person(teams, BOB), Sender("Zed <Z>", "Slack"), prose, None
    )
    (message,) = teams.inbox(BOB)
    assert (post.conversation_id, post.message_id) == (message.conversation_id, message.id)
    assert message.text == "<b>Zed &lt;Z&gt; (Slack)</b><br>see &lt;script&gt; <at>Ada</at>"
    assert message.lines == ["**Zed <Z> (Slack)**", "see <script> Ada"]  # as the inbox shows it


async def test_a_dropped_answer_is_unanswered_and_find_post_finds_it(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ada = await sign_in(teams, platform, ADA)
    since = datetime.now(UTC) - timedelta(seconds=1)
    teams.drop_answer("/messages")
    with pytest.raises(Unanswered):
        await platform.post_as_user(ada, person(teams, BOB), Prose.text("did it go?"))
    found = await platform.find_post(ada, person(teams, BOB), Prose.text("did it go?"), since)
    (native,) = teams.conversation(ADA, BOB)
    assert found is not None and [p.message_id for p in found] == [native.message_id]
    assert await platform.find_post(ada, person(teams, BOB), Prose.text("other"), since) is None
    assert await platform.find_post(None, person(teams, BOB), Prose.text("x"), since) is None


async def test_429_is_retry_later_with_retry_after(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ada = await sign_in(teams, platform, ADA)
    teams.rate_limit("/messages", retry_after=7)
    with pytest.raises(RetryLater) as caught:
        await platform.post_as_user(ada, person(teams, BOB), Prose.text("hi"))
    assert caught.value.after == 7 and not isinstance(caught.value, Unanswered)
    teams.fail("/subscriptions/nope", 503)
    with pytest.raises(RetryLater):
        await platform.renew(ada, Subscription("nope"))


async def test_a_token_without_the_relay_scopes_is_refused_as_graph_refuses_it(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    token, _ = teams.issue("user", "User.Read", 3600, ADA)
    grant = TokenGrant(ada_identity := (await sign_in(teams, platform, ADA)).identity, token)
    assert ada_identity.user_id == ADA
    with pytest.raises(PermanentFailure, match="Missing scope permissions"):
        await platform.post_as_user(grant, person(teams, BOB), Prose.text("hi"))


# -- the stand-in's refusals -------------------------------------------------------------------


async def test_the_stand_in_refuses_an_encoded_or_late_validation_answer(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    async def encoded(request: web.Request) -> web.Response:
        token = urllib.parse.quote(request.query["validationToken"])
        return web.Response(text=token, content_type="text/plain")

    app = web.Application()
    app.router.add_post("/teams/notifications", encoded)
    app.router.add_post("/teams/lifecycle", encoded)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    grant = await sign_in(teams, platform, ADA)
    try:
        with pytest.raises(PermanentFailure, match="validation request failed"):
            await platform.subscribe(grant, str(server.make_url("/")).rstrip("/"), None)
    finally:
        await server.close()
    teams.chats.validation_timeout = 0.000001
    with pytest.raises(PermanentFailure, match="validation request failed"):
        await platform.subscribe(grant, bot[1], None)
    assert teams.chats.subscriptions == {}


async def test_the_stand_in_wants_a_lifecycle_url_beyond_one_hour(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    grant = await sign_in(teams, platform, ADA)
    body = {
        "changeType": "created",
        "notificationUrl": f"{bot[1]}/teams/notifications?owner={ADA}",
        "resource": f"/users/{ADA}/chats/getAllMessages",
        "expirationDateTime": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "clientState": client_state(KEY, ADA),
    }
    headers = {"Authorization": f"Bearer {grant.access_token}"}
    url = f"{teams.url}/v1.0/subscriptions"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as answer:
            assert answer.status == 400
            assert "lifecycleNotificationUrl is a required property" in await answer.text()
        body["resource"] = f"/users/{BOB}/chats/getAllMessages"
        body["lifecycleNotificationUrl"] = f"{bot[1]}/teams/lifecycle?owner={ADA}"
        async with session.post(url, json=body, headers=headers) as answer:
            assert answer.status == 403  # someone else's chats


# -- the e2e agent and messages typed to the bot -------------------------------------------------


async def test_the_agent_writes_dms_and_to_the_bot(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    agent = TeamsAgent(teams, load_org())
    message_id = await agent.write_dm("ada@acme.test", "BOB@acme.test", "hi &amp; bye")
    (native,) = agent.conversation("BOB@acme.test", "ada@acme.test")
    assert (native.message_id, native.sender_id, native.by_app) == (message_id, ADA, False)
    typed = await agent.write_to_bot("ada@acme.test", "@Bob see *this*")
    (command,) = [e for e in bot[0].events if isinstance(e, InboundCommand)]
    assert command.message_id == typed and command.conversation_id
    assert command.redeliverable and command.prose == Prose.text("@Bob see *this*")


async def test_a_formatted_message_to_the_bot_keeps_its_formatting(
    teams: TeamsSandbox, bot: tuple[Recorder, str]
) -> None:
    html_part = {"contentType": "text/html", "content": "<p>@Bob <b>now</b> &lt;b&gt;</p>"}
    activity = teams.activity_for(ADA, text="@Bob now <b>", attachments=[html_part])
    status, _ = await teams.deliver(activity)
    assert status == 200
    (command,) = bot[0].events
    assert isinstance(command, InboundCommand) and command.prose == Prose.of(
        [Run("@Bob "), Run("now", frozenset({Style.BOLD})), Run(" <b>")]
    )


async def test_prepare_names_the_notification_urls(platform: TeamsPlatform) -> None:
    lines = await platform.prepare("https://mio.example/")
    assert "https://mio.example/teams/notifications" in lines[-1]
    assert "https://mio.example/teams/lifecycle" in lines[-1] and "Chat.ReadWrite" in lines[-1]


async def test_a_long_message_is_posted_in_order_in_parts_under_the_limit(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ada = await sign_in(teams, platform, ADA)
    words = " ".join(f"w{i:05d}<&>" for i in range(3000))  # escaping makes it longer still
    posts = await platform.post_as_user(ada, person(teams, BOB), Prose.text(words))
    stored = teams.conversation(ADA, BOB)
    assert len(posts) == len(stored) >= 2
    assert [p.message_id for p in posts] == [m.message_id for m in stored]
    assert all(len(m.text.encode("utf-16-le")) <= platform.message_limit for m in stored)
    assert "".join(m.text for m in stored).replace("&lt;&amp;&gt;", "<&>") == words


async def test_creating_the_chat_is_asked_again_when_its_answer_is_lost(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ada = await sign_in(teams, platform, ADA)
    teams.drop_answer("/v1.0/chats")  # POST /chats is idempotent for 1:1 (§2.3)
    (post,) = await platform.post_as_user(ada, person(teams, BOB), Prose.text("hi"))
    assert len(teams.calls_to("/v1.0/chats")) == 2 and len(teams.chats.chats) == 1
    assert post.conversation_id in teams.chats.chats


async def test_notifications_other_than_created_messages_are_acknowledged_and_ignored(
    teams: TeamsSandbox, bot: tuple[Recorder, str]
) -> None:
    url = f"{bot[1]}/teams/notifications?owner={BOB}"
    item = {
        "subscriptionId": "s",
        "changeType": "updated",
        "clientState": client_state(KEY, BOB),
        "tenantId": teams.tenant_id,
        "resource": f"chats('19:{ADA}_{BOB}@unq.gbl.spaces')/messages('1')",
    }
    assert (await post_json(url, {"value": [item]}))[0] == 202
    assert (await post_json(url, {"nothing": []}))[0] == 400
    assert bot[0].events == []


# -- TEAMS_CHAT_SUBSCRIPTION=tenant ---------------------------------------------------------------


@pytest.fixture
async def tenant_wide(
    teams: TeamsSandbox,
) -> AsyncIterator[tuple[TeamsPlatform, Recorder, str]]:
    adapter = TeamsPlatform.from_env(teams.env() | {"TEAMS_CHAT_SUBSCRIPTION": "tenant"})
    assert adapter is not None
    adapter.use_relay_key(KEY)
    await adapter.start()
    recorder = Recorder()
    async with serving(adapter, recorder) as url:
        teams.bot_url = url
        yield adapter, recorder, url
    await adapter.close()


async def test_tenant_mode_needs_the_protected_permission_and_makes_one_subscription(
    teams: TeamsSandbox, tenant_wide: tuple[TeamsPlatform, Recorder, str]
) -> None:
    adapter, _, url = tenant_wide
    lines = await adapter.prepare(url)
    assert "could NOT be made" in lines[-2] and "Chat.Read.All" in lines[-2]
    teams.app_permissions.add("Chat.Read.All")
    lines = await adapter.prepare(url)
    (made,) = teams.chats.subscriptions.values()
    assert made.id in lines[-2]
    assert (made.resource, made.owner_id) == ("/chats/getAllMessages", "")
    assert made.client_state == client_state(KEY, "tenant")
    grant = await sign_in(teams, adapter, ADA)
    mine = await adapter.subscribe(grant, url, None)
    assert mine == Subscription("", None, {"mode": "tenant"})
    assert await adapter.renew(grant, mine) == mine
    await adapter.unsubscribe(grant, mine)
    assert list(teams.chats.subscriptions) == [made.id]  # found again, not made twice


async def test_tenant_mode_names_each_member_of_a_1_1_as_owner(
    teams: TeamsSandbox, tenant_wide: tuple[TeamsPlatform, Recorder, str]
) -> None:
    adapter, recorder, url = tenant_wide
    teams.app_permissions.add("Chat.Read.All")
    await adapter.prepare(url)
    message_id = await teams.user_dm(ADA, BOB, "hi")
    seen = [e for e in recorder.events if isinstance(e, DmSeen)]
    assert sorted(s.owner_id for s in seen) == sorted([ADA, BOB])
    assert len({s.delivery_id for s in seen}) == 2 and {s.message_id for s in seen} == {message_id}
    bob = await sign_in(teams, adapter, BOB)
    done = await adapter.fetch_dm(bob, next(s for s in seen if s.owner_id == BOB))
    assert done is not None and (done.sender_id, done.other_id) == (ADA, BOB)


async def test_tenant_mode_renews_and_recreates_its_own_subscription(
    teams: TeamsSandbox, tenant_wide: tuple[TeamsPlatform, Recorder, str]
) -> None:
    adapter, recorder, url = tenant_wide
    teams.app_permissions.add("Chat.Read.All")
    await adapter.prepare(url)
    (made,) = teams.chats.subscriptions.values()
    made.expires_at -= 600
    before = made.expires_at
    assert (await teams.chats.lifecycle(made, "reauthorizationRequired")).status == 202
    assert made.expires_at > before and not made.paused
    assert (await teams.chats.lifecycle(made, "subscriptionRemoved")).status == 202
    (again,) = teams.chats.subscriptions.values()
    assert again.id != made.id and recorder.events == []  # handled by the adapter itself


def test_tenant_notifications_of_other_chats_are_dropped_unread() -> None:
    group = {"changeType": "created", "resource": "chats('19:abc@thread.v2')/messages('1')"}
    assert dm_seen(Platform("teams"), "tenant", group) == []
    one = group | {"resource": f"chats('19:{ADA}_{BOB}@unq.gbl.spaces')/messages('1')"}
    assert [s.owner_id for s in dm_seen(Platform("teams"), "tenant", one)] == [ADA, BOB]
    assert [s.owner_id for s in dm_seen(Platform("teams"), BOB, one)] == [BOB]


async def test_the_stand_in_inbox_lets_people_write_to_each_other(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: tuple[Recorder, str]
) -> None:
    bob = await sign_in(teams, platform, BOB)
    await platform.subscribe(bob, bot[1], None)
    async with aiohttp.ClientSession() as session:
        form = {"to": BOB, "text": "<b>hi</b> & bye"}
        async with session.post(f"{teams.url}/inbox/{ADA}/dm", data=form) as answer:
            assert answer.status == 200  # followed the 303 back to the page
            page = await answer.text()
    assert "Direct messages" in page and "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in page
    (native,) = teams.conversation(ADA, BOB)
    assert native.text == "<p>&lt;b&gt;hi&lt;/b&gt; &amp; bye</p>"
    (seen,) = bot[0].events
    assert isinstance(seen, DmSeen) and seen.message_id == native.message_id
