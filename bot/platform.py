"""The one interface every platform adapter implements.

The core depends on this Protocol only; `adapters/__init__.py` maps platform names to classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from aiohttp import web

from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    InboundEvent,
    Message,
    MessageRef,
    Outcome,
    Platform,
    PlatformUserId,
    Post,
    Redeliver,
    ReplyTarget,
    Sender,
    Subscription,
    TokenGrant,
)

# How long a look-up of an unknown caller may wait out the platform's 429s: someone is waiting
# for an answer (and Slack wants its ack within 3 seconds), so only short pauses are waited out.
LOOKUP_ATTEMPTS = 3
LOOKUP_LONGEST_WAIT = 5.0

# The core's inbound edge (bot/edge.py): de-duplicates, handles and commits an event, then says
# how to answer the delivery. It never raises; the adapter acknowledges only after it returns.
EventHandler = Callable[[InboundEvent], Awaitable[Outcome]]


def redeliver_response(outcome: Redeliver) -> web.Response:
    """The 5xx that makes a platform deliver a refused event again (Teams, Webex and Zoom all
    retry on it); the body names the reference in our logs."""
    return web.json_response({"error": f"internal error (ref: {outcome.ref})"}, status=500)


class ChatPlatform(Protocol):
    name: ClassVar[Platform]  # "slack"
    label: ClassVar[str]  # "Slack", as people see it
    aliases: ClassVar[tuple[str, ...]]  # other names people type for it: "ms teams"
    rate_per_second: float  # the outbox paces this platform's calls to it (platform-apis §G)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self | None:
        """Build from settings; None when the platform has no credentials (not connected).

        Raises `ValueError` naming the variable when credentials are present but incomplete.
        """
        ...

    async def start(self) -> None:
        """Open HTTP sessions; called once inside the running event loop."""
        ...

    async def close(self) -> None: ...

    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        """The webhook routes: verify the signature, translate the body into a neutral event,
        call `handler` (the core's edge) and answer its `Outcome` natively."""
        ...

    async def workspace(self) -> tuple[str, str]:
        """(workspace id, workspace name) of the connected team/account; checks credentials."""
        ...

    def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        """The whole directory, one platform page at a time (active and deactivated)."""
        ...

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        """One account by its platform id, as `list_users` would report it; None when the
        platform knows no such user. For a caller Mio never imported (first contact); 429s
        are waited out (`adapters.retry.patiently`)."""
        ...

    def parse_mention(self, token: str) -> PlatformUserId | None:
        """A user id from the platform's mention syntax in command text (`<@U123|bob>`)."""
        ...

    def normalise_user_text(self, text: str) -> str:
        """`text` as the person typed it, without the platform's own markup around it (Slack
        delivers a typed email as `<mailto:bob@acme.test|bob@acme.test>`), for a name search."""
        ...

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        """A new direct message from the bot to `user` (a notification, never an edit)."""
        ...

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        """Replace a message the bot sent; where the platform cannot, post a follow-up."""
        ...

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        """A later answer to an inbound command or press (after the ack)."""
        ...

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        """The user OAuth page for linking the person's account to the bot."""
        ...

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        """Code → tokens plus the identity that authorized."""
        ...

    async def revoke(self, grant: TokenGrant) -> str:
        """Revoke on the platform where it can; returns a sentence for the audit log."""
        ...

    async def prepare(self, public_url: str) -> list[str]:
        """Make the platform's side ready at start-up (e.g. register webhooks pointing at
        `public_url`); returns sentences saying what was found or done, for `mio serve`."""
        ...


# Tokens an admin granted the bot itself (e.g. Webex directory access): a JSON object the core
# stores encrypted and hands back at start-up; the adapter reports rotated tokens through it.
SaveAdminGrant = Callable[[dict[str, Any]], Awaitable[None]]


@runtime_checkable
class NeedsAdminGrant(Protocol):
    """A platform whose directory needs an admin to authorize the bot once (`mio connect`)."""

    def admin_authorize_url(self, state: str, redirect_uri: str) -> str: ...

    async def exchange_admin_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """Code → the tokens to keep (opaque to the core), checked to carry the needed scopes."""
        ...

    def use_admin_grant(self, grant: dict[str, Any] | None, save: SaveAdminGrant) -> None:
        """The stored grant (None when never connected) and how to persist a refreshed one."""
        ...


# --- Pacing shared by every process (issue 9) -------------------------------------------------
# A platform's rate limit is per app, not per process: every process that calls it takes its
# turn from one `RateGate`, which the core keeps in the database (`bot.rate_gate`) and hands to
# the adapters (`UsesRateGate`); an adapter used without a core keeps it in-process.


@dataclass(frozen=True)
class Pace:
    """At most `calls` calls in any `per` seconds (a sliding window over the latest calls)."""

    calls: int
    per: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.per <= 0:
            raise ValueError("a pace needs at least one call and a positive period")

    def delay(self, marks: Sequence[float], now: float) -> float:
        """Seconds until one more call fits, given the marks (times) of the calls counted."""
        recent = sorted(marks)[-self.calls :]
        if len(recent) < self.calls:
            return 0.0
        return max(0.0, recent[0] + self.per - now)

    def counted(self, marks: Sequence[float], mark: float) -> list[float]:
        """The marks with one more call; only the latest `calls` can ever matter."""
        return sorted([*marks, mark])[-self.calls :]

    def moved(self, marks: Sequence[float], mark: float, to: float) -> list[float]:
        """The marks with the call counted at `mark` counted at `to` instead (its answer came);
        counted at `to` even if later calls pushed `mark` out: it did reach the platform."""
        rest = list(marks)
        if mark in rest:
            rest.remove(mark)
        return self.counted(rest, to)


class RateGate(Protocol):
    """Where each call to a platform takes its turn, so all processes together keep its pace."""

    async def take(self, key: str, pace: Pace) -> float:
        """Wait until a call under `key` fits `pace`, count it, and return its mark."""
        ...

    async def answered(self, key: str, pace: Pace, mark: float) -> None:
        """Count the call taken as `mark` from now: the platform counted it on arrival, and a
        slow request must not let the next one arrive inside its window."""
        ...

    async def pause(self, key: str, until: datetime) -> None:
        """Every caller of `key` holds off until `until` (a 429's Retry-After)."""
        ...

    async def paused_until(self, key: str) -> datetime | None:
        """The latest pause recorded for `key` (the caller compares it with its own clock)."""
        ...


@runtime_checkable
class UsesRateGate(Protocol):
    """An adapter that paces its own calls (directory pages) and can share the core's gate."""

    def use_rate_gate(self, gate: RateGate) -> None: ...


# --- The relay (issue 10): direct messages between people on different platforms ------------


@runtime_checkable
class RelayPlatform(Protocol):
    """A platform the relay can read people's DMs on and post to, as them or as the bot.

    Every call that takes a `TokenGrant` acts as that person with their user token; a token
    the platform refuses raises `TokenRefused`, a call that may have reached the platform
    without an answer raises `Unanswered`, 429 and 5xx raise `RetryLater` (with Retry-After).
    """

    # Scopes the consent sign-in asks for, relay included (authorize_url asks for these).
    relay_scopes: ClassVar[frozenset[str]]
    # True where the bot keeps one thread per correspondent in its 1:1 (Slack): `post_as_bot`
    # then takes and returns thread ids, and replies in a thread name their correspondent.
    bot_threads: ClassVar[bool]
    # Longest relayed message in the platform's own characters (Zoom 1,024): longer prose is
    # split in order by the adapter itself, which returns one Post per part.
    message_limit: ClassVar[int]

    def use_relay_key(self, key: bytes) -> None:
        """A secret only this deployment knows, for the per-person secrets the platform echoes
        (Graph `clientState`, Webex webhook secrets): HMAC(key, owner id), checked on every
        notification without a database look-up."""
        ...

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        """The grant carries every scope the relay needs (older grants may not: re-link)."""
        ...

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        """A fresh access token for a grant that expires soon (the core stores the result);
        the grant itself where the platform's tokens do not expire. `TokenRefused` when the
        refresh token no longer works."""
        ...

    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        """Make sure the person's DMs reach `public_url` (create, or repair `existing`: a
        Webex webhook turned inactive, a Graph subscription that expired)."""
        ...

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        """Extend a subscription before `expires_at` (Graph PATCH), reauthorizing it."""
        ...

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        """Stop the person's DMs reaching Mio; a subscription already gone is not an error."""
        ...

    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        """`seen` completed with the owner's token (its text, the other member); None when
        the message is gone or is not a 1:1 between two people."""
        ...

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        """The owner's 1:1 messages after `since`, oldest first, for a backfill after lost
        notifications (Graph `missed`, a subscription recreated); complete, as fetch_dm."""
        ...

    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        """Post `prose` as the grant's owner in their 1:1 with `to` (opening or creating it)."""
        ...

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        """Post `prose` from the bot in its 1:1 with `to`, showing who wrote it. With
        `bot_threads`, in the thread `thread_id` (a new one when None: the first Post is its
        root, whose message id is the thread id from then on)."""
        ...

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        """After an `Unanswered` post: the posts of `prose` made since `since` in the 1:1
        with `to` (as the grant's owner, or as the bot when None), or None if none is found."""
        ...
