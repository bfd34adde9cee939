"""A Core on a real database (SQLite and PostgreSQL) with two in-memory relay platforms, for the
relay lifecycle tests (tests/bot/test_relay_life_*.py).

`FakeRelay` implements `ChatPlatform` and every method of `RelayPlatform` for real, in memory:
subscriptions it made (with Graph-like expiries), messages people wrote, posts, a log of every
call in order. Tokens it refuses raise `TokenRefused`, as the adapters map Slack
`invalid_auth`, a failed Graph refresh, a Webex 401 or an invalid Zoom token (issue 10, 6).
People link their accounts through the real consent path (`bot.lifecycle.request`, the Allow
press, the OAuth callback), so every hook runs where it runs in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import codec, consent, lifecycle, messages
from bot.clock import ManualClock
from bot.core import Core
from bot.crypto import Vault
from bot.delivery import Worker
from bot.directory import import_platform
from bot.platform import ChatPlatform, EventHandler, RelayPlatform
from bot.prose import Prose
from bot.settings import Settings
from bot.types import (
    ButtonPress,
    DirectoryUser,
    DmSeen,
    Identity,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    Post,
    ReplyTarget,
    Sender,
    Subscription,
    TokenGrant,
    TokenRefused,
)
from store.models import AuditEntry, OutboxItem
from store.relay_models import RelaySubscription
from store.repositories import Directory, Subscriptions, Syncs

LIFETIME = timedelta(days=3)  # Graph chat subscriptions: 4,320 minutes (relay-apis §2.1)
SCOPES = frozenset({"Chat.ReadWrite", "ChatMessage.Send", "offline_access", "User.Read"})
ACTOR = "slack:U_ADA"
PEOPLE = {  # email → (name, {platform: user id})
    "ada@acme.test": ("Ada Lovelace", {"slack": "U_ADA", "teams": "T_ADA"}),
    "bob@acme.test": ("Bob Marley", {"slack": "U_BOB", "teams": "T_BOB"}),
    "cy@acme.test": ("Cy Twombly", {"slack": "U_CY"}),
}


class FakeRelay:
    """One platform in memory: the directory, the bot's DMs, OAuth, and the relay's calls."""

    aliases: ClassVar[tuple[str, ...]] = ()
    relay_scopes: ClassVar[frozenset[str]] = SCOPES
    bot_threads: ClassVar[bool] = False
    message_limit: ClassVar[int] = 4000

    def __init__(self, name: str, clock: ManualClock, log: list[tuple[str, ...]]) -> None:
        self.name = Platform(name)
        self.label = name.title()
        self.rate_per_second = 1000.0
        self.clock = clock
        self.log = log  # shared by both platforms: the order of every relay call
        self.users = [
            DirectoryUser(self.name, PlatformUserId(ids[name]), email, full)
            for email, (full, ids) in PEOPLE.items()
            if name in ids
        ]
        self.dms: list[tuple[DirectoryUser, Message]] = []
        self.updated: list[tuple[MessageRef, Message]] = []
        self.subscriptions: dict[str, str] = {}  # external id → owner user id
        self.refused: set[str] = set()  # access tokens the platform no longer accepts
        self.scope = " ".join(sorted(SCOPES))  # what the next sign-in grants
        self.written: dict[str, list[DmSeen]] = {}  # owner → messages in their 1:1s
        self.posts: list[tuple[str, Prose]] = []
        self.relay_key = b""
        self.made = 0

    @classmethod
    def from_env(cls, env: Any) -> Self | None:
        return None  # built by the tests only

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        return []

    async def workspace(self) -> tuple[str, str]:
        return f"W-{self.name}", f"Acme on {self.label}"

    async def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        yield list(self.users)

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        return next((u for u in self.users if u.user_id == user_id), None)

    def parse_mention(self, token: str) -> PlatformUserId | None:
        return PlatformUserId(token[1:]) if token.startswith("@") else None

    def normalise_user_text(self, text: str) -> str:
        return text.strip()

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        self.dms.append((user, message))
        return MessageRef(self.name, f"D-{user.user_id}", f"m{len(self.dms)}")

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        self.updated.append((ref, message))
        return ref

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        self.log.append(("reply", self.name))

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return f"https://{self.name}.fake/authorize?state={state}&redirect_uri={redirect_uri}"

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        user = await self.lookup_user(PlatformUserId(code))
        assert user is not None
        return TokenGrant(
            Identity(user.user_id, user.email),
            f"tok-{code}-{self.made}",
            f"ref-{code}",
            self.clock.now() + timedelta(hours=1),
            self.scope,
        )

    async def revoke(self, grant: TokenGrant) -> str:
        self.log.append(("revoke", self.name, grant.identity.user_id))
        self.refused.add(grant.access_token)
        return "revoked"

    async def prepare(self, public_url: str) -> list[str]:
        return []

    # --- RelayPlatform --------------------------------------------------------------------

    def use_relay_key(self, key: bytes) -> None:
        self.relay_key = key

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        return self.relay_scopes <= set(grant.scope.split())

    def _check(self, grant: TokenGrant) -> None:
        if grant.access_token in self.refused:
            raise TokenRefused(self.name, "token_revoked")

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        self._check(grant)
        self.log.append(("refresh", self.name, grant.identity.user_id))
        fresh = f"{grant.access_token}-r"
        return TokenGrant(
            grant.identity,
            fresh,
            grant.refresh_token,
            self.clock.now() + timedelta(hours=1),
            grant.scope,
        )

    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        self._check(grant)
        owner = grant.identity.user_id
        if existing is not None and existing.external_id in self.subscriptions:
            self.log.append(("repair", self.name, owner))
            return existing
        self.made += 1
        external = f"sub-{self.name}-{self.made}"
        self.subscriptions[external] = owner
        self.log.append(("subscribe", self.name, owner))
        return Subscription(external, self.clock.now() + LIFETIME, {"url": public_url})

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        self._check(grant)
        if subscription.external_id not in self.subscriptions:
            raise PermanentFailure(self.name, "404 subscription not found")
        self.log.append(("renew", self.name, grant.identity.user_id))
        return Subscription(
            subscription.external_id, self.clock.now() + LIFETIME, subscription.data
        )

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        self._check(grant)
        self.subscriptions.pop(subscription.external_id, None)
        self.log.append(("unsubscribe", self.name, grant.identity.user_id))

    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        self._check(grant)
        found = self.written.get(seen.owner_id, [])
        return next((m for m in found if m.message_id == seen.message_id), None)

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        self._check(grant)
        self.log.append(("messages_since", self.name, grant.identity.user_id))
        found = self.written.get(grant.identity.user_id, [])
        return [m for m in found if m.sent_at is not None and m.sent_at > since]

    def write(self, sender: str, owner: str, text: str, at: datetime) -> DmSeen:
        """`sender` writes to `owner` natively: the message their 1:1 now holds."""
        seen = DmSeen(
            self.name,
            f"d-{len(self.posts)}-{text}",
            PlatformUserId(owner),
            ":".join(sorted((sender, owner))),
            f"msg-{at.timestamp()}",
            PlatformUserId(sender),
            PlatformUserId(owner),
            Prose.text(text),
            sent_at=at,
        )
        self.written.setdefault(owner, []).append(seen)
        return seen

    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        self._check(grant)
        self.posts.append((to.user_id, prose))
        return [Post(":".join(sorted((grant.identity.user_id, to.user_id))), f"p{len(self.posts)}")]

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        self.posts.append((to.user_id, prose))
        return [Post(f"bot:{to.user_id}", f"p{len(self.posts)}")]

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        hits = [
            i for i, (who, said) in enumerate(self.posts) if who == to.user_id and said == prose
        ]
        return [Post(f"bot:{to.user_id}", f"p{hits[-1] + 1}")] if hits else None


@dataclass
class RelayWorld:
    core: Core
    clock: ManualClock
    slack: FakeRelay
    teams: FakeRelay
    log: list[tuple[str, ...]] = field(default_factory=list)

    async def person_id(self, email: str) -> int:
        async with self.core.sessions() as session:
            (person,) = await Directory(session).find_people(email)
        return person.id

    async def outbox(self, kind: str | None = None) -> list[OutboxItem]:
        async with self.core.sessions() as session:
            stmt = select(OutboxItem).order_by(OutboxItem.id)
            if kind is not None:
                stmt = stmt.where(OutboxItem.kind == kind)
            return list((await session.scalars(stmt)).all())

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.core.sessions() as session:
            stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            return list((await session.scalars(stmt)).all())

    async def subscription(self, email: str, platform: str = "teams") -> RelaySubscription | None:
        person_id = await self.person_id(email)
        async with self.core.sessions() as session:
            return await Subscriptions(session).get(person_id, platform)

    async def sync_state(self, email: str, platform: str = "teams") -> tuple[str, str | None]:
        person_id = await self.person_id(email)
        async with self.core.sessions() as session:
            sync = await Syncs(session).get(person_id, platform)
        assert sync is not None
        return sync.status, sync.reason

    async def drain(self) -> None:
        await Worker(self.core).drain()

    def buttons_token(self, row: OutboxItem) -> str:
        assert row.secret is not None
        message = codec.load_message(self.core.vault.open(row.secret)["message"])
        return message.buttons[0].value

    async def press_and_sign_in(self, row: OutboxItem | str, email: str, platform: str) -> bool:
        """The person presses the DM's first button on their primary (Slack) and signs in;
        `row` is the DM's queued row, or the button's token of a DM already delivered."""
        ids = PEOPLE[email][1]
        press = ButtonPress(
            platform=Platform("slack"),
            delivery_id=f"press-{self.clock.now().timestamp()}-{len(self.log)}",
            user_id=PlatformUserId(ids["slack"]),
            action_id=messages.ALLOW,
            value=row if isinstance(row, str) else self.buttons_token(row),
            message=None,
            reply_to=ReplyTarget(Platform("slack")),
        )
        async with self.core.transaction() as session:
            step = await consent.press(session, self.core, press)
        if step is None:  # the DM Mio remembered was edited into the sign-in step
            sealed = [r.secret for r in await self.outbox("update_dm") if r.secret is not None]
            step = codec.load_message(self.core.vault.open(sealed[-1])["message"])
        assert step.buttons[0].url is not None
        state = parse_qs(urlsplit(step.buttons[0].url).query)["state"][0]
        result = await consent.oauth_callback(self.core, platform, ids[platform], state, None)
        return result.ok

    async def link(self, email: str, platform: str = "teams") -> int:
        """An admin asks, the person allows and signs in: the sync is synced; its id."""
        person_id = await self.person_id(email)
        async with self.core.transaction() as session:
            await lifecycle.request(session, self.core, ACTOR, person_id, platform)
        row = [r for r in await self.outbox("send_dm") if r.sync_id is not None][-1]
        assert await self.press_and_sign_in(row, email, platform)
        async with self.core.sessions() as session:
            sync = await Syncs(session).get(person_id, platform)
        assert sync is not None and sync.status == "synced"
        return sync.id


def make_core(
    sessions: async_sessionmaker[AsyncSession],
    url: str,
    clock: ManualClock,
    key: str,
    log: list[tuple[str, ...]],
) -> Core:
    settings = Settings.from_env(
        {
            "MIO_SECRET_KEY": key,
            "MIO_DATABASE_URL": url,
            "MIO_PUBLIC_URL": "https://mio.acme.test",
            "MIO_REQUIRED_PLATFORM": "",
        }
    )
    platforms = {p: cast(ChatPlatform, FakeRelay(p, clock, log)) for p in ("slack", "teams")}
    return Core(settings, sessions, platforms, Vault(key), clock)


def fake(core: Core, platform: str) -> FakeRelay:
    adapter = core.platforms[platform]
    assert isinstance(adapter, FakeRelay)
    return adapter


async def build_world(
    db_sessionmaker: async_sessionmaker[AsyncSession], migrated_db_url: str
) -> RelayWorld:
    """Ada and Bob have Slack and Teams accounts, Slack their primary; Cy is on Slack only.
    (Each test module's `world` fixture returns this.)"""
    clock = ManualClock()
    log: list[tuple[str, ...]] = []
    core = make_core(db_sessionmaker, migrated_db_url, clock, Fernet.generate_key().decode(), log)
    for platform in ("slack", "teams"):
        await import_platform(core, platform, "test")
    w = RelayWorld(core, clock, fake(core, "slack"), fake(core, "teams"), log)
    for email in ("ada@acme.test", "bob@acme.test"):
        async with core.transaction() as session:
            person_id = await w.person_id(email)
            await lifecycle.set_primary(session, core, ACTOR, person_id, "slack")
    return w


@pytest.fixture
async def world(
    db_sessionmaker: async_sessionmaker[AsyncSession], migrated_db_url: str
) -> RelayWorld:
    return await build_world(db_sessionmaker, migrated_db_url)


def test_the_fake_is_a_chat_and_relay_platform() -> None:
    adapter = FakeRelay("teams", ManualClock(), [])
    assert isinstance(adapter, RelayPlatform)
    assert adapter.grant_covers_relay(
        TokenGrant(Identity(PlatformUserId("T"), None), "t", scope=" ".join(SCOPES))
    )
    assert not adapter.grant_covers_relay(
        TokenGrant(Identity(PlatformUserId("T"), None), "t", scope="User.Read")
    )


async def test_linking_through_consent_makes_a_synced_sync(world: RelayWorld) -> None:
    await world.link("ada@acme.test")
    assert await world.sync_state("ada@acme.test") == ("synced", None)
