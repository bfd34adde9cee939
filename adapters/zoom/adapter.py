"""`ZoomPlatform`: Zoom Team Chat behind the `ChatPlatform` interface.

Zoom needs two apps (platform-apis.md §I.9): a General app with a Team Chat chatbot, whose
client-credentials token sends and edits chatbot messages and whose OAuth flow links a person's
account; and a Server-to-Server OAuth app, whose account-credentials token reads the directory,
which the chatbot token cannot.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web

from adapters.answers import LaterAnswers
from adapters.env import all_or_none, setting
from adapters.paging import Gated, Pace, fetch_page
from adapters.retry import patiently
from adapters.zoom import inbound
from adapters.zoom.client import AppToken, ZoomHttp
from adapters.zoom.directory import JID_DOMAIN, PAGE_SIZE, directory_user, user_jid, users
from adapters.zoom.errors import to_platform_error
from adapters.zoom.login import LoginApp, ZoomLogin
from adapters.zoom.relay import ZoomRelay
from adapters.zoom.render import render_content
from bot.platform import LOOKUP_ATTEMPTS, LOOKUP_LONGEST_WAIT, EventHandler
from bot.types import (
    DirectoryUser,
    Message,
    MessageRef,
    Platform,
    PlatformUserId,
    ReplyTarget,
)

DEFAULT_API_URL = "https://api.zoom.us/v2/"
DEFAULT_OAUTH_URL = "https://zoom.us/oauth/"

REQUIRED_ENV = (
    "ZOOM_ACCOUNT_ID",
    "ZOOM_CLIENT_SECRET",
    "ZOOM_BOT_JID",
    "ZOOM_WEBHOOK_SECRET",
    "ZOOM_S2S_CLIENT_ID",
    "ZOOM_S2S_CLIENT_SECRET",
)

_JID_MENTION = re.compile(
    r"^@?<?([A-Za-z0-9_-]+)" + re.escape(JID_DOMAIN) + r"(?:/[^\s|>]*)?(?:\|[^>]*)?>?$"
)


class ZoomPlatform(ZoomLogin, ZoomRelay, Gated):
    """Zoom Team Chat through its chatbot API, the Server-to-Server directory, people's own
    sign-in (`login.py`, the user-managed login app) and the relay (`relay.py`)."""

    name: ClassVar[Platform] = Platform("zoom")
    label: ClassVar[str] = "Zoom"
    aliases: ClassVar[tuple[str, ...]] = ("zoom chat", "zoom team chat", "zoom workplace")
    # Zoom's "Medium" label on the Free plan (users list, chatbot send): 2 requests/s per account.
    # Pro and Business accounts allow 20 and 60; ZOOM_RATE_PER_SECOND raises it per deployment,
    # which is why this is a class default that an instance may override.
    rate_per_second: float = 2.0
    # `GET /users` carries the same Medium label (§E.4, §G), shared by every app on the account.
    directory_pace: Pace = Pace(2, 1.0)

    def __init__(
        self,
        *,
        account_id: str,
        client_id: str,
        client_secret: str,
        bot_jid: str,
        webhook_secret: str,
        s2s_client_id: str,
        s2s_client_secret: str,
        api_url: str = DEFAULT_API_URL,
        oauth_url: str = DEFAULT_OAUTH_URL,
        rate_per_second: float | None = None,
        clock: Callable[[], float] = time.time,
        login: LoginApp | None = None,
    ) -> None:
        self.account_id = account_id
        self.client_id = client_id
        self.bot_jid = bot_jid
        self._client_secret = client_secret
        self._webhook_secret = webhook_secret
        self._clock = clock
        if rate_per_second is not None:
            self.rate_per_second = rate_per_second
            self.directory_pace = Pace(max(1, int(rate_per_second)), 1.0)
        self._http = ZoomHttp(api_url, oauth_url)
        self._app_basic = aiohttp.encode_basic_auth(client_id, client_secret)
        self._chatbot = AppToken(self._http, {"grant_type": "client_credentials"}, self._app_basic)
        self._directory = AppToken(
            self._http,
            {"grant_type": "account_credentials", "account_id": account_id},
            aiohttp.encode_basic_auth(s2s_client_id, s2s_client_secret),
        )
        self._answers = LaterAnswers(self.name, self.reply)
        self._login = login  # people's sign-in app for the relay (ZOOM_LOGIN_*), when set
        self._relay_key: bytes | None = None

    def __repr__(self) -> str:  # secrets never reach logs
        return f"ZoomPlatform(account_id={self.account_id!r}, api_url={self._http.api_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self | None:
        """None when Zoom is not configured; ValueError naming the first missing variable."""
        values = all_or_none(env, "ZOOM_CLIENT_ID", REQUIRED_ENV)
        if values is None:
            return None
        rate: float | None = None
        if raw_rate := setting(env, "ZOOM_RATE_PER_SECOND"):
            try:
                rate = float(raw_rate)
            except ValueError:
                rate = 0.0
            if rate <= 0:
                raise ValueError(
                    f"ZOOM_RATE_PER_SECOND must be a positive number, not {raw_rate!r}"
                )
        return cls(
            account_id=values["ZOOM_ACCOUNT_ID"],
            client_id=values["ZOOM_CLIENT_ID"],
            client_secret=values["ZOOM_CLIENT_SECRET"],
            bot_jid=values["ZOOM_BOT_JID"],
            webhook_secret=values["ZOOM_WEBHOOK_SECRET"],
            s2s_client_id=values["ZOOM_S2S_CLIENT_ID"],
            s2s_client_secret=values["ZOOM_S2S_CLIENT_SECRET"],
            api_url=setting(env, "ZOOM_API_URL", DEFAULT_API_URL),
            oauth_url=setting(env, "ZOOM_OAUTH_URL", DEFAULT_OAUTH_URL),
            rate_per_second=rate,
            login=LoginApp.from_env(env),
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        """Let answers still being sent finish, then close the session they use."""
        await self._answers.drain()
        await self._http.close()

    # -- inbound -----------------------------------------------------------------------------
    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        on_event = inbound.events_handler(
            self.name,
            inbound.Secrets(self._webhook_secret, self._login),
            handler,
            self._answers.later,
            self._clock,
        )
        return [web.post("/zoom/events", on_event)]

    def parse_mention(self, token: str) -> PlatformUserId | None:
        """Only a Zoom JID is recognisable; its local part is the user id in lower case (§I.25).

        Zoom slash-command text carries no structured mentions, so names and emails are left
        to the core's directory lookup.
        """
        match = _JID_MENTION.match(token.strip())
        return PlatformUserId(match.group(1)) if match else None

    def normalise_user_text(self, text: str) -> str:
        """Zoom delivers command text as typed: nothing to take off."""
        return text

    async def prepare(self, public_url: str) -> list[str]:
        """Zoom's endpoint is set in the Marketplace app; check both apps' credentials."""
        account_id, _ = await self.workspace()
        said = [
            f"chatbot and directory credentials work for account {account_id}.",
            f"the chatbot's Bot Endpoint URL must be {public_url}/zoom/events "
            "(manifests/zoom/README.md); Zoom validates it with endpoint.url_validation.",
        ]
        if self._login is None:
            said.append("ZOOM_LOGIN_CLIENT_ID is not set: DMs with Zoom accounts are not relayed.")
        else:
            said.append(
                f"the sign-in app's event endpoint must be {public_url}/zoom/events, subscribed "
                "to team_chat.dm_message_posted only (manifests/zoom/README.md, section 3)."
            )
        return said

    # -- directory ---------------------------------------------------------------------------
    async def workspace(self) -> tuple[str, str]:
        """Both app tokens plus one directory read: proves all credentials and the S2S scope.

        Zoom has no call that names a regular (non-master) account: `GET /accounts/{id}` is a
        Master Account API, so the name is derived from the id.
        """
        await self._chatbot.get()
        await self._directory.expect(
            "GET", self._http.api("users"), params={"status": "active", "page_size": "1"}
        )
        return self.account_id, f"Zoom account {self.account_id}"

    async def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        """Active, then inactive users (a separate listing, §E.4), a page at a time.

        A 429 or 5xx asks for the page again with the same `next_page_token`; a per-second 429
        has no Retry-After (§I.24), so `errors.retry_after` names the next second.
        """
        pacer = self.directory_pacer()
        for status in ("active", "inactive"):
            page_token = ""
            while True:
                params = {"status": status, "page_size": PAGE_SIZE}
                if page_token:
                    params["next_page_token"] = page_token
                body = await fetch_page(self._users_page(params), pacer, self.label)
                if not isinstance(body, dict):
                    raise to_platform_error(502, {}, {"message": "users list is not a JSON object"})
                found = users(body, active=status == "active")
                if found:
                    yield found
                page_token = str(body.get("next_page_token") or "")
                if not page_token:
                    break

    def _users_page(self, params: Mapping[str, str]) -> Callable[[], Awaitable[Any]]:
        return lambda: self._directory.expect("GET", self._http.api("users"), params=params)

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        """GET /users/{id} with the Server-to-Server token (the chatbot token cannot read
        users, §E.4); Zoom's 404 (code 1001, "User does not exist") means nobody by that id."""
        url = self._http.api("users/" + urllib.parse.quote(user_id, safe=""))

        async def fetch() -> Any:
            status, headers, body = await self._directory.authorized("GET", url)
            if status == 404:
                return None
            if status != 200 or not isinstance(body, dict) or not body.get("id"):
                raise to_platform_error(status, headers, body)
            return body

        user = await patiently(fetch, attempts=LOOKUP_ATTEMPTS, longest_wait=LOOKUP_LONGEST_WAIT)
        if not isinstance(user, dict):
            return None
        return directory_user(user, active=user.get("status", "active") == "active")

    # -- outbound messages -------------------------------------------------------------------
    async def _post(
        self,
        to_jid: str,
        on_behalf_of: str,
        account_id: str,
        message: Message,
        visible_to: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "robot_jid": self.bot_jid,
            "to_jid": to_jid,
            "user_jid": on_behalf_of,
            "account_id": account_id,
            "content": render_content(message),
            "is_markdown_support": True,
        }
        if visible_to:
            body["visible_to_user"] = visible_to
        answer = await self._chatbot.expect(
            "POST", self._http.api("im/chat/messages"), json=body, ok=(200, 201)
        )
        if not isinstance(answer, dict) or not answer.get("message_id"):
            raise to_platform_error(502, {}, {"message": "send answered without message_id"})
        return answer

    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        jid = str(user.extra.get("jid") or user_jid(user.user_id))
        answer = await self._post(jid, jid, self.account_id, message)
        data = {
            "to_jid": jid,
            "user_jid": jid,
            "account_id": self.account_id,
            "user_id": user.user_id,
        }
        return MessageRef(
            self.name, channel_id=jid, message_id=str(answer["message_id"]), data=data
        )

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        """Edit in place. Zoom's edit body has no `to_jid`: the message id names the chat."""
        body = {
            "robot_jid": self.bot_jid,
            "account_id": ref.data.get("account_id") or self.account_id,
            "user_jid": ref.data.get("user_jid") or ref.channel_id,
            "content": render_content(message),
            "is_markdown_support": True,
        }
        path = "im/chat/messages/" + urllib.parse.quote(ref.message_id, safe="")
        await self._chatbot.expect("PUT", self._http.api(path), json=body, ok=(200, 204))
        return ref

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        """A new chatbot message where the command came from (the user's 1:1 chat or a channel)."""
        user_jid_ = str(target.data["user_jid"])
        to_jid = str(target.data.get("to_jid") or user_jid_)
        in_channel = to_jid != user_jid_
        visible_to = (
            str(target.data.get("user_id") or "") if in_channel and message.ephemeral else None
        )
        await self._post(
            to_jid,
            user_jid_,
            str(target.data.get("account_id") or self.account_id),
            message,
            visible_to,
        )
