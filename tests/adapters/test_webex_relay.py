"""WebexPlatform's relay half against the Webex stand-in, over real HTTP in both directions.

People's webhooks are created with their own tokens and deliver signed with their own secret;
messages are read and posted with person tokens whose scopes the stand-in enforces, so nothing
here mocks the verifier, the HTTP client or the token checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from adapters.webex import WebexPlatform
from adapters.webex.admin import expires
from adapters.webex.relay_inbound import owner_secret
from adapters.webex.relay_text import parse_markdown, render
from bot.platform import RelayPlatform
from bot.prose import Prose, Run, Style
from bot.types import (
    DirectoryUser,
    DmSeen,
    Identity,
    InboundCommand,
    PermanentFailure,
    Platform,
    PlatformUserId,
    RetryLater,
    Sender,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from sandbox.base import Fault
from sandbox.org import load_org
from sandbox.webex import WebexSandbox
from tests.adapters.support import Recorder, serving
from tests.e2e.agents_webex import WebexAgent

ADA = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hZGE"
BOB = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I"
ADA_EMAIL, BOB_EMAIL = "ada@acme.test", "bob@acme.test"
KEY = b"relay-key-for-tests-0123456789ab"
RELAY = frozenset(
    {"spark:people_read", "spark:messages_read", "spark:messages_write", "spark:rooms_read"}
)
HELLO = Prose((Run("hello ", frozenset({Style.BOLD})), Run("<@all> *you*")))


@pytest.fixture
async def webex() -> AsyncIterator[WebexSandbox]:
    sandbox = WebexSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.settle()
    await sandbox.stop()


@pytest.fixture
async def platform(webex: WebexSandbox) -> AsyncIterator[WebexPlatform]:
    adapter = WebexPlatform.from_env(webex.env())
    assert adapter is not None
    adapter.use_relay_key(KEY)
    await adapter.start()
    yield adapter
    await webex.settle()
    await adapter.close()


@pytest.fixture
async def served(
    webex: WebexSandbox, platform: WebexPlatform
) -> AsyncIterator[tuple[str, Recorder]]:
    """The adapter's /webex/events on a real server: (its base URL, what reached the core);
    deliveries still under way are answered before it stops."""
    recorder = Recorder()
    async with serving(platform, recorder) as url:
        yield url, recorder
        await webex.settle()


def grant(webex: WebexSandbox, person_id: str, scopes: frozenset[str] = RELAY) -> TokenGrant:
    answer = webex.user_token(person_id, scopes)
    return TokenGrant(
        identity=Identity(PlatformUserId(person_id), webex.person(person_id).email),
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        expires_at=expires(datetime.now(UTC), answer["expires_in"]),
        scope=answer["scope"],
    )


def account(webex: WebexSandbox, person_id: str) -> DirectoryUser:
    p = webex.person(person_id)
    return DirectoryUser(Platform("webex"), PlatformUserId(p.id), p.email, p.display_name)


def seen_events(recorder: Recorder) -> list[DmSeen]:
    return [e for e in recorder.events if isinstance(e, DmSeen)]


# -- scopes and grants -----------------------------------------------------------------------


def test_the_adapter_is_a_relay_platform(platform: WebexPlatform) -> None:
    assert isinstance(platform, RelayPlatform)
    assert platform.relay_scopes == RELAY and platform.bot_threads is False
    assert platform.message_limit == 7439
    url = platform.authorize_url("st", "https://mio.example/oauth/webex/callback")
    asked = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["scope"][0].split()
    assert RELAY <= set(asked)


async def test_grant_scopes_and_refresh(webex: WebexSandbox, platform: WebexPlatform) -> None:
    full, old = grant(webex, BOB), grant(webex, ADA, frozenset({"spark:people_read"}))
    assert platform.grant_covers_relay(full) and not platform.grant_covers_relay(old)
    fresh = await platform.refresh_grant(full)
    assert fresh.access_token != full.access_token and fresh.identity == full.identity
    assert fresh.expires_at is not None and fresh.expires_at > datetime.now(UTC)
    sent = await platform.post_as_user(fresh, account(webex, ADA), HELLO)  # the new one works
    assert len(sent) == 1
    webex.revoke_user_token(BOB)
    with pytest.raises(TokenRefused):
        await platform.refresh_grant(fresh)


# -- the person's webhook --------------------------------------------------------------------


async def test_subscribe_makes_a_signed_person_webhook(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    sub = await platform.subscribe(grant(webex, BOB), url, None)
    hook = webex.hooks.hooks[sub.external_id]
    assert (hook.owner_id, hook.resource, hook.event, hook.filter) == (
        BOB,
        "messages",
        "created",
        "roomType=direct",
    )
    assert hook.target_url == f"{url}/webex/events?owner={BOB}"
    assert hook.secret == owner_secret(KEY, BOB)
    assert hook.secret == hmac.new(KEY, BOB.encode(), hashlib.sha256).hexdigest()
    assert sub.data == {"target_url": hook.target_url} and sub.expires_at is None

    message_id = await webex.user_dm(ADA, BOB, "**hi** <@all>")
    [seen] = seen_events(recorder)
    room = webex.state.messages[message_id].room_id
    assert seen == DmSeen(
        platform=Platform("webex"),
        delivery_id=f"{hook.id}:{message_id}:created",
        owner_id=PlatformUserId(BOB),
        conversation_id=room,
        message_id=message_id,
        sender_id=PlatformUserId(ADA),
        other_id=PlatformUserId(BOB),
        prose=None,
        sent_at=seen.sent_at,
        received_at=seen.received_at,
    )
    assert seen.sent_at is not None

    await webex.user_dm(BOB, ADA, "my own send")  # fires Bob's webhook too (surprise 16)
    assert len(seen_events(recorder)) == 1
    assert webex.hooks.deliveries[-1].status == 200

    again = await platform.subscribe(grant(webex, BOB), url, None)  # a lost answer, retried
    assert again.external_id == sub.external_id
    assert [h.owner_id for h in webex.hooks.hooks.values()] == [BOB]


async def test_an_inactive_webhook_is_repaired_and_a_deleted_one_recreated(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    bob = grant(webex, BOB)
    sub = await platform.subscribe(bob, url, None)
    recorder.fail = True  # the core's database is down: the route answers 5xx
    for n in range(3):
        await webex.user_dm(ADA, BOB, f"lost {n}")
    assert webex.hooks.hooks[sub.external_id].status == "inactive"
    await webex.user_dm(ADA, BOB, "not delivered at all")
    assert len(recorder.events) == 3

    recorder.fail = False
    repaired = await platform.subscribe(bob, url, sub)  # `mio serve` start
    assert repaired.external_id == sub.external_id
    assert webex.hooks.hooks[sub.external_id].status == "active"
    assert [c.method for c in webex.calls_to(f"/v1/webhooks/{sub.external_id}")] == ["GET", "PUT"]
    await webex.user_dm(ADA, BOB, "back")
    assert len(recorder.events) == 4

    renewed = await platform.renew(bob, repaired)
    assert renewed.external_id == sub.external_id
    del webex.hooks.hooks[sub.external_id]
    recreated = await platform.renew(bob, repaired)
    assert recreated.external_id != sub.external_id
    assert webex.hooks.hooks[recreated.external_id].filter == "roomType=direct"

    await platform.unsubscribe(bob, recreated)
    await platform.unsubscribe(bob, recreated)  # already gone: fine
    assert not webex.hooks.hooks


async def test_subscribing_needs_the_read_scope(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    with pytest.raises(PermanentFailure, match="403") as refused:
        await platform.subscribe(
            grant(webex, BOB, frozenset({"spark:people_read"})), "https://mio.example", None
        )
    assert not isinstance(refused.value, TokenRefused)


# -- the route -------------------------------------------------------------------------------


async def test_forged_and_misaddressed_deliveries_are_refused(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    sub = await platform.subscribe(grant(webex, BOB), url, None)
    await webex.user_dm(ADA, BOB, "real")
    genuine = webex.hooks.deliveries[-1]
    body = json.loads(genuine.body)
    body["data"]["personId"] = "someone-else"
    forged = json.dumps(body).encode()
    attempts = [
        (genuine.url, forged, genuine.headers["X-Spark-Signature"]),  # body changed
        (genuine.url, forged, hmac.new(b"guess", forged, hashlib.sha1).hexdigest()),
        (f"{url}/webex/events?owner={ADA}", genuine.body, genuine.headers["X-Spark-Signature"]),
        (genuine.url, genuine.body, ""),
    ]
    async with aiohttp.ClientSession() as session:
        for target, raw, signature in attempts:
            headers = {"Content-Type": "application/json", "X-Spark-Signature": signature}
            async with session.post(target, data=raw, headers=headers) as answer:
                assert answer.status == 401
    assert len(recorder.events) == 1
    assert webex.hooks.hooks[sub.external_id].status == "active"


async def test_messages_to_the_bot_carry_their_prose(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    await platform.prepare(url)
    message_id = await webex.user_to_bot(ADA, "@bob **hi** there")
    [command] = [e for e in recorder.events if isinstance(e, InboundCommand)]
    assert command.redeliverable and command.message_id == message_id
    assert command.conversation_id == webex.state.direct_room(ADA).id
    assert command.prose == parse_markdown("@bob **hi** there")
    assert command.text == "@bob **hi** there"


# -- reading ---------------------------------------------------------------------------------


async def test_fetch_dm_reads_the_text_with_the_owners_token(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    bob = grant(webex, BOB)
    await platform.subscribe(bob, url, None)
    await webex.user_dm(ADA, BOB, "**bold** and `code` 👍")
    [seen] = seen_events(recorder)
    done = await platform.fetch_dm(bob, seen)
    assert done is not None and done.complete
    assert done.prose == parse_markdown("**bold** and `code` 👍")
    assert (done.sender_id, done.other_id, done.conversation_id) == (ADA, BOB, seen.conversation_id)

    gone = dataclasses.replace(seen, message_id="nope")
    assert await platform.fetch_dm(bob, gone) is None
    group = webex.group("team", [ADA, BOB])
    posted = webex.messages.post(webex.person(ADA), group, text="group")
    in_group = dataclasses.replace(seen, message_id=posted.id)
    assert await platform.fetch_dm(bob, in_group) is None
    webex.revoke_user_token(BOB)
    with pytest.raises(TokenRefused):
        await platform.fetch_dm(bob, seen)


async def test_messages_since_backfills_oldest_first(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, _ = served
    bob = grant(webex, BOB)
    sub = await platform.subscribe(bob, url, None)
    await webex.user_dm(ADA, BOB, "before")
    webex.state.messages[next(reversed(webex.state.messages))].created = "2020-01-01T00:00:00.000Z"
    since = datetime.now(UTC) - timedelta(minutes=5)
    first = await webex.user_dm(ADA, BOB, "one")
    await webex.user_dm(BOB, ADA, "mine")
    second = await webex.user_dm(ADA, BOB, "two")
    found = await platform.messages_since(bob, sub, since)
    assert [s.message_id for s in found] == [first, second]
    assert [s.prose.plain() if s.prose else None for s in found] == ["one", "two"]
    assert found[0].delivery_id == f"{sub.external_id}:{first}:created"
    assert all(s.complete and s.other_id == BOB for s in found)


# -- posting ---------------------------------------------------------------------------------


async def test_post_as_user_opens_the_1to1_and_its_echo_has_the_same_ids(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    await platform.subscribe(grant(webex, BOB), url, None)
    [post] = await platform.post_as_user(grant(webex, ADA), account(webex, BOB), HELLO)
    await webex.settle()
    [native] = webex.conversation(ADA, BOB)
    assert (native.message_id, native.sender_id, native.by_app) == (post.message_id, ADA, True)
    assert native.text == render(HELLO)
    assert parse_markdown(native.text).plain() == HELLO.plain() == "hello <@all> *you*"
    [echo] = seen_events(recorder)  # Bob's webhook sees Ada's post: the core's echo key
    assert (echo.conversation_id, echo.message_id) == (post.conversation_id, post.message_id)


async def test_post_as_bot_shows_the_sender(webex: WebexSandbox, platform: WebexPlatform) -> None:
    long = Prose.text("word " * 3000)
    posts = await platform.post_as_bot(
        account(webex, BOB), Sender("Ada *L*", "Slack"), long, thread_id=None
    )
    inbox = webex.inbox(BOB)
    assert [m.id for m in inbox] == [p.message_id for p in posts] and len(posts) == 3
    assert all(m.markdown.startswith("**Ada \\*L\\* (Slack):**\n") for m in inbox)
    assert all(len(m.markdown.encode()) <= 7439 for m in inbox)


async def test_find_post_after_an_unanswered_post(
    webex: WebexSandbox, platform: WebexPlatform
) -> None:
    ada, bob = grant(webex, ADA), account(webex, BOB)
    since = datetime.now(UTC)
    webex.drop_answer("/v1/messages")
    with pytest.raises(Unanswered):
        await platform.post_as_user(ada, bob, HELLO)
    [native] = webex.conversation(ADA, BOB)  # it did arrive
    found = await platform.find_post(ada, bob, HELLO, since)
    assert found is not None and [p.message_id for p in found] == [native.message_id]
    assert await platform.find_post(ada, bob, Prose.text("other"), since) is None
    assert await platform.find_post(ada, bob, HELLO, datetime.now(UTC) + timedelta(hours=1)) is None

    webex.drop_answer("/v1/messages")
    with pytest.raises(Unanswered):
        await platform.post_as_bot(bob, Sender("Ada", "Slack"), HELLO, None)
    by_bot = await platform.find_post(None, bob, HELLO, since)
    assert by_bot is not None and by_bot[0].message_id == webex.inbox(BOB)[-1].id


async def test_errors_are_mapped(webex: WebexSandbox, platform: WebexPlatform) -> None:
    ada, bob = grant(webex, ADA), account(webex, BOB)
    webex.rate_limit("/v1/messages", after=9)
    with pytest.raises(RetryLater) as limited:
        await platform.post_as_user(ada, bob, HELLO)
    assert limited.value.after == 9 and not isinstance(limited.value, Unanswered)
    webex.fail("/v1/messages", 503, headers={"Retry-After": "4"})
    with pytest.raises(RetryLater) as busy:
        await platform.post_as_bot(bob, Sender("Ada", "Slack"), HELLO, None)
    assert busy.value.after == 4
    assert webex.conversation(ADA, BOB) == []
    webex.revoke_user_token(ADA)
    with pytest.raises(TokenRefused):
        await platform.post_as_user(ada, bob, HELLO)
    no_write = grant(webex, BOB, frozenset({"spark:people_read", "spark:messages_read"}))
    with pytest.raises(PermanentFailure, match="403"):
        await platform.post_as_user(no_write, account(webex, ADA), HELLO)


async def test_the_e2e_agent_types_natively(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    await platform.prepare(url)
    await platform.subscribe(grant(webex, BOB), url, None)
    agent = WebexAgent(webex, load_org())
    ada, bob = ADA_EMAIL, BOB_EMAIL
    sent = await agent.write_dm(ada, bob, "hi *Bob*")
    to_bot = await agent.write_to_bot(ada, "@bob hello")
    assert [(m.message_id, m.sender_id, m.text) for m in agent.conversation(bob, ada)] == [
        (sent, ADA, "hi *Bob*")
    ]
    assert [e.message_id for e in recorder.events if isinstance(e, DmSeen)] == [sent]
    [command] = [e for e in recorder.events if isinstance(e, InboundCommand)]
    assert command.message_id == to_bot


async def test_the_inbox_page_lets_people_write_to_each_other(webex: WebexSandbox) -> None:
    page = f"{webex.url}/inbox/{ADA}/dm/{BOB}"
    async with aiohttp.ClientSession() as session:
        async with session.post(page, data={"text": "<b>hi</b> **Bob**"}) as sent:
            assert sent.status == 200  # after the redirect back to the page
            shown = await sent.text()
    [native] = webex.conversation(ADA, BOB)
    assert (native.sender_id, native.text, native.by_app) == (ADA, "<b>hi</b> **Bob**", False)
    assert "&lt;b&gt;hi&lt;/b&gt; **Bob**" in shown and "<b>hi" not in shown


async def test_a_moved_public_url_is_repaired_in_place(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    bob = grant(webex, BOB)
    old = await platform.subscribe(bob, "https://old.example", None)
    moved = await platform.subscribe(bob, url, old)
    assert moved.external_id == old.external_id
    assert webex.hooks.hooks[old.external_id].target_url == f"{url}/webex/events?owner={BOB}"
    await webex.user_dm(ADA, BOB, "found you")
    assert len(seen_events(recorder)) == 1
    webex.revoke_user_token(BOB)
    with pytest.raises(TokenRefused):
        await platform.unsubscribe(bob, moved)
    expired = dataclasses.replace(bob, refresh_token=None, expires_at=datetime.now(UTC))
    with pytest.raises(TokenRefused):
        await platform.refresh_grant(expired)
    lasting = dataclasses.replace(bob, refresh_token=None, expires_at=None)
    assert await platform.refresh_grant(lasting) is lasting


async def test_a_webhook_made_without_an_answer_is_adopted_not_doubled(
    webex: WebexSandbox, platform: WebexPlatform, served: tuple[str, Recorder]
) -> None:
    url, recorder = served
    bob = grant(webex, BOB)
    # The list (GET) is answered; the create (POST) is made, and its answer lost.
    webex.faults.setdefault("/v1/webhooks", []).append(Fault(0, 1, drop=True, skip=1))
    with pytest.raises(Unanswered):
        await platform.subscribe(bob, url, None)
    [made] = webex.hooks.hooks.values()  # Webex made it all the same
    sub = await platform.subscribe(bob, url, None)
    assert sub.external_id == made.id and len(webex.hooks.hooks) == 1
    await webex.user_dm(ADA, BOB, "once")
    assert len(seen_events(recorder)) == 1
