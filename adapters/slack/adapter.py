"""Slack as a `ChatPlatform`: directory, DMs with buttons, user OAuth, and the webhook route."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self
from urllib.parse import quote

import aiohttp
from aiohttp import web
from slack_sdk.oauth import AuthorizeUrlGenerator

from adapters.env import required_when_set, setting
from adapters.paging import Gated, Pace, fetch_page
from adapters.retry import patiently
from adapters.slack.client import SlackClient
from adapters.slack.directory import PAGE_SIZE, directory_user
from adapters.slack.errors import SLACK, slack_call
from adapters.slack.inbound import EVENTS_PATH, SlackInbound
from adapters.slack.relay import SlackRelay
from adapters.slack.render import fallback_text, render_blocks
from bot.platform import LOOKUP_ATTEMPTS, LOOKUP_LONGEST_WAIT, EventHandler
from bot.types import (
    DirectoryUser,
    Identity,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformError,
    PlatformUserId,
    ReplyTarget,
    TokenGrant,
)

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
# The consent sign-in's user scopes: the directory look-ups it always had, plus the relay's
# (issue 10 §5: im:history and im:read to read the person's DMs, im:write and chat:write to
# open and post in them as the person; relay.RELAY_SCOPES).
USER_SCOPES = ("users:read", "users:read.email", "im:write", "chat:write", "im:history", "im:read")

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MAILTO = "<mailto:"
# What auth.revoke answers for a token that no longer works: the goal of revoking is reached.
_ALREADY_INVALID = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})
_REQUIRED = ("SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")


class SlackPlatform(SlackRelay, Gated):
    """One Slack workspace, reached with a bot token; users link theirs through OAuth v2.
    With `SlackRelay` it is also a `RelayPlatform` (bot.platform)."""

    name: ClassVar[Platform] = SLACK
    label: ClassVar[str] = "Slack"
    aliases: ClassVar[tuple[str, ...]] = ()  # people call it Slack and nothing else
    # chat.postMessage: about one message a second. Not a ClassVar: the Protocol in
    # bot/platform.py declares an instance attribute.
    rate_per_second: float = 1.0
    # users.list is Tier 2, "20+ per minute" per workspace per app (platform-apis.md §E.1, §G,
    # https://docs.slack.dev/reference/methods/users.list): at most 20 pages (4,000 people) in
    # any minute. An instance may be given a slower or faster pace.
    directory_pace: Pace = Pace(20, 60.0)

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        client_id: str,
        client_secret: str,
        api_url: str = DEFAULT_API_URL,
        authorize_url: str = DEFAULT_AUTHORIZE_URL,
    ) -> None:
        self._signing_secret = signing_secret
        self._client_id = client_id
        self._client_secret = client_secret
        self._api_url = api_url
        self._authorize_url = authorize_url
        self._http = SlackClient(bot_token, api_url)
        self._client = self._http.web

    def __repr__(self) -> str:  # the tokens stay out of logs
        return f"SlackPlatform(api_url={self._api_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self | None:
        values = required_when_set(env, "SLACK_BOT_TOKEN", _REQUIRED)
        if values is None:
            return None
        return cls(
            bot_token=values["SLACK_BOT_TOKEN"],
            signing_secret=values["SLACK_SIGNING_SECRET"],
            client_id=values["SLACK_CLIENT_ID"],
            client_secret=values["SLACK_CLIENT_SECRET"],
            api_url=setting(env, "SLACK_API_URL", DEFAULT_API_URL),
            authorize_url=setting(env, "SLACK_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
        )

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    def routes(self, handler: EventHandler) -> list[web.RouteDef]:
        inbound = SlackInbound(
            signing_secret=self._signing_secret,
            client=self._client,
            handler=handler,
            reply=self.reply,
        )
        return [web.post(EVENTS_PATH, inbound.handle)]

    async def prepare(self, public_url: str) -> list[str]:
        """Slack's URLs live in the app manifest; check the token and say where they point."""
        team_id, team = await self.workspace()
        return [
            f"connected to workspace {team} ({team_id}).",
            f"events, interactivity and /mio must point at {public_url}{EVENTS_PATH} "
            "(manifests/slack/manifest.yaml).",
        ]

    # -- directory -------------------------------------------------------------------------
    async def workspace(self) -> tuple[str, str]:
        result = await slack_call(self._client.auth_test())
        return str(result["team_id"]), str(result.get("team") or result["team_id"])

    async def list_users(self) -> AsyncIterator[list[DirectoryUser]]:
        """Every member, a page at a time; a 429 or 5xx repeats the page with the same cursor."""
        pacer = self.directory_pacer()
        cursor: str | None = None
        while True:
            page = await fetch_page(self._users_page(cursor), pacer, self.label)
            yield [directory_user(member) for member in page.get("members") or []]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return

    def _users_page(self, cursor: str | None) -> Callable[[], Awaitable[Any]]:
        return lambda: slack_call(self._client.users_list(limit=PAGE_SIZE, cursor=cursor))

    async def lookup_user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        """users.info: the same member object users.list pages through (platform-apis §E.1;
        Tier 4 on Slack's method page); `user_not_found` means Slack knows nobody by that id."""
        try:
            info = await patiently(
                lambda: slack_call(self._client.users_info(user=user_id)),
                attempts=LOOKUP_ATTEMPTS,
                longest_wait=LOOKUP_LONGEST_WAIT,
            )
        except PermanentFailure as exc:
            if exc.reason == "user_not_found":
                return None
            raise
        member = info.get("user")
        return directory_user(member) if isinstance(member, Mapping) and member.get("id") else None

    def parse_mention(self, token: str) -> PlatformUserId | None:
        match = _MENTION.fullmatch(token.strip())
        return PlatformUserId(match.group(1)) if match else None

    def normalise_user_text(self, text: str) -> str:
        """Slack auto-links a typed email as `<mailto:a@b.test|a@b.test>`: the address."""
        if text.startswith(_MAILTO) and text.endswith(">"):
            return text[len(_MAILTO) : -1].split("|")[0]
        return text

    # -- messages --------------------------------------------------------------------------
    async def send_dm(self, user: DirectoryUser, message: Message) -> MessageRef:
        # channel=<user id> posts into the app's DM with that user without conversations.open
        # (§I.18); the answer names the D… channel that chat.update needs later.
        blocks = render_blocks(message)
        sent = await slack_call(
            self._client.chat_postMessage(
                channel=user.user_id, text=fallback_text(message), blocks=blocks or None
            )
        )
        return MessageRef(SLACK, channel_id=str(sent["channel"]), message_id=str(sent["ts"]))

    async def update_message(self, ref: MessageRef, message: Message) -> MessageRef:
        # Always send blocks, even none: without them Slack keeps the old buttons (§I.17).
        updated = await slack_call(
            self._client.chat_update(
                channel=ref.channel_id,
                ts=ref.message_id,
                text=fallback_text(message),
                blocks=render_blocks(message),
            )
        )
        return MessageRef(SLACK, channel_id=str(updated["channel"]), message_id=str(updated["ts"]))

    async def reply(self, target: ReplyTarget, message: Message) -> None:
        response_url = target.data.get("response_url")
        if response_url:
            body: dict[str, Any] = {
                "response_type": "ephemeral" if message.ephemeral else "in_channel",
                # Only a confirmation prompt in an ephemeral answer is replaced (see inbound.py);
                # a DM is the core's to edit through update_message.
                "replace_original": bool(target.data.get("replace_original", False)),
                "text": fallback_text(message),
            }
            blocks = render_blocks(message)
            if blocks:
                body["blocks"] = blocks
            await self._http.respond(str(response_url), body)
            return
        channel_id = target.data.get("channel_id")
        if not channel_id:
            raise PermanentFailure(SLACK, "reply target has neither response_url nor channel_id")
        await slack_call(
            self._client.chat_postMessage(
                channel=str(channel_id),
                text=fallback_text(message),
                blocks=render_blocks(message) or None,
            )
        )

    # -- user OAuth ------------------------------------------------------------------------
    def authorize_url(self, state: str, redirect_uri: str) -> str:
        # The generator pastes values in unescaped; escape them so any redirect URI survives.
        generator = AuthorizeUrlGenerator(
            client_id=self._client_id,
            scopes=[],
            user_scopes=list(USER_SCOPES),
            redirect_uri=quote(redirect_uri, safe=""),
            authorization_url=self._authorize_url,
        )
        return generator.generate(quote(state, safe=""))

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        # What oauth_v2_access() sends (client credentials as HTTP Basic), minus its use of
        # aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
        basic = aiohttp.encode_basic_auth(self._client_id, self._client_secret)
        granted = await slack_call(
            self._client.api_call(
                "oauth.v2.access",
                data={"code": code, "redirect_uri": redirect_uri},
                headers={"Authorization": basic},
            )
        )
        authed = granted.get("authed_user") or {}
        user_id, access_token = authed.get("id"), authed.get("access_token")
        if not user_id or not access_token:
            # Only happens when the app's user scopes are misconfigured: no user was authorized.
            raise PermanentFailure(SLACK, "oauth.v2.access returned no user token")
        info = await slack_call(self._client.users_info(user=user_id))
        email = ((info.get("user") or {}).get("profile") or {}).get("email") or None
        expires_in = authed.get("expires_in")  # only with token rotation on
        expires_at = datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None
        return TokenGrant(
            identity=Identity(PlatformUserId(user_id), email),
            access_token=access_token,
            refresh_token=authed.get("refresh_token"),
            expires_at=expires_at,
            scope=str(authed.get("scope", "")),
        )

    async def revoke(self, grant: TokenGrant) -> str:
        try:
            await slack_call(self._client.auth_revoke(token=grant.access_token))
        except PlatformError as exc:
            if exc.reason in _ALREADY_INVALID:
                return "Slack user token was already invalid"
            raise
        return "Slack user token revoked (auth.revoke)"
