"""`WebexRelay`: the `bot.platform.RelayPlatform` half of `WebexPlatform` (issue 10).

A person who consented on Webex gives Mio their integration token with the relay's scopes
(relay-apis §3.1: `spark:messages_read` to make a messages webhook and read messages,
`spark:messages_write` to post as them, `spark:rooms_read` to find their 1:1 rooms in a
backfill, `spark:people_read` for who they are). Their webhook, created with that token,
tells Mio about each 1:1 message (`relay_hooks`, `relay_inbound`); the text is then read with
the same token (`relay_messages`). Posts as a person use their token, posts as the bot the bot
token (§3.2, §3.7). Webex has no bot threads: a represented sender's messages arrive in the
bot's 1:1 under a bold name line, and the core tracks the current correspondent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from adapters.webex import relay_messages
from adapters.webex.errors import PLATFORM
from adapters.webex.relay_api import RelayApi
from adapters.webex.relay_hooks import RelayHooks, target_url
from adapters.webex.relay_inbound import UserHooks, owner_secret
from adapters.webex.relay_messages import RelayMessages, header, parts
from adapters.webex.relay_text import MAX_BYTES
from bot.platform import EventHandler
from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    PermanentFailure,
    Post,
    Sender,
    Subscription,
    TokenGrant,
    TokenRefused,
)

RELAY_SCOPES = frozenset(
    {"spark:messages_read", "spark:messages_write", "spark:rooms_read", "spark:people_read"}
)
EVENTS_PATH = "/webex/events"  # the same route as the bot's webhooks; `?owner=` tells apart


class WebexRelay:
    """Mixed into `WebexPlatform`, which calls `_relay_setup` from its constructor."""

    relay_scopes: ClassVar[frozenset[str]] = RELAY_SCOPES
    bot_threads: ClassVar[bool] = False
    message_limit: ClassVar[int] = MAX_BYTES  # bytes of markdown (§3.2), measured by parts()

    _relay_key: bytes | None
    _relay_bot_token: str
    _relay_api: RelayApi
    _relay_hooks: RelayHooks
    _relay_messages: RelayMessages
    _relay_client: tuple[str, str]  # (client id, client secret) of the integration

    def _relay_setup(
        self, *, api_url: str, bot_token: str, client_id: str, client_secret: str
    ) -> None:
        self._relay_key = None
        self._relay_bot_token = bot_token
        self._relay_api = RelayApi(api_url)
        self._relay_hooks = RelayHooks(self._relay_api)
        self._relay_messages = RelayMessages(self._relay_api)
        self._relay_client = (client_id, client_secret)

    def use_relay_key(self, key: bytes) -> None:
        self._relay_key = key

    def relay_deliveries(self, handler: EventHandler) -> UserHooks:
        """Not a route of its own: `WebexInbound` hands it the `?owner=` deliveries."""
        return UserHooks(lambda: self._relay_key, handler)

    def _secret(self, owner: str) -> str:
        if self._relay_key is None:
            raise PermanentFailure(PLATFORM, "no relay key: the core hands one at start-up")
        return owner_secret(self._relay_key, owner)

    # -- grants ----------------------------------------------------------------------------
    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        granted = set(grant.scope.replace(",", " ").split())
        return "spark:all" in granted or RELAY_SCOPES <= granted

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        """`grant_type=refresh_token` on /access_token (platform-apis §F.3); the refresh token
        may be replaced, and a refused one is `TokenRefused` (the person links again)."""
        if not grant.refresh_token:
            if grant.expires_at is None or grant.expires_at > datetime.now(UTC):
                return grant
            raise TokenRefused(PLATFORM, "the token expired and there is no refresh token")
        client_id, client_secret = self._relay_client
        answer = await self._relay_api.token(
            {
                "grant_type": "refresh_token",
                "client_id": client_id,
                "client_secret": client_secret,
                "refresh_token": grant.refresh_token,
            }
        )
        try:
            lifetime = timedelta(seconds=float(answer.get("expires_in") or 0))
        except (TypeError, ValueError):
            lifetime = timedelta(0)
        return TokenGrant(
            identity=grant.identity,
            access_token=str(answer["access_token"]),
            refresh_token=str(answer.get("refresh_token") or grant.refresh_token),
            expires_at=datetime.now(UTC) + lifetime if lifetime else None,
            scope=str(answer.get("scope") or grant.scope),
        )

    # -- the person's webhook ----------------------------------------------------------------
    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        owner = grant.identity.user_id
        target = target_url(public_url, EVENTS_PATH, owner)
        return await self._relay_hooks.ensure(grant, target, self._secret(owner), existing)

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        """Webex webhooks do not expire: renewing is repairing (an `inactive` one PUT active,
        a deleted one recreated) at the URL it was made for."""
        target = str(subscription.data.get("target_url") or "")
        if not target:
            raise PermanentFailure(PLATFORM, "the subscription does not say where it points")
        owner = grant.identity.user_id
        return await self._relay_hooks.ensure(grant, target, self._secret(owner), subscription)

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        await self._relay_hooks.delete(grant, subscription.external_id)

    # -- reading -----------------------------------------------------------------------------
    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        message = await self._relay_messages.get(grant.access_token, seen.message_id)
        return None if message is None else relay_messages.completed(seen, message)

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        return await self._relay_messages.since(
            grant.access_token, grant.identity.user_id, subscription.external_id, since
        )

    # -- posting -----------------------------------------------------------------------------
    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        return await self._relay_messages.post(
            grant.access_token, user=True, to=to.user_id, markdown=parts(prose)
        )

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        """In the bot's 1:1 with `to`, each part under the sender's bold name line (§3.7);
        `thread_id` is unused: Webex keeps no thread per correspondent (`bot_threads`)."""
        return await self._relay_messages.post(
            self._relay_bot_token, user=False, to=to.user_id, markdown=parts(prose, header(sender))
        )

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        """The 1:1's latest messages (`GET /messages/direct?personId=`, §3.4) by the poster
        whose markdown is what we sent: Webex keeps markdown as posted. The bot's posts start
        with the sender's name line, which this call is not told, so only their ends match."""
        token = grant.access_token if grant else self._relay_bot_token
        return await self._relay_messages.find(
            token,
            user=grant is not None,
            author=grant.identity.user_id if grant else None,
            to=to.user_id,
            wanted=parts(prose),
            since=since,
        )
