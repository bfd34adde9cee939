"""`WebexPlatform`: Webex behind the `ChatPlatform` interface, through webexpythonsdk.

Webex splits what Mio needs over two identities (platform-apis.md §E.3, §F.3, §I.4): the bot
token sends and reads messages and owns the webhooks, and an integration that an admin
authorizes once (`NeedsAdminGrant`, `mio connect webex`) reads the directory and revokes
people's links. The same integration runs the person-level OAuth that links an account.
Every SDK call runs in a worker thread (`errors.call`), since the SDK is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from aiohttp import web

from adapters.answers import LaterAnswers
from adapters.env import required_when_set, setting
from adapters.http import with_slash
from adapters.paging import Gated, Pace, fetch_page
from adapters.retry import patiently
from adapters.webex import directory
from adapters.webex.admin import (
    ADMIN_SCOPES,
    AdminGrant,
    AdminTokens,
    check_same_org,
    missing_scopes,
)
from adapters.webex.client import DEFAULT_API_URL, api_for, rest_for
from adapters.webex.errors import CONNECT_HINT, PLATFORM, NotFound, Unauthorized, call
from adapters.webex.inbound import EVENTS_PATH, BotIdentity, WebexInbound
from adapters.webex.relay import WebexRelay
from adapters.webex.render import render_message
from adapters.webex.webhooks import reconcile
from bot.platform import LOOKUP_ATTEMPTS, LOOKUP_LONGEST_WAIT, EventHandler, SaveAdminGrant
from bot.types import (
    DirectoryUser,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    ReplyTarget,
    TokenGrant,
)

log = logging.getLogger(__name__)

# Who the person is, and what the relay does with their token (relay-apis §3.1, issue 10 §5).
USER_SCOPES = (
    "spark:people_read",
    "spark:messages_read",
    "spark:messages_write",
    "spark:rooms_read",
)
REQUIRED_ENV = ("WEBEX_WEBHOOK_SECRET", "WEBEX_CLIENT_ID", "WEBEX_CLIENT_SECRET")


class WebexPlatform(WebexRelay, Gated):
    """One Webex organisation: a bot for messages, an admin-granted integration for the rest."""

    name: ClassVar[Platform] = PLATFORM
    label: ClassVar[str] = "Webex"
    aliases: ClassVar[tuple[str, ...]] = ("webex teams", "cisco webex", "webex app")
    # Webex publishes no numbers (§G, §I.15) and throttles /people polling: stay modest and
    # let a 429's Retry-After pause the outbox.
    rate_per_second: float = 5.0
    # /people: no numbers either, and "polling is explicitly throttled" (§E.3, §G,
    # https://developer.webex.com/blog/rate-limiting-and-the-webex-api): at most 10 pages of
    # 1,000 people in any minute.
    directory_pace: Pace = Pace(10, 60.0)

    def __init__(
        self,
        *,
        bot_token: str,
        webhook_secret: str,
        client_id: str,
        client_secret: str,
        api_url: str = DEFAULT_API_URL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client_id = client_id
        self.api_url = with_slash(api_url)
        self._client_secret = client_secret
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._bot = api_for(bot_token, self.api_url)
        self._identity: BotIdentity | None = None
        self._identity_lock = asyncio.Lock()
        self._admin = AdminTokens(self._refresh_admin, clock)
        self._admin_clients: tuple[str, Any, Any] | None = None  # (token, WebexAPI, RestSession)
        self._answers = LaterAnswers(self.name, self.reply)
        self._relay_setup(
            api_url=self.api_url,
            bot_token=bot_token,
            client_id=client_id,
            client_secret=client_secret,
        )

    def __repr__(self) -> str:  # secrets never reach logs
        return f"WebexPlatform(api_url={self.api_url!r}, client_id={self.client_id!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self | None:
        """None without WEBEX_BOT_TOKEN; ValueError naming what else is missing."""
        values = required_when_set(env, "WEBEX_BOT_TOKEN", REQUIRED_ENV)
        if values is None:
            return None
        api_url = setting(env, "WEBEX_API_URL", DEFAULT_API_URL)
        parsed = urllib.parse.urlsplit(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"WEBEX_API_URL must be an http(s) URL, not {api_url!r}")
        return cls(
            bot_token=values["WEBEX_BOT_TOKEN"],
            webhook_secret=values["WEBEX_WEBHOOK_SECRET"],
            client_id=values["WEBEX_CLIENT_ID"],
            client_secret=values["WEBEX_CLIENT_SECRET"],
            api_url=api_url,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """The relay's aiohttp session; the SDK's `requests` sessions exist already."""
        await self._relay_api.http.start()

    async def close(self) -> None:
        """Let answers still being sent finish."""
        await self._answers.drain()
        await self._relay_api.http.close()

    # -- inbound -----------------------------------------------------------------------------
    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        inbound = WebexInbound(
            secret=self._webhook_secret,
            handler=handler,
            bot=self.bot_identity,
            fetch_message=lambda message_id: call(self._bot.messages.get, message_id),
            fetch_action=lambda action_id: call(self._bot.attachment_actions.get, action_id),
            answer_later=self._answers.later,
            relay=self.relay_deliveries(handler).handle,
        )
        return [web.post(EVENTS_PATH, inbound.handle)]

    async def bot_identity(self) -> BotIdentity:
        """The bot's person id and names, read once from GET /people/me."""
        async with self._identity_lock:
            if self._identity is None:
                me = await call(self._bot.people.me)
                display = str(me.get("displayName") or "")
                names = (display, str(me.get("nickName") or ""), display.split(" ")[0])
                self._identity = BotIdentity(str(me["id"]), tuple(n for n in names if n))
            return self._identity

    def parse_mention(self, token: str) -> PlatformUserId | None:
        """A `<@personId:…|name>` mention or a bare person id (`directory.mentioned`)."""
        return directory.mentioned(token)

    def normalise_user_text(self, text: str) -> str:
        """Webex delivers command text as typed (mentions as names): nothing to take off."""
        return text

    # -- directory ---------------------------------------------------------------------------
    async def workspace(self) -> tuple[str, str]:
        """The bot's organisation; its name needs the admin grant, else the id stands in."""
        me = await call(self._bot.people.me)
        org_id = str(me.get("orgId") or "")
        name = f"Webex organisation {org_id}"
        if self._admin.connected and org_id:
            try:
                org = await self._as_admin(lambda api, _rest: api.organizations.get(org_id))
                name = str(org.get("displayName") or name)
            except PermanentFailure as exc:
                # Webex may reserve organisation details to spark-admin:organizations_read.
                log.info("webex: organisation name unavailable: %s", exc)
        return org_id, name

    async def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        """GET /people with the admin token, a page at a time, following `Link: rel=next`.

        Pages are fetched one call each rather than through the SDK's `get_pages` generator,
        which the first exception finishes for good: a 429 or 5xx asks for the same URL again.
        """
        pacer = self.directory_pacer()
        url: str | None = "people"
        params: dict[str, Any] | None = {"max": directory.PAGE_SIZE}
        while url is not None:
            body, url = await fetch_page(self._people_page(url, params), pacer, self.label)
            params = None  # the next link carries the whole query, cursor included
            yield directory.users(body)

    def _people_page(
        self, url: str, params: dict[str, Any] | None
    ) -> Callable[[], Awaitable[tuple[Any, str | None]]]:
        return lambda: self._as_admin(directory.people_page(url, params))

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        """GET /people/{id}: with the admin grant when there is one, since `roles` and
        `loginEnabled` are admin-only fields (§E.3); else with the bot token, which Webex lets
        look up one person of its own organisation. 404 means nobody by that id."""
        path = "people/" + urllib.parse.quote(user_id, safe="")

        async def fetch() -> Any:
            if self._admin.connected:
                return await self._as_admin(lambda _api, rest: rest.get(path))
            return await call(self._bot.people.get, user_id)

        try:
            person = await patiently(
                fetch, attempts=LOOKUP_ATTEMPTS, longest_wait=LOOKUP_LONGEST_WAIT
            )
        except NotFound:
            return None
        if not isinstance(person, dict) or not person.get("id"):
            return None
        return directory.directory_user(person)

    def _admin_for(self, token: str) -> tuple[Any, Any]:
        if self._admin_clients is None or self._admin_clients[0] != token:
            self._admin_clients = (
                token,
                api_for(token, self.api_url),
                rest_for(token, self.api_url),
            )
        return self._admin_clients[1], self._admin_clients[2]

    async def _as_admin[T](self, use: Callable[[Any, Any], T]) -> T:
        """`use(api, rest)` with the admin token; a 401 gets one refreshed token and a retry."""
        for attempt in range(2):
            token = await self._admin.token()
            api, rest = self._admin_for(token)
            try:
                return await call(use, api, rest, who="admin")
            except Unauthorized:
                if attempt:
                    raise
                await self._admin.rejected(token)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    # -- messages ----------------------------------------------------------------------------
    def _ref(self, sent: Mapping[str, Any], data: dict[str, Any]) -> MessageRef:
        if not sent.get("id") or not sent.get("roomId"):
            # Retrying would post the message twice, so this is not worth another attempt.
            raise PermanentFailure(PLATFORM, "Webex accepted the message without naming it")
        return MessageRef(
            PLATFORM, channel_id=str(sent["roomId"]), message_id=str(sent["id"]), data=data
        )

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        sent = await call(
            self._bot.messages.create, toPersonId=user.user_id, **render_message(message)
        )
        return self._ref(sent, {"person_id": user.user_id})

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        """A threaded follow-up under the original message, never an edit.

        Webex refuses (400) to edit a message with a card (§B.3), and an edit can never add one,
        so the outcome is posted as a reply in the card's thread. The old card stays, and its
        buttons stay pressable: the core makes a second press change nothing. Replies thread
        under the original even when `ref` is itself a follow-up (Webex has no reply to a reply).
        """
        root = str(ref.data.get("parent_id") or ref.message_id)
        sent = await call(
            self._bot.messages.create,
            roomId=ref.channel_id,
            parentId=root,
            **render_message(message),
        )
        return self._ref(sent, {**ref.data, "parent_id": root})

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        """A new message in the space the command or press came from."""
        room_id, person_id = target.data.get("room_id"), target.data.get("person_id")
        if room_id:
            await call(self._bot.messages.create, roomId=str(room_id), **render_message(message))
        elif person_id:
            await call(
                self._bot.messages.create, toPersonId=str(person_id), **render_message(message)
            )
        else:
            raise PermanentFailure(PLATFORM, "reply target has neither room_id nor person_id")

    # -- webhooks ----------------------------------------------------------------------------
    async def prepare(self, public_url: str) -> list[str]:
        """Make exactly Mio's two webhooks exist, aimed at `public_url`, with our secret."""
        return await reconcile(
            self._bot, public_url.rstrip("/") + EVENTS_PATH, self._webhook_secret
        )

    # -- OAuth (admin grant and person links) ------------------------------------------------
    def _authorize(self, state: str, redirect_uri: str, scopes: tuple[str, ...]) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self.api_url}authorize?{query}"

    async def _exchange(self, code: str, redirect_uri: str) -> dict[str, Any]:
        answer: dict[str, Any] = await call(
            self._bot.access_tokens.get,
            client_id=self.client_id,
            client_secret=self._client_secret,
            code=code,
            redirect_uri=redirect_uri,
            who="oauth",
        )
        if not answer.get("access_token"):
            raise PermanentFailure(PLATFORM, "the code exchange answered without access_token")
        return answer

    def admin_authorize_url(self, state: str, redirect_uri: str) -> str:
        return self._authorize(state, redirect_uri, ADMIN_SCOPES)

    async def exchange_admin_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """Tokens that can list the directory and revoke links, checked before they are kept."""
        answer = await self._exchange(code, redirect_uri)
        granted = str(answer.get("scope") or "")
        if missing := missing_scopes(granted):
            raise PermanentFailure(
                PLATFORM,
                f"Webex granted {granted or 'no scopes'} but not {' '.join(missing)}: add them to "
                "the integration and have a full or user admin authorize it",
            )
        api, rest = (
            api_for(answer["access_token"], self.api_url),
            rest_for(answer["access_token"], self.api_url),
        )
        me = await call(api.people.me, who="admin")
        check_same_org(me, await call(self._bot.people.me))
        try:  # scopes alone make no admin: only an admin's token can list the organisation
            await call(rest.get, "people", params={"max": 1}, who="admin")
        except PermanentFailure as exc:
            raise PermanentFailure(
                PLATFORM,
                f"the person who authorized cannot list the organisation ({exc.reason}); "
                "a Webex full or user admin must run `mio connect webex`",
            ) from exc
        return AdminGrant.from_answer(answer, self._clock(), str(me.get("id") or "")).to_dict()

    def use_admin_grant(self, grant: dict[str, Any] | None, save: SaveAdminGrant) -> None:
        self._admin.use(grant, save)

    async def _refresh_admin(self, refresh_token: str) -> Mapping[str, Any]:
        try:
            answer: Mapping[str, Any] = await call(
                self._bot.access_tokens.refresh,
                client_id=self.client_id,
                client_secret=self._client_secret,
                refresh_token=refresh_token,
                who="oauth",
            )
        except PermanentFailure as exc:
            raise PermanentFailure(
                PLATFORM, f"the admin grant could not be refreshed ({exc.reason}): {CONNECT_HINT}"
            ) from exc
        return answer

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return self._authorize(state, redirect_uri, USER_SCOPES)

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        answer = await self._exchange(code, redirect_uri)
        me = await call(api_for(answer["access_token"], self.api_url).people.me, who="user")
        return directory.token_grant(answer, me, self._clock())

    async def revoke(self, grant: TokenGrant) -> str:
        """Delete the person's authorizations of this integration, with the admin's token.

        A person's own token cannot revoke itself (§F.3). Only this client id's authorizations
        of that one person go: DELETE /authorizations?clientId=… would sign out the whole
        organisation, the admin's directory grant included. When the person is the admin who
        granted directory access, Webex may hold both grants as one authorization, so it stays.
        """
        if not self._admin.connected:
            raise PermanentFailure(
                PLATFORM, f"revoking on Webex needs the admin grant: {CONNECT_HINT}"
            )
        if grant.identity.user_id == self._admin.person_id:
            return (
                "Webex authorization kept: this person also granted Mio's directory access "
                "through the same integration; Mio's copy of their tokens is deleted"
            )
        return await directory.revoke_links(self._as_admin, grant.identity.user_id, self.client_id)
