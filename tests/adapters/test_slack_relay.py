"""The Slack adapter's relay side against the Slack stand-in, over real HTTP both ways.

Posting as a person and as the bot, reading DMs with a person's token, the errors the relay
relies on, and the Events API deliveries "on behalf of users" (signed by the stand-in,
verified by Bolt) turned into `DmSeen` / `InboundCommand` / `AccessRevoked`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from adapters.paging import AdminMustFix
from adapters.slack import SlackPlatform
from bot.platform import RelayPlatform
from bot.prose import Mention, Prose, Run, Style
from bot.types import (
    AccessRevoked,
    Answered,
    DirectoryUser,
    DmSeen,
    InboundCommand,
    InboundEvent,
    Outcome,
    Platform,
    PlatformUserId,
    Post,
    Redeliver,
    RetryLater,
    Sender,
    Subscription,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from sandbox.base import RelayStandIn
from sandbox.org import load_org
from sandbox.slack import SlackSandbox
from sandbox.slack.payloads import dumps, envelope
from tests.adapters.support import Recorder, serving

SLACK = Platform("slack")
CALLBACK = "http://127.0.0.1:3978/oauth/slack/callback"
ADA, BOB, CAROL = PlatformUserId("U0ADA"), PlatformUserId("U0BOB"), PlatformUserId("U0CAROL")


def person(user_id: str, name: str = "") -> DirectoryUser:
    return DirectoryUser(SLACK, PlatformUserId(user_id), None, name or user_id)


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    service = SlackSandbox(load_org())
    service.retry_delays = (0.0, 0.0, 0.0)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def slack(sandbox: SlackSandbox) -> AsyncIterator[SlackPlatform]:
    platform = SlackPlatform.from_env(sandbox.env())
    assert platform is not None
    await platform.start()
    yield platform
    await platform.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def bot(
    sandbox: SlackSandbox, slack: SlackPlatform, recorder: Recorder
) -> AsyncIterator[None]:
    async with serving(slack, recorder) as url:
        sandbox.bot_url = url
        yield


async def linked(
    sandbox: SlackSandbox, slack: SlackPlatform, user_id: str, *, without: str = ""
) -> TokenGrant:
    """The person's consent sign-in, as the bot's OAuth flow runs it (optionally a grant
    made before a scope existed)."""
    url = slack.authorize_url("s", CALLBACK)
    if without:
        url = url.replace(f",{without}", "")
    location = await sandbox.authorize(url, user_id)
    return await slack.exchange_code(parse_qs(urlsplit(location).query)["code"][0], CALLBACK)


# -- the interface ----------------------------------------------------------------------------
async def test_it_is_a_relay_platform_whose_sign_in_asks_for_the_relay_scopes(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    assert isinstance(slack, RelayPlatform)
    assert SlackPlatform.relay_scopes == {"im:history", "im:read", "im:write", "chat:write",
                                          "users:read"}  # fmt: skip
    assert (SlackPlatform.bot_threads, SlackPlatform.message_limit) == (True, 40_000)
    scopes = parse_qs(urlsplit(slack.authorize_url("s", CALLBACK)).query)["user_scope"][0]
    assert SlackPlatform.relay_scopes <= set(scopes.split(","))
    assert slack.grant_covers_relay(await linked(sandbox, slack, ADA))
    assert not slack.grant_covers_relay(await linked(sandbox, slack, BOB, without="im:history"))


async def test_subscriptions_are_the_apps_own_and_tokens_do_not_expire(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    subscription = await slack.subscribe(grant, "https://mio.test", None)
    assert subscription == Subscription("")
    assert await slack.renew(grant, subscription) is subscription
    await slack.unsubscribe(grant, subscription)  # nothing on Slack's side: no call made
    assert await slack.refresh_grant(grant) is grant
    assert sandbox.calls_to("oauth.v2.access") and not sandbox.calls_to("apps.event")


async def test_with_token_rotation_a_grant_is_refreshed_once_per_refresh_token(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    sandbox.oauth.rotation = True
    grant = await linked(sandbox, slack, ADA)
    assert grant.refresh_token and grant.expires_at
    fresh = await slack.refresh_grant(grant)
    assert fresh.access_token != grant.access_token and fresh.refresh_token != grant.refresh_token
    assert fresh.expires_at is not None and fresh.expires_at > datetime.now(UTC)
    assert (fresh.identity, fresh.scope) == (
        grant.identity,
        ",".join(sorted(grant.scope.split(","))),
    )
    await slack.post_as_user(fresh, person("U0BOB"), Prose.text("still me"))
    with pytest.raises(TokenRefused, match="invalid_refresh_token"):
        await slack.refresh_grant(grant)  # its refresh token was spent


# -- posting ----------------------------------------------------------------------------------
async def test_post_as_user_is_the_persons_message_in_their_dm(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    prose = Prose((Run("hi ", frozenset({Style.BOLD})), Mention("U0BOB", "Bob"),
                   Run(" <!channel> *x*")))  # fmt: skip
    [post] = await slack.post_as_user(grant, person("U0BOB"), prose)
    [dm] = sandbox.conversation("U0ADA", "U0BOB")
    assert post == Post(sandbox.dm_channel("U0ADA", "U0BOB"), dm.message_id)
    assert (dm.sender_id, dm.by_app) == ("U0ADA", True)
    assert dm.text.startswith("*hi* <@U0BOB> &lt;!channel&gt;")
    [sent] = sandbox.calls_to("chat.postMessage")
    assert sent.headers["authorization"] == f"Bearer {grant.access_token}"
    assert "as_user" not in sent.json()
    message = sandbox.messages[(post.conversation_id, post.message_id)]
    assert message.username is None  # customisation is for bot tokens only


async def test_post_as_bot_shows_the_sender_and_threads_per_correspondent(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    sender = Sender("Teri Teams", "Teams", "https://img.test/teri.png")
    [root] = await slack.post_as_bot(person("U0BOB"), sender, Prose.text("first"), None)
    [reply] = await slack.post_as_bot(
        person("U0BOB"), sender, Prose.text("second"), root.message_id
    )
    assert (
        root.conversation_id
        == reply.conversation_id
        == sandbox.dm_channel(sandbox.bot_user_id, "U0BOB")
    )
    first = sandbox.messages[(root.conversation_id, root.message_id)]
    second = sandbox.messages[(reply.conversation_id, reply.message_id)]
    assert (first.username, first.icon_url, first.thread_ts) == (
        "Teri Teams (Teams)", "https://img.test/teri.png", None,
    )  # fmt: skip
    assert (second.thread_ts, second.user) == (root.message_id, sandbox.bot_user_id)


async def test_bot_without_chat_write_customize_is_for_the_admin_to_fix(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    sandbox.bot_scopes.discard("chat:write.customize")
    with pytest.raises(AdminMustFix, match="missing_scope"):
        await slack.post_as_bot(person("U0BOB"), Sender("T", "Teams"), Prose.text("x"), None)


async def test_find_post_finds_what_an_unanswered_post_left(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    since = datetime.now(UTC) - timedelta(seconds=5)
    sandbox.drop_answer("chat.postMessage")
    prose = Prose.text("did it arrive? *maybe*")
    with pytest.raises(Unanswered):
        await slack.post_as_user(grant, person("U0BOB"), prose)
    assert len(sandbox.calls_to("chat.postMessage")) == 1  # no silent re-send
    [dm] = sandbox.conversation("U0ADA", "U0BOB")
    channel = sandbox.dm_channel("U0ADA", "U0BOB")
    assert await slack.find_post(grant, person("U0BOB"), prose, since) == [
        Post(channel, dm.message_id)
    ]
    assert await slack.find_post(grant, person("U0BOB"), Prose.text("other"), since) is None
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert await slack.find_post(grant, person("U0BOB"), prose, later) is None


async def test_find_post_as_the_bot_also_looks_inside_threads(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    teri, bob = Sender("Teri", "Teams"), person("U0BOB")
    since = datetime.now(UTC) - timedelta(seconds=5)
    [root] = await slack.post_as_bot(bob, teri, Prose.text("yo"), None)
    assert await slack.find_post(None, bob, Prose.text("yo"), since) == [root]
    sandbox.drop_answer("chat.postMessage")
    with pytest.raises(Unanswered):
        await slack.post_as_bot(bob, teri, Prose.text("in the thread"), root.message_id)
    [reply] = [m for m in sandbox.inbox("U0BOB") if m.thread_ts == root.message_id]
    found = await slack.find_post(None, bob, Prose.text("in the thread"), since)
    assert found == [Post(root.conversation_id, reply.ts)]


# -- reading ----------------------------------------------------------------------------------
async def test_fetch_dm_completes_the_other_member_and_the_text(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    ts = await sandbox.user_dm("U0ADA", "U0BOB", "see _this_ <https://a.test|link>")
    channel = sandbox.dm_channel("U0ADA", "U0BOB")
    seen = DmSeen(SLACK, "slack:evt:Ev1", ADA, channel, ts, ADA, None, None)
    done = await slack.fetch_dm(grant, seen)
    assert done is not None and done.complete
    assert done.other_id == BOB
    assert done.prose == Prose((Run("see "), Run("this", frozenset({Style.ITALIC})), Run(" "),
                                Run("link", link="https://a.test")))  # fmt: skip
    gone = DmSeen(SLACK, "slack:evt:Ev2", ADA, channel, "1.000001", ADA, None, None)
    assert await slack.fetch_dm(grant, gone) is None


async def test_fetch_dm_of_the_bots_own_dm_is_none(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    ts = await sandbox.user_to_bot("U0ADA", "help")
    channel = sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    seen = DmSeen(SLACK, "slack:evt:Ev3", ADA, channel, ts, ADA, None, Prose.text("help"))
    assert await slack.fetch_dm(grant, seen) is None


async def test_messages_since_reads_every_dm_oldest_first(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    since = datetime.now(UTC) - timedelta(seconds=5)
    await sandbox.user_dm("U0BOB", "U0ADA", "one")
    await sandbox.user_dm("U0ADA", "U0CAROL", "two")
    await sandbox.user_dm("U0ADA", "U0BOB", "three")
    await sandbox.user_to_bot("U0ADA", "help")  # the bot's DM is not a person's 1:1
    await slack.post_as_user(grant, person("U0BOB"), Prose.text("relayed by us"))
    seen = await slack.messages_since(grant, Subscription(""), since)
    assert [(s.sender_id, s.other_id, s.prose) for s in seen] == [
        (BOB, ADA, Prose.text("one")),
        (ADA, CAROL, Prose.text("two")),
        (ADA, BOB, Prose.text("three")),
    ]
    assert all(s.owner_id == ADA and s.complete for s in seen)


# -- errors -----------------------------------------------------------------------------------
async def test_revoked_user_token_is_token_refused(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    sandbox.revoke_user_token("U0ADA")
    with pytest.raises(TokenRefused, match="token_revoked"):
        await slack.post_as_user(grant, person("U0BOB"), Prose.text("hi"))
    unknown = TokenGrant(grant.identity, "xoxp-never-issued", scope=grant.scope)
    with pytest.raises(TokenRefused, match="invalid_auth"):
        await slack.messages_since(unknown, Subscription(""), datetime.now(UTC))


async def test_a_bare_401_on_a_user_token_is_token_refused(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA)
    sandbox.fail("conversations.open", 401)
    with pytest.raises(TokenRefused):
        await slack.post_as_user(grant, person("U0BOB"), Prose.text("hi"))


async def test_grant_without_a_relay_scope_is_token_refused(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    grant = await linked(sandbox, slack, ADA, without="im:history")
    ts = await sandbox.user_dm("U0BOB", "U0ADA", "hi")
    seen = DmSeen(SLACK, "e", ADA, sandbox.dm_channel("U0ADA", "U0BOB"), ts, BOB, ADA, None)
    with pytest.raises(TokenRefused, match="missing_scope"):
        await slack.fetch_dm(grant, seen)


@pytest.mark.parametrize(("status", "after"), [(429, 7.0), (503, None)])
async def test_rate_limit_and_server_errors_are_retry_later(
    sandbox: SlackSandbox, slack: SlackPlatform, status: int, after: float | None
) -> None:
    grant = await linked(sandbox, slack, ADA)
    headers = {"Retry-After": "7"} if status == 429 else {}
    sandbox.fail("chat.postMessage", status, headers=headers)
    with pytest.raises(RetryLater) as raised:
        await slack.post_as_user(grant, person("U0BOB"), Prose.text("hi"))
    assert not isinstance(raised.value, (TokenRefused, Unanswered))
    assert raised.value.after == after
    assert sandbox.conversation("U0ADA", "U0BOB") == []


# -- inbound: user events ---------------------------------------------------------------------
async def test_a_dm_to_a_linked_person_is_seen_through_their_user_event(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await linked(sandbox, slack, ADA)
    ts = await sandbox.user_dm("U0BOB", "U0ADA", "*hello* :wave:")
    [seen] = recorder.events
    assert isinstance(seen, DmSeen)
    assert (seen.owner_id, seen.sender_id, seen.other_id) == (ADA, BOB, ADA)
    assert (seen.conversation_id, seen.message_id) == (sandbox.dm_channel("U0ADA", "U0BOB"), ts)
    assert seen.delivery_id.startswith("slack:evt:Ev") and seen.complete
    assert seen.prose is not None and seen.prose.plain() == "hello 👋"


async def test_the_owners_own_message_leaves_the_other_member_to_fetch(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await linked(sandbox, slack, ADA)
    await sandbox.user_dm("U0ADA", "U0BOB", "hi Bob")
    [seen] = recorder.events
    assert isinstance(seen, DmSeen)
    assert (seen.owner_id, seen.sender_id, seen.other_id) == (ADA, ADA, None)


async def test_a_dm_between_two_linked_people_arrives_once(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await linked(sandbox, slack, ADA)
    await linked(sandbox, slack, BOB)
    await sandbox.user_dm("U0BOB", "U0ADA", "hi")
    assert len(recorder.events) == 1


async def test_nobody_linked_means_no_event(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    await sandbox.user_dm("U0BOB", "U0ADA", "hi")
    assert recorder.events == [] and sandbox.event_log == []


async def test_our_own_post_as_a_person_echoes_to_nothing(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    grant = await linked(sandbox, slack, ADA)
    await slack.post_as_user(grant, person("U0BOB"), Prose.text("relayed"))
    await sandbox.settle()
    [(_, status)] = sandbox.event_log  # delivered, with our app_id and a foreign bot_id
    assert status == 200 and recorder.events == []


async def test_another_apps_post_as_a_person_is_their_message(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    """A foreign `bot_id` on a user event is not ours (surprise 2): only `app_id` decides."""
    channel = sandbox.dm_channel("U0ADA", "U0BOB")
    event = {"type": "message", "channel": channel, "user": "U0BOB", "text": "from my app",
             "ts": "1.1", "channel_type": "im", "bot_id": "B0OTH", "app_id": "A0OTH"}  # fmt: skip
    body = envelope(sandbox.workspace, "Ev0OTHER", event)
    body["authorizations"] = [{"team_id": "T0ACME", "user_id": "U0ADA", "is_bot": False}]
    status, _ = await sandbox.deliver(dumps(body), "application/json")
    assert status == 200
    [seen] = recorder.events
    assert isinstance(seen, DmSeen) and seen.sender_id == BOB


async def test_edits_and_deletes_are_acked_and_ignored(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    channel = sandbox.dm_channel("U0ADA", "U0BOB")
    for n, subtype in enumerate(("message_changed", "message_deleted")):
        event = {"type": "message", "subtype": subtype, "channel": channel, "hidden": True,
                 "ts": f"2.00000{n}", "channel_type": "im", "message": {"user": "BOB"}}  # fmt: skip
        body = envelope(sandbox.workspace, f"Ev0SUB{n}", event)
        body["authorizations"] = [{"team_id": "T0ACME", "user_id": "U0ADA", "is_bot": False}]
        assert (await sandbox.deliver(dumps(body), "application/json"))[0] == 200
    assert recorder.events == []


async def test_forged_user_event_is_refused(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await linked(sandbox, slack, ADA)
    sandbox.signing_secret = "not-the-secret"
    await sandbox.user_dm("U0BOB", "U0ADA", "hi")
    assert recorder.events == []
    assert sandbox.event_log[0][1] == 401


async def test_a_refused_delivery_is_retried_by_slack(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    seen: list[InboundEvent] = []

    async def handler(event: InboundEvent) -> Outcome:
        seen.append(event)
        return Redeliver("r3f") if len(seen) == 1 else Answered(None)

    await linked(sandbox, slack, ADA)
    async with serving(slack, handler) as url:
        sandbox.bot_url = url
        await sandbox.user_dm("U0BOB", "U0ADA", "hi")
        await sandbox.settle()
    assert [status for _, status in sandbox.event_log] == [500, 200]
    first, second = seen
    assert first.delivery_id == second.delivery_id


# -- inbound: the bot's DM, revocations -------------------------------------------------------
async def test_a_reply_in_a_bot_thread_is_a_redeliverable_command_with_prose(
    sandbox: SlackSandbox, bot: None, recorder: Recorder
) -> None:
    ts = await sandbox.user_to_bot("U0BOB", "sounds *good*", thread_id="1700000000.000100")
    [command] = recorder.events
    assert isinstance(command, InboundCommand) and command.redeliverable
    assert command.prose == Prose((Run("sounds "), Run("good", frozenset({Style.BOLD}))))
    assert (command.conversation_id, command.message_id, command.thread_id) == (
        sandbox.dm_channel(sandbox.bot_user_id, "U0BOB"), ts, "1700000000.000100",
    )  # fmt: skip


async def test_a_user_event_in_the_bots_dm_is_still_a_command(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    """Slack may list the writer's own authorization for a message to the bot (surprise 1)."""
    channel = sandbox.dm_channel(sandbox.bot_user_id, "U0ADA")
    event = {"type": "message", "channel": channel, "user": "U0ADA", "text": "@bob hi",
             "ts": "3.000001", "channel_type": "im"}  # fmt: skip
    body: dict[str, Any] = envelope(sandbox.workspace, "Ev0MINE", event)
    body["authorizations"] = [{"team_id": "T0ACME", "user_id": "U0ADA", "is_bot": False}]
    assert (await sandbox.deliver(dumps(body), "application/json"))[0] == 200
    [command] = recorder.events
    assert isinstance(command, InboundCommand) and command.text == "@bob hi"


async def test_revoked_tokens_and_uninstall_are_access_revoked(
    sandbox: SlackSandbox, slack: SlackPlatform, bot: None, recorder: Recorder
) -> None:
    await linked(sandbox, slack, ADA)
    sandbox.revoke_user_token("U0ADA")
    await sandbox.settle()
    event = {"type": "app_uninstalled", "event_ts": "4.000001"}
    body = dumps(envelope(sandbox.workspace, "Ev0GONE", event))
    assert (await sandbox.deliver(body, "application/json"))[0] == 200
    revoked, removed = recorder.events
    assert isinstance(revoked, AccessRevoked) and isinstance(removed, AccessRevoked)
    assert (revoked.user_ids, revoked.app_removed) == ((ADA,), False)
    assert (removed.user_ids, removed.app_removed, removed.delivery_id) == (
        (), True, "slack:evt:Ev0GONE",
    )  # fmt: skip
    assert json.loads(body)["event"]["type"] == "app_uninstalled"
    await sandbox.user_dm("U0BOB", "U0ADA", "after the revocation")
    assert len(recorder.events) == 2  # a revoked token sees no more user events


# -- the stand-in's browser view of people's own DMs ------------------------------------------
async def test_the_inbox_view_types_and_shows_native_dms(sandbox: SlackSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        form = {"to": "U0BOB", "text": "<b>hi</b> *there*"}
        async with http.post(
            f"{sandbox.url}/inbox/U0ADA/dms", data=form, allow_redirects=False
        ) as sent:
            assert sent.status == 303
        async with http.get(f"{sandbox.url}/inbox/U0BOB/dms") as page:
            shown = await page.text()
    [dm] = sandbox.conversation("U0BOB", "U0ADA")
    assert (dm.sender_id, dm.text) == ("U0ADA", "<b>hi</b> *there*")
    assert "&lt;b&gt;hi&lt;/b&gt; *there*" in shown and "<b>hi</b>" not in shown


async def test_the_stand_in_is_a_relay_stand_in_whose_history_holds_roots_only(
    sandbox: SlackSandbox, slack: SlackPlatform
) -> None:
    stand_in: RelayStandIn = sandbox
    grant = await linked(sandbox, slack, ADA)
    root = await stand_in.user_dm("U0ADA", "U0BOB", "root")
    channel = sandbox.dm_channel("U0ADA", "U0BOB")
    reply = await slack.post_as_user(grant, person("U0BOB"), Prose.text("not threaded"))
    assert [m.message_id for m in stand_in.conversation("U0BOB", "U0ADA")] == [
        root, reply[0].message_id,
    ]  # fmt: skip
    sandbox.messages[(channel, root)].thread_ts = root
    sandbox.messages[(channel, reply[0].message_id)].thread_ts = root  # now a reply
    seen = await slack.messages_since(grant, Subscription(""), datetime.now(UTC) - timedelta(1))
    assert [s.message_id for s in seen] == [root]
