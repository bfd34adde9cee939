"""The relay pipeline end to end inside the core: a message seen (or written to the bot) goes
through the edge's transaction, the outbox and the worker to a fake RelayPlatform, on SQLite and
PostgreSQL (tests/conftest.py).

`FakeRelay` is a real class implementing every `RelayPlatform` method in memory: what it was
asked to post, as whom and where, plus switchable faults (a 5xx or 429 for one text, a post
made but its answer dropped, a refused user token).

The people (their primary first):
- Ada: Slack; consent-synced on Teams (Mio holds her Teams token).
- Bob: Teams; consent-synced on Slack.
- Cy: Teams; represented on Slack (no Slack account: the bot speaks for him there).
- Dee: Slack; represented on Teams.
- Eve: Teams; her Slack sync is pending (she has not answered the consent DM).
- Fay: Teams; not synced to Slack at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.core import Core
from bot.crypto import Vault
from bot.delivery import Worker
from bot.edge import make_handler
from bot.outbox_kinds import grant_data
from bot.platform import ChatPlatform, RelayPlatform
from bot.prose import Mention, Prose, Run
from bot.relay import waiting
from bot.settings import Settings
from bot.types import (
    AccessRevoked,
    DirectoryUser,
    DmSeen,
    Identity,
    InboundCommand,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    Post,
    ReplyTarget,
    RetryLater,
    Sender,
    Subscription,
    SubscriptionNotice,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from store.db import make_engine, make_sessionmaker
from store.models import Account, AuditEntry, Grant, OutboxItem, Person, Sync
from store.relay_models import RelayMessage, RelayPost

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET_TEXT = "the quarterly numbers are in"


@dataclass
class Posted:
    as_user: str | None  # the grant's owner, or None for the bot
    to: str
    plain: str
    pieces: tuple[Any, ...]
    sender: Sender | None = None
    thread: str | None = None
    post: Post = field(default_factory=lambda: Post("", ""))


class FakeRelay:
    """One platform for the relay, in memory."""

    aliases: ClassVar[tuple[str, ...]] = ()
    relay_scopes: ClassVar[frozenset[str]] = frozenset({"chat:write"})
    message_limit: ClassVar[int] = 4000

    def __init__(self, name: str, bot_threads: bool) -> None:
        self.name = Platform(name)
        self.label = name.title()
        self.bot_threads = bot_threads
        self.rate_per_second = 1000.0
        self.posts: list[Posted] = []
        self.dms: list[tuple[str, str]] = []  # (user id, text) the bot sent as notices
        self.fail: dict[str, list[Exception]] = {}  # by plain text: raised by the next post
        self.drop: set[str] = set()  # by plain text: posted, then the answer is lost
        self.refused: set[str] = set()  # access tokens the platform refuses
        self.refreshed: list[str] = []
        self.key = b""

    # -- ChatPlatform, as far as the relay and commands use it
    def parse_mention(self, token: str) -> PlatformUserId | None:
        return PlatformUserId(token[2:-1]) if token.startswith("<@") else None

    def normalise_user_text(self, text: str) -> str:
        return text

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        self.dms.append((user.user_id, str(message.text)))
        return MessageRef(self.name, f"bot:{user.user_id}", f"n{len(self.dms)}")

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return f"https://{self.name}.test/authorize?state={state}"

    # -- RelayPlatform
    def use_relay_key(self, key: bytes) -> None:
        self.key = key

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        return self.relay_scopes <= set(grant.scope.split())

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        self.refreshed.append(grant.identity.user_id)
        return TokenGrant(
            grant.identity,
            grant.access_token + "+",
            grant.refresh_token,
            NOW + timedelta(hours=1),
            grant.scope,
        )

    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        return existing or Subscription(f"sub-{grant.identity.user_id}")

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        return subscription

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        return None

    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        self._check(grant)
        text = seen.fetch.get("text")
        if text is None:
            return None
        other = seen.fetch["other"]
        return DmSeen(
            seen.platform, seen.delivery_id, seen.owner_id, seen.conversation_id,
            seen.message_id, seen.sender_id, PlatformUserId(other), Prose.text(text),
        )  # fmt: skip

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        return []

    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        self._check(grant)
        return self._post(Posted(grant.identity.user_id, to.user_id, prose.plain(), prose.pieces))

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        posted = Posted(None, to.user_id, prose.plain(), prose.pieces, sender, thread_id)
        return self._post(posted)

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        who = None if grant is None else grant.identity.user_id
        found = [
            p.post
            for p in self.posts
            if p.as_user == who and p.to == to.user_id and p.plain == prose.plain()
        ]
        return found or None

    def _check(self, grant: TokenGrant) -> None:
        if grant.access_token in self.refused:
            raise TokenRefused(self.name, "token_revoked")

    def _post(self, posted: Posted) -> list[Post]:
        failures = self.fail.get(posted.plain)
        if failures:
            raise failures.pop(0)
        conversation = ":".join(sorted([posted.as_user or "bot", posted.to]))
        posted.post = Post(conversation, f"m{len(self.posts) + 1}")
        self.posts.append(posted)
        if posted.plain in self.drop:
            self.drop.discard(posted.plain)
            raise Unanswered(self.name, "no answer")
        return [posted.post]


@dataclass
class Relay:
    core: Core
    clock: ManualClock
    slack: FakeRelay
    teams: FakeRelay
    ids: dict[str, int]
    worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.worker = Worker(self.core)

    async def seen(
        self, platform: str, message_id: str, sender: str, other: str, **kw: Any
    ) -> None:
        """A message `sender` wrote to `other` on `platform`, seen through `other`'s
        subscription (through the edge, as an adapter hands it over)."""
        text = kw.pop("text", SECRET_TEXT)
        prose = kw.pop("prose", Prose.text(text))
        event = DmSeen(
            Platform(platform), kw.pop("delivery", f"d-{message_id}"), PlatformUserId(other),
            kw.pop("conversation", ":".join(sorted([sender, other]))), message_id,
            PlatformUserId(sender), PlatformUserId(other), prose, **kw,
        )  # fmt: skip
        outcome = await make_handler(self.core)(event)
        assert type(outcome).__name__ == "Answered"

    async def to_bot(
        self, platform: str, user: str, prose: Prose, message_id: str, thread: str | None = None
    ) -> Message | None:
        event = InboundCommand(
            Platform(platform), f"d-{message_id}", PlatformUserId(user), prose.plain(),
            ReplyTarget(Platform(platform)), redeliverable=True, prose=prose,
            conversation_id=f"bot:{user}", message_id=message_id, thread_id=thread,
        )  # fmt: skip
        outcome = await make_handler(self.core)(event)
        return cast(Message | None, getattr(outcome, "message", None))

    async def deliver(self) -> None:
        await self.worker.drain()

    async def rows(self, model: Any) -> list[Any]:
        async with self.core.sessions() as session:
            return list((await session.scalars(select(model).order_by(model.id))).all())


PEOPLE: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    # name: (primary, accounts by platform, sync kind/status by platform)
    "ada": ("slack", {"slack": "U_ADA", "teams": "T_ADA"}, {"teams": "consent/synced"}),
    "bob": ("teams", {"teams": "T_BOB", "slack": "U_BOB"}, {"slack": "consent/synced"}),
    "cy": ("teams", {"teams": "T_CY"}, {"slack": "represented/synced"}),
    "dee": ("slack", {"slack": "U_DEE"}, {"teams": "represented/synced"}),
    "eve": ("teams", {"teams": "T_EVE", "slack": "U_EVE"}, {"slack": "consent/pending"}),
    "fay": ("teams", {"teams": "T_FAY", "slack": "U_FAY"}, {}),
}


async def add_people(core: Core) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with core.transaction() as session:
        for name, (primary, accounts, syncs) in PEOPLE.items():
            person = Person(
                match_key=f"{name}@acme.test", email=f"{name}@acme.test",
                display_name=name.title(), primary_platform=primary, created_at=NOW,
            )  # fmt: skip
            session.add(person)
            await session.flush()
            ids[name] = person.id
            for platform, user_id in accounts.items():
                session.add(
                    Account(
                        platform=platform, platform_user_id=user_id, person_id=person.id,
                        email=f"{name}@acme.test", display_name=name.title(), seen_at=NOW,
                    )
                )  # fmt: skip
            for platform, state in syncs.items():
                await add_sync(session, core, person.id, primary, platform, state, accounts)
    return ids


async def add_sync(
    session: AsyncSession,
    core: Core,
    person_id: int,
    primary: str,
    platform: str,
    state: str,
    accounts: dict[str, str],
) -> None:
    kind, status = state.split("/")
    session.add(
        Sync(
            person_id=person_id, platform=platform, status=status, kind=kind,
            primary_platform=primary, requested_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    if kind == "consent" and status == "synced":
        user_id = PlatformUserId(accounts[platform])
        grant = TokenGrant(Identity(user_id, None), f"tok-{user_id}", "refresh", None, "chat:write")
        session.add(
            Grant(
                person_id=person_id, platform=platform, platform_user_id=user_id,
                tokens=core.vault.seal(grant_data(grant)), created_at=NOW,
            )
        )  # fmt: skip


@pytest.fixture
async def relay(db_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Relay]:
    key = Fernet.generate_key().decode()
    env = {"MIO_SECRET_KEY": key, "MIO_DATABASE_URL": "sqlite+aiosqlite:///unused.db"}
    slack, teams = FakeRelay("slack", bot_threads=True), FakeRelay("teams", bot_threads=False)
    clock = ManualClock(NOW)
    core = Core(
        settings=Settings.from_env({**env, "MIO_REQUIRED_PLATFORM": ""}),
        sessions=db_sessionmaker,
        platforms={"slack": cast(ChatPlatform, slack), "teams": cast(ChatPlatform, teams)},
        vault=Vault(key),
        clock=clock,
    )
    assert isinstance(slack, RelayPlatform) and slack.key  # the core handed it its relay key
    yield Relay(core, clock, slack, teams, await add_people(core))


# -- consent ↔ consent: posted as the sender, both ways; echoes and repeats change nothing


async def test_consent_to_consent_both_ways_as_the_sender(relay: Relay) -> None:
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB")
    await relay.deliver()
    (post,) = relay.teams.posts
    assert (post.as_user, post.to, post.plain) == ("T_ADA", "T_BOB", SECRET_TEXT)
    await relay.seen("teams", "r1", "T_BOB", "T_ADA", text="thanks")
    await relay.deliver()
    (back,) = relay.slack.posts
    assert (back.as_user, back.to, back.plain) == ("U_BOB", "U_ADA", "thanks")
    messages = await relay.rows(RelayMessage)
    assert [(m.source_platform, m.target_platform, m.via, m.state) for m in messages] == [
        ("slack", "teams", "user", "delivered"),
        ("teams", "slack", "user", "delivered"),
    ]
    assert len(await relay.rows(RelayPost)) == 2
    assert all(row.secret is None for row in await relay.rows(OutboxItem))  # text erased


async def test_a_sender_linked_without_the_relay_scopes_goes_through_the_bot(
    relay: Relay,
) -> None:
    """Linked before the relay asked for its scopes: shown "needs re-link", relayed by the bot
    until they link again."""
    relay.teams.relay_scopes = frozenset({"Chat.ReadWrite", "a-scope-the-grant-lacks"})
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB")
    await relay.deliver()
    (post,) = relay.teams.posts
    assert (post.as_user, post.to, post.plain) == (None, "T_BOB", SECRET_TEXT)
    (message,) = await relay.rows(RelayMessage)
    assert (message.via, message.state) == ("bot", "delivered")


async def test_the_echo_of_our_post_is_dropped(relay: Relay) -> None:
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB")
    await relay.deliver()
    (post,) = relay.teams.posts
    # Our post as Ada, seen through Ada's own Teams subscription: in relay_posts.
    await relay.seen(
        "teams", post.post.message_id, "T_ADA", "T_BOB", conversation=post.post.conversation_id
    )
    await relay.deliver()
    assert len(relay.teams.posts) == 1 and relay.slack.posts == []
    assert len(await relay.rows(RelayMessage)) == 1


async def test_the_same_message_seen_twice_is_relayed_once(relay: Relay) -> None:
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB", delivery="through-bob")
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB", delivery="redelivered")
    await relay.deliver()
    assert len(relay.teams.posts) == 1


async def test_a_notification_without_text_is_read_with_the_owners_token(relay: Relay) -> None:
    fetch = {"text": "read later", "other": "U_BOB"}
    event_kw = {"prose": None, "fetch": fetch}
    await relay.seen("slack", "2.1", "U_ADA", "U_BOB", **event_kw)
    capture = (await relay.rows(OutboxItem))[0]
    assert capture.kind == "relay_capture" and "read later" not in str(capture.payload)
    await relay.deliver()
    (post,) = relay.teams.posts
    assert (post.as_user, post.plain) == ("T_ADA", "read later")


async def test_a_grant_about_to_expire_is_refreshed_and_stored(relay: Relay) -> None:
    async with relay.core.transaction() as session:
        grant = (
            await session.scalars(select(Grant).where(Grant.platform_user_id == "T_ADA"))
        ).one()
        data = relay.core.vault.open(grant.tokens)
        data["expires_at"] = (NOW + timedelta(minutes=2)).isoformat()
        grant.tokens = relay.core.vault.seal(data)
    await relay.seen("slack", "1.1", "U_ADA", "U_BOB")
    await relay.deliver()
    assert relay.teams.refreshed == ["T_ADA"]
    async with relay.core.sessions() as session:
        grant = (
            await session.scalars(select(Grant).where(Grant.platform_user_id == "T_ADA"))
        ).one()
        assert relay.core.vault.open(grant.tokens)["access_token"] == "tok-T_ADA+"
        assert grant.expires_at == NOW + timedelta(hours=1)


# -- represented people: the bot posts with the sender's name, threads, current correspondent


async def test_a_represented_sender_is_posted_by_the_bot_and_answered(relay: Relay) -> None:
    await relay.seen("slack", "3.1", "U_DEE", "U_BOB", text="hello from dee")
    await relay.deliver()
    (post,) = relay.teams.posts
    assert post.as_user is None and post.sender == Sender("Dee", "Slack") and post.thread is None
    # Bob answers the bot on Teams: Dee is his current correspondent there.
    answer = await relay.to_bot("teams", "T_BOB", Prose.text("hi dee"), "t1")
    assert answer is None
    await relay.deliver()
    (back,) = relay.slack.posts
    assert (back.as_user, back.to, back.plain) == ("U_BOB", "U_DEE", "hi dee")


async def test_slack_keeps_one_thread_per_correspondent(relay: Relay) -> None:
    await relay.seen("teams", "c1", "T_CY", "T_ADA", text="first")
    await relay.deliver()
    await relay.seen("teams", "c2", "T_CY", "T_ADA", text="second")
    await relay.deliver()
    first, second = relay.slack.posts
    assert first.thread is None and second.thread == first.post.message_id
    assert first.sender == Sender("Cy", "Teams")
    # Ada replies in Cy's thread: it goes to Cy on Teams, as Ada.
    await relay.to_bot("slack", "U_ADA", Prose.text("reply"), "s1", thread=first.post.message_id)
    await relay.deliver()
    (back,) = relay.teams.posts
    assert (back.as_user, back.to, back.plain) == ("T_ADA", "T_CY", "reply")


async def test_at_name_writes_to_a_represented_person_and_switches(relay: Relay) -> None:
    await relay.to_bot("slack", "U_ADA", Prose.text("@cy hello cy"), "s1")
    await relay.to_bot("slack", "U_ADA", Prose.text("and again"), "s2")
    await relay.deliver()
    assert [(p.to, p.plain) for p in relay.teams.posts] == [
        ("T_CY", "hello cy"),
        ("T_CY", "and again"),
    ]
    help_answer = await relay.to_bot("slack", "U_DEE", Prose.text("what now"), "s3")
    assert help_answer is not None and "@Bob hello" in str(help_answer.text)


async def test_a_command_word_is_still_a_command(relay: Relay) -> None:
    await relay.to_bot("slack", "U_ADA", Prose.text("@cy hi"), "s1")
    answer = await relay.to_bot("slack", "U_ADA", Prose.text("help"), "s2")
    assert answer is not None and "Mio" in str(answer.text)
    await relay.deliver()
    assert [p.plain for p in relay.teams.posts] == ["hi"]


async def test_mentions_become_the_targets_mentions_or_names(relay: Relay) -> None:
    prose = Prose.of([Run("ask "), Mention("U_BOB", "Bob"), Run(" and "), Mention("U_DEE", "Dee")])
    await relay.seen("slack", "4.1", "U_ADA", "U_BOB", prose=prose)
    await relay.deliver()
    (post,) = relay.teams.posts
    assert post.pieces == (Run("ask "), Mention("T_BOB", "Bob"), Run(" and "), Run("@Dee"))


# -- faults: order kept per conversation, nothing doubled, a refused token waits


async def test_a_5xx_holds_back_its_conversation_and_no_other(relay: Relay) -> None:
    relay.teams.fail["one"] = [RetryLater("teams", "HTTP 503")]
    await relay.seen("slack", "5.1", "U_ADA", "U_BOB", text="one")
    await relay.seen("slack", "5.2", "U_ADA", "U_BOB", text="two")
    await relay.seen("slack", "5.3", "U_DEE", "U_BOB", text="other conversation")
    await relay.deliver()
    assert [p.plain for p in relay.teams.posts] == ["other conversation"]
    relay.clock.advance(timedelta(minutes=5))
    await relay.deliver()
    assert [p.plain for p in relay.teams.posts] == ["other conversation", "one", "two"]


async def test_a_429_is_retried_after_retry_after_in_order(relay: Relay) -> None:
    relay.teams.fail["one"] = [RetryLater("teams", "HTTP 429", after=30)]
    await relay.seen("slack", "6.1", "U_ADA", "U_BOB", text="one")
    await relay.seen("slack", "6.2", "U_ADA", "U_BOB", text="two")
    await relay.deliver()
    assert relay.teams.posts == []
    relay.clock.advance(timedelta(seconds=31))
    await relay.deliver()
    assert [p.plain for p in relay.teams.posts] == ["one", "two"]


async def test_an_unanswered_post_is_found_and_not_posted_again(relay: Relay) -> None:
    relay.teams.drop.add(SECRET_TEXT)
    await relay.seen("slack", "7.1", "U_ADA", "U_BOB")
    await relay.deliver()
    (row,) = await relay.rows(OutboxItem)
    assert row.state == "pending" and (row.last_error or "").startswith("unanswered: ")
    relay.clock.advance(timedelta(minutes=5))
    await relay.deliver()
    assert len(relay.teams.posts) == 1
    (message,) = await relay.rows(RelayMessage)
    assert message.state == "delivered" and message.duplicates == 0
    assert len(await relay.rows(RelayPost)) == 1


async def test_a_refused_token_waits_then_is_delivered_after_relinking(relay: Relay) -> None:
    relay.teams.refused.add("tok-T_ADA")
    await relay.seen("slack", "8.1", "U_ADA", "U_BOB", text="one")
    await relay.seen("slack", "8.2", "U_ADA", "U_BOB", text="two")
    await relay.deliver()
    first, second = (await relay.rows(OutboxItem))[:2]
    assert first.state == "waiting" and first.secret is not None
    assert first.next_attempt_at == NOW + timedelta(hours=24)
    assert second.state == "pending"  # held back behind the waiting one
    async with relay.core.sessions() as session:
        sync = (
            await session.scalars(
                select(Sync).where(Sync.person_id == relay.ids["ada"], Sync.platform == "teams")
            )
        ).one()
    assert (sync.status, sync.reason) == ("failed", "token_revoked")
    told = [text for user, text in relay.slack.dms if user == "U_ADA"]
    assert sum(t.startswith("Link your Teams account again") for t in told) == 1  # one DM
    assert sum(t.startswith("Your message to Bob is waiting") for t in told) == 1
    # A third message while the sync is failed: routed straight to waiting.
    await relay.seen("slack", "8.3", "U_ADA", "U_BOB", text="three")
    # Ada links again: the sync is synced, her rows are released.
    relay.teams.refused.clear()
    async with relay.core.transaction() as session:
        row = await session.get(Sync, sync.id)
        assert row is not None
        row.status, row.reason = "synced", None
        assert await waiting.release(session, relay.core, sync.id) == 2
    await relay.deliver()
    assert [p.plain for p in relay.teams.posts] == ["one", "two", "three"]


async def test_a_waiting_message_expires_after_24_hours(relay: Relay) -> None:
    relay.teams.refused.add("tok-T_ADA")
    await relay.seen("slack", "9.1", "U_ADA", "U_BOB")
    await relay.deliver()
    assert await waiting.expire_waiting(relay.core) == 0
    relay.clock.advance(timedelta(hours=24, seconds=1))
    assert await waiting.expire_waiting(relay.core) == 1
    (row,) = [r for r in await relay.rows(OutboxItem) if r.kind == "relay_post"]
    assert (row.state, row.secret) == ("failed", None)
    (message,) = await relay.rows(RelayMessage)
    assert message.state == "expired"
    await relay.deliver()
    told = [text for user, text in relay.slack.dms if user == "U_ADA"]
    assert any(text.startswith("Your message to Bob was not delivered") for text in told)


# -- people who cannot be reached: told once a day, prompted once


async def test_an_unsynced_recipient_tells_the_sender_once_a_day(relay: Relay) -> None:
    for n in range(3):
        await relay.to_bot("slack", "U_ADA", Prose.text(f"@fay hi {n}"), f"f{n}")
    await relay.deliver()
    told = [text for user, text in relay.slack.dms if user == "U_ADA"]
    assert len(told) == 1 and "Fay" in told[0] and "sync them to Slack" in told[0]
    relay.clock.advance(timedelta(days=1, seconds=1))
    await relay.to_bot("slack", "U_ADA", Prose.text("@fay later"), "f9")
    await relay.deliver()
    assert len([u for u, _ in relay.slack.dms if u == "U_ADA"]) == 2
    assert relay.teams.posts == []


async def test_a_pending_recipient_is_prompted_once(relay: Relay) -> None:
    for n in range(3):
        await relay.to_bot("slack", "U_ADA", Prose.text(f"@eve hi {n}"), f"e{n}")
    await relay.deliver()
    told = [text for user, text in relay.slack.dms if user == "U_ADA"]
    assert len(told) == 1 and "hasn't allowed messages from Slack" in told[0]
    prompted = [text for user, text in relay.teams.dms if user == "T_EVE"]
    assert len(prompted) == 1 and "Allow Mio to link your Slack account" in prompted[0]


async def test_no_text_in_logs_or_readable_rows(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relay.teams.fail[SECRET_TEXT] = [RetryLater("teams", "HTTP 503")]
    await relay.seen("slack", "10.1", "U_ADA", "U_BOB")
    (row,) = await relay.rows(OutboxItem)
    assert SECRET_TEXT not in str(row.payload) and SECRET_TEXT not in (row.secret or "")
    await relay.deliver()
    relay.clock.advance(timedelta(minutes=5))
    await relay.deliver()
    assert len(relay.teams.posts) == 1
    assert SECRET_TEXT not in caplog.text
    assert "relay" in caplog.text  # the pipeline did log, with ids


async def test_the_slash_command_dm_writes_to_someone(relay: Relay) -> None:
    event = InboundCommand(
        Platform("slack"), "slash-1", PlatformUserId("U_ADA"), "dm cy see you at 3",
        ReplyTarget(Platform("slack")),
    )  # fmt: skip
    await make_handler(relay.core)(event)
    await relay.deliver()
    assert [(p.to, p.plain) for p in relay.teams.posts] == [("T_CY", "see you at 3")]


async def test_an_unanswered_bot_post_in_a_thread_keeps_the_thread(relay: Relay) -> None:
    await relay.seen("teams", "c1", "T_CY", "T_ADA", text="first")
    await relay.deliver()
    relay.slack.drop.add("second")
    await relay.seen("teams", "c2", "T_CY", "T_ADA", text="second")
    await relay.deliver()
    relay.clock.advance(timedelta(minutes=5))
    await relay.deliver()
    await relay.seen("teams", "c3", "T_CY", "T_ADA", text="third")
    await relay.deliver()
    first, second, third = relay.slack.posts
    assert second.thread == third.thread == first.post.message_id


async def test_a_lookup_that_cannot_be_made_counts_a_possible_duplicate(relay: Relay) -> None:
    relay.teams.drop.add(SECRET_TEXT)
    await relay.seen("slack", "7.1", "U_ADA", "U_BOB")
    await relay.deliver()

    async def cannot_look(*args: Any) -> list[Post] | None:
        raise PermanentFailure("teams", "history not readable")

    relay.teams.find_post = cannot_look  # type: ignore[method-assign,assignment]
    relay.clock.advance(timedelta(minutes=5))
    await relay.deliver()
    assert len(relay.teams.posts) == 2  # posted again: it may be doubled, and it is counted
    (message,) = await relay.rows(RelayMessage)
    assert message.state == "delivered" and message.duplicates == 1


async def test_a_capture_whose_token_is_refused_waits(relay: Relay) -> None:
    relay.slack.refused.add("tok-U_BOB")
    fetch = {"text": "read later", "other": "U_BOB"}
    await relay.seen("slack", "2.1", "U_ADA", "U_BOB", prose=None, fetch=fetch)
    await relay.deliver()
    (capture,) = [r for r in await relay.rows(OutboxItem) if r.kind == "relay_capture"]
    assert capture.state == "waiting" and capture.next_attempt_at == NOW + timedelta(hours=24)
    async with relay.core.sessions() as session:
        sync = (
            await session.scalars(
                select(Sync).where(Sync.person_id == relay.ids["bob"], Sync.platform == "slack")
            )
        ).one()
    assert (sync.status, sync.reason, capture.sync_id) == ("failed", "token_revoked", sync.id)


async def test_subscription_and_access_notices_reach_the_lifecycle(relay: Relay) -> None:
    handle = make_handler(relay.core)
    notice = SubscriptionNotice(Platform("teams"), "n1", PlatformUserId("T_ADA"), "sub-1", "missed")
    revoked = AccessRevoked(Platform("slack"), "n2", (PlatformUserId("U_BOB"),))
    assert type(await handle(notice)).__name__ == "Answered"
    assert type(await handle(revoked)).__name__ == "Answered"
    async with relay.core.sessions() as session:
        actions = [e.action for e in (await session.scalars(select(AuditEntry))).all()]
    # Nobody has a subscription "sub-1"; Bob's Slack token was refused: his sync fails.
    assert actions[:2] == ["relay.notice_unknown", "sync.failed"]


async def test_two_processes_relay_a_message_seen_by_both_once(
    relay: Relay, migrated_db_url: str
) -> None:
    """A second core on its own engine (another process) sees the same message through the
    other member's subscription at the same time; both workers run: one post."""
    engine = make_engine(migrated_db_url)
    try:
        other = Core(
            settings=relay.core.settings,
            sessions=make_sessionmaker(engine),
            platforms=relay.core.platforms,
            vault=relay.core.vault,
            clock=relay.clock,
        )
        twin = Relay(other, relay.clock, relay.slack, relay.teams, relay.ids)
        for n in range(5):
            await asyncio.gather(
                relay.seen("slack", f"11.{n}", "U_ADA", "U_BOB", delivery=f"a{n}", text=f"m{n}"),
                twin.seen("slack", f"11.{n}", "U_ADA", "U_BOB", delivery=f"b{n}", text=f"m{n}"),
            )
        await asyncio.gather(relay.deliver(), twin.deliver())
        await asyncio.gather(relay.deliver(), twin.deliver())
        assert [p.plain for p in relay.teams.posts] == [f"m{n}" for n in range(5)]
    finally:
        await engine.dispose()
