"""`TeamsPlatform`: Microsoft Teams behind the `ChatPlatform` interface.

One Entra app registration is the bot (Bot Connector), the directory reader (Graph application
permissions) and the client people sign in to when they link their account (delegated
`User.Read`). Every part is reached by plain REST with our own token cache and our own inbound
JWT check, so all base URLs are settings (national clouds, and the sandbox).
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, ClassVar, Self

from aiohttp import web

from adapters.answers import LaterAnswers
from adapters.env import all_or_none, setting
from adapters.http import with_slash
from adapters.paging import Gated, Pace
from adapters.teams import inbound, notifications
from adapters.teams.auth import DEFAULT_OPENID_URL, BotFrameworkKeys, TokenValidator
from adapters.teams.client import CONNECTOR_SCOPE, GRAPH_SCOPE, AppToken, TeamsHttp
from adapters.teams.connector import Connector
from adapters.teams.delegated import RELAY_SCOPES, Delegated, covers_relay
from adapters.teams.directory import GraphDirectory
from adapters.teams.errors import PLATFORM
from adapters.teams.lookup import GraphLookup
from adapters.teams.relay import ChatRelay
from adapters.teams.relay_text import render as render_html
from adapters.teams.render import render_activity
from adapters.teams.subscriptions import LIFECYCLE_PATH, NOTIFICATIONS_PATH, Subscriptions
from adapters.teams.tenant import TenantChats
from adapters.teams.user_oauth import UserOAuth
from bot.platform import EventHandler
from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformError,
    PlatformUserId,
    Post,
    ReplyTarget,
    Sender,
    Subscription,
    SubscriptionNotice,
    TokenGrant,
)

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0/"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com/"
DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
REQUIRED_ENV = ("TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID")
# How the relay sees people's chats (issue 10 §4): one delegated subscription per consenting
# person (default), or `tenant`: one application subscription on /chats/getAllMessages
# (relay-apis §2.1, surprise 7; tenant.py).
CHAT_SUBSCRIPTION_MODES = ("per-user", "tenant")
# Longest relayed part, in UTF-16 bytes of its HTML as Teams counts a message's size: the
# Graph chat-message limit of about 28 KB ("Request Entity too large" beyond it, third-party
# notes on Graph send), under the Bot Framework's 40 KB (format-your-bot-messages, older
# revision; 100 KB in the current one), so one number holds for posts as a person and as the bot.
MESSAGE_LIMIT = 28_000
_AT_TAG = re.compile(r'<at id="\d+">')
_OBJECT_ID = re.compile(r"@?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I)


class TeamsPlatform(Gated):
    """One Microsoft 365 tenant, reached as the Mio bot and through Microsoft Graph."""

    name: ClassVar[Platform] = PLATFORM
    label: ClassVar[str] = "Teams"
    aliases: ClassVar[tuple[str, ...]] = ("msteams", "ms teams", "microsoft teams", "teams chat")
    # Teams allows a bot 7 messages per second per chat and about 30 per second per tenant
    # (§G, §I.15); each outbox row is one chat, so 7 rows a second stays under both.
    rate_per_second: float = 7.0
    # Graph's identity quota for /users, per app and tenant: 3,500 resource units per 10 s for
    # the smallest tenants (platform-apis.md §G, https://learn.microsoft.com/graph/throttling-limits).
    # A list page costs a few units; 50 pages of 999 people per 10 s stays well inside it.
    directory_pace: Pace = Pace(50, 10.0)
    relay_scopes: ClassVar[frozenset[str]] = RELAY_SCOPES
    bot_threads: ClassVar[bool] = False  # Teams 1:1 chats have no threads (§2.5, surprise 12)
    message_limit: ClassVar[int] = MESSAGE_LIMIT

    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        tenant_id: str,
        graph_url: str = DEFAULT_GRAPH_URL,
        login_url: str = DEFAULT_LOGIN_URL,
        service_url: str = DEFAULT_SERVICE_URL,
        openid_url: str = DEFAULT_OPENID_URL,
        chat_subscription: str = "per-user",
    ) -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.service_url = with_slash(service_url)
        self._graph_url = with_slash(graph_url)
        login_url = with_slash(login_url)
        self._token_url = f"{login_url}{tenant_id}/oauth2/v2.0/token"
        self._http = TeamsHttp()
        bot = AppToken(self._http, self._token_url, app_id, app_password, CONNECTOR_SCOPE)
        graph = AppToken(self._http, self._token_url, app_id, app_password, GRAPH_SCOPE)
        self._connector = Connector(
            bot=bot, graph=graph, app_id=app_id, tenant_id=tenant_id, graph_url=self._graph_url
        )
        self._directory = GraphDirectory(graph, self._graph_url)
        self._lookup = GraphLookup(graph, self._graph_url, self._directory, self.directory_pace)
        self._oauth = UserOAuth(
            http=self._http,
            graph=graph,
            login_url=login_url,
            graph_url=self._graph_url,
            tenant_id=tenant_id,
            app_id=app_id,
            app_password=app_password,
        )
        self._delegated = Delegated(
            self._http, self._graph_url, self._token_url, app_id, app_password
        )
        self._subscriptions = Subscriptions(self._delegated)
        self.tenant_wide = chat_subscription == "tenant"
        self._tenant = TenantChats(graph, self._graph_url, lambda: self._subscriptions.key)
        self._chats = ChatRelay(self._delegated)
        self._answers = LaterAnswers(self.name, self.reply)
        self._validator = TokenValidator(BotFrameworkKeys(self._http, openid_url), app_id)

    def __repr__(self) -> str:  # the password never reaches logs
        return f"TeamsPlatform(app_id={self.app_id!r}, tenant_id={self.tenant_id!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self | None:
        """None when Teams is not configured; ValueError naming the first missing variable."""
        values = all_or_none(env, "TEAMS_APP_ID", REQUIRED_ENV)
        if values is None:
            return None
        mode = setting(env, "TEAMS_CHAT_SUBSCRIPTION", "per-user").lower()
        if mode not in CHAT_SUBSCRIPTION_MODES:
            raise ValueError(f"TEAMS_CHAT_SUBSCRIPTION must be per-user or tenant, not {mode!r}")
        return cls(
            app_id=values["TEAMS_APP_ID"],
            app_password=values["TEAMS_APP_PASSWORD"],
            tenant_id=values["TEAMS_TENANT_ID"],
            graph_url=setting(env, "GRAPH_API_URL", DEFAULT_GRAPH_URL),
            login_url=setting(env, "MS_LOGIN_URL", DEFAULT_LOGIN_URL),
            service_url=setting(env, "TEAMS_SERVICE_URL", DEFAULT_SERVICE_URL),
            openid_url=setting(env, "TEAMS_OPENID_URL", DEFAULT_OPENID_URL),
            chat_subscription=mode,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def prepare(self, public_url: str) -> list[str]:
        """Teams' endpoint lives in the Azure Bot / Developer Portal; check what we can."""
        lines = [
            f"the bot's messaging endpoint must be {public_url.rstrip('/')}"
            f"{inbound.MESSAGES_PATH} (Azure Bot → Configuration, or Teams Developer Portal → "
            "Tools → Bot management); Mio checks every delivery's Bot Connector token."
        ]
        try:
            await self._connector.check_token()
            lines.append(f"the bot token could be obtained for app {self.app_id}.")
        except PlatformError as exc:
            lines.append(f"the bot token could NOT be obtained: {exc.reason}")
            return lines
        try:
            catalog_id = await self._connector.catalog_id()
            lines.append(f"the app is in the org catalog ({catalog_id}), so Mio can install it.")
        except PlatformError as exc:
            lines.append(f"people who never opened Mio cannot be reached yet: {exc.reason}")
        base = public_url.rstrip("/")
        if self.tenant_wide:
            lines.append(await self._prepare_tenant(public_url))
        lines.append(
            f"direct messages reach Mio through each consenting person's Graph subscription at "
            f"{base}{NOTIFICATIONS_PATH} and {base}{LIFECYCLE_PATH} (Graph must reach both); the "
            "app registration needs the delegated Graph permissions Chat.ReadWrite and "
            "ChatMessage.Send (people who linked before are asked to link again)."
        )
        return lines

    # -- inbound -----------------------------------------------------------------------------
    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        on_activity = inbound.messages_handler(
            self.name, self._validator, self.tenant_id, handler, self._answers.send
        )
        relay = notifications.routes(
            self.name, self.tenant_id, lambda: self._subscriptions.key, handler, self._tenant_hook
        )
        return [web.post(inbound.MESSAGES_PATH, on_activity), *relay]

    def parse_mention(self, token: str) -> PlatformUserId | None:
        """Only a bare Entra object id names an account: Teams mentions carry no Entra id, so
        the inbound parser turns them into names the core resolves through the directory."""
        match = _OBJECT_ID.fullmatch(token.strip())
        return PlatformUserId(match.group(1).lower()) if match else None

    def normalise_user_text(self, text: str) -> str:
        """Teams' inbound parser already turns mentions into names: nothing to take off."""
        return text

    # -- directory ---------------------------------------------------------------------------
    async def workspace(self) -> tuple[str, str]:
        tenant_id, name = await self._directory.organization()
        return tenant_id or self.tenant_id, name or f"Microsoft 365 tenant {self.tenant_id}"

    def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        return self._directory.users(self.directory_pacer())

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        """`GET /users/{aadObjectId}` with the app's Graph token (adapters/teams/lookup.py)."""
        return await self._lookup.user(user_id)

    # -- messages ----------------------------------------------------------------------------
    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        conversation_id, activity_id = await self._connector.deliver(
            self.service_url, user.user_id, render_activity(message)
        )
        return MessageRef(
            self.name,
            channel_id=conversation_id,
            message_id=activity_id,
            data={"service_url": self.service_url, "user_id": user.user_id},
        )

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        service_url = with_slash(str(ref.data.get("service_url") or self.service_url))
        await self._connector.update(
            service_url, ref.channel_id, ref.message_id, render_activity(message)
        )
        return ref

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        conversation_id = target.data.get("conversation_id")
        if not conversation_id:
            raise PermanentFailure(self.name, "reply target names no conversation")
        service_url = with_slash(str(target.data.get("service_url") or self.service_url))
        await self._connector.send(service_url, str(conversation_id), render_activity(message))

    # -- user OAuth --------------------------------------------------------------------------
    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return self._oauth.authorize_url(state, redirect_uri)

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        return await self._oauth.exchange_code(code, redirect_uri)

    async def revoke(self, grant: TokenGrant) -> str:
        return await self._oauth.revoke(grant)

    # -- the relay (bot.platform.RelayPlatform) ----------------------------------------------
    def use_relay_key(self, key: bytes) -> None:
        self._subscriptions.key = key

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        return covers_relay(grant)

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        return await self._delegated.refresh(grant)

    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        """Per person; in `tenant` mode the one app subscription is made sure of instead, and
        the person's is empty (no Graph object of theirs, as on Slack and Zoom)."""
        if self.tenant_wide:
            await self._tenant.ensure(public_url)
            return Subscription("", None, {"mode": "tenant"})
        return await self._subscriptions.subscribe(grant, public_url, existing)

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        if not subscription.external_id:  # tenant mode: nothing of the person's to renew
            return subscription
        return await self._subscriptions.renew(grant, subscription)

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        await self._subscriptions.unsubscribe(grant, subscription)

    async def _tenant_hook(self, notice: SubscriptionNotice) -> None:
        await self._tenant.on_lifecycle(notice)

    async def _prepare_tenant(self, public_url: str) -> str:
        try:
            made = await self._tenant.ensure(public_url)
        except PlatformError as exc:
            return (
                "the tenant-wide chat subscription could NOT be made (application permission "
                f"Chat.Read.All, approved by Microsoft as a protected API): {exc.reason}"
            )
        return f"the tenant-wide chat subscription {made.external_id} is active."

    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        return await self._chats.fetch(grant, seen)

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        template = DmSeen(
            self.name, "", grant.identity.user_id, "", "", PlatformUserId(""), None, None
        )
        return await self._chats.since(grant, template, since)

    @staticmethod
    def _parts(prose: Prose, room: int = 0) -> list[Prose]:
        """`prose` in parts whose HTML fits `message_limit` less `room` (UTF-16 bytes)."""
        return prose.split(
            MESSAGE_LIMIT - room, lambda part: len(render_html(part)[0].encode("utf-16-le"))
        )

    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        chat_id = await self._chats.chat_with(grant, to)
        return [await self._chats.post(grant, chat_id, part) for part in self._parts(prose)]

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        """The bot's 1:1 (Bot Connector, as consent DMs go), first line "**Name (Platform)**"
        since a bot message has no per-message sender name (§2.8); `textFormat: xml` makes
        Teams read the HTML, and mentions become `<at>` plus a `mention` entity (§D.2)."""
        header = f"<b>{html.escape(f'{sender.name} ({sender.platform_label})', quote=False)}</b>"
        posts: list[Post] = []
        for part in self._parts(prose, room=len(header.encode("utf-16-le")) + 8):
            body, mentions = render_html(part)
            entities: list[dict[str, Any]] = []
            for mention in mentions:
                text = f"<at>{html.escape(mention['mentionText'], quote=False)}</at>"
                user = mention["mentioned"]["user"]
                entities.append(
                    {
                        "type": "mention",
                        "text": text,
                        "mentioned": {"id": user["id"], "name": user["displayName"]},
                    }
                )
            activity: dict[str, Any] = {
                "type": "message",
                "textFormat": "xml",
                "text": f"{header}<br>{_AT_TAG.sub('<at>', body)}",
            }
            if entities:
                activity["entities"] = entities
            conversation_id, activity_id = await self._connector.deliver(
                self.service_url, to.user_id, activity
            )
            posts.append(Post(conversation_id, activity_id))
        return posts

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        """As a person: their messages since `since` in the 1:1, matched by text. As the bot:
        the Bot Connector cannot list a conversation's activities in Teams, and reading the
        bot's chat through Graph needs protected application permissions (§2.1), so nothing
        can be found and the core posts again, counting the possible duplicate."""
        if grant is None:
            return None
        return await self._chats.find(grant, to, self._parts(prose), since)
