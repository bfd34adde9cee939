"""Slack's Web API for the stand-in: `{url}/api/<method>`, response_url, DMs and tiers.

Split from `service.py`, which adds the org's people acting towards the bot on top of it.
It refuses what Slack refuses (unknown channels, edits through a `U…` id, Block Kit limits)
with Slack's own error codes, so adapter bugs surface here and not in production.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.base import FakeService
from sandbox.limits import Window
from sandbox.org import Org
from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.oauth import SlackOAuth
from sandbox.slack.payloads import SandboxMessage, Workspace
from sandbox.slack.relay_api import RelayApi
from sandbox.slack.wire import Caller, SlackError

EVENTS_PATH = "/slack/events"
# What the manifest gives the bot (manifests/slack/manifest.yaml); tests take one away.
BOT_SCOPES = frozenset(
    {"chat:write", "chat:write.customize", "im:write", "im:history", "im:read", "commands",
     "users:read", "users:read.email"}
)  # fmt: skip
_RESPONSE_URL_USES = 5  # Slack: a response_url works 5 times within 30 minutes


@dataclass
class _ResponseUrl:
    user_id: str
    message: SandboxMessage | None  # the message whose button was pressed
    uses: int = 0


_Method = Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]]


class SlackWebApi(RelayApi, FakeService):
    """One Slack workspace seeded from the org's slack accounts, serving `{url}/api/<method>`."""

    name = "slack"

    def __init__(self, org: Org) -> None:
        super().__init__()
        team = org.workspaces["slack"]
        self.workspace = Workspace(
            team_id=team["id"],
            team_name=team["name"],
            team_domain="".join(c for c in team["name"].lower() if c.isalnum()) or "sandbox",
            app_id="A0MIOSYNC",
            app_name="Mio",
            bot_user_id="U0MIOBOT",
            bot_id="B0MIOBOT",
            verification_token=secrets.token_hex(12),
        )
        self.bot_token = f"xoxb-sandbox-{secrets.token_hex(12)}"
        self.signing_secret = secrets.token_hex(16)
        # The bot's public URL: deliveries go to {bot_url}/slack/events.
        self.bot_url = "http://127.0.0.1:3978"
        # Slack may answer users.list with fewer members than `limit` asks; tests lower this.
        self.max_page_size = 1000
        # Web API tiers, per method (platform-apis.md §E.1, §G): users.list is Tier 2, "20+ per
        # minute"; the floor is what is enforced. Tests lower or clear it.
        self.tiers: dict[str, Window] = {"users.list": Window(20, 60.0)}
        self.users: dict[str, dict[str, Any]] = {
            a.user_id: p.member(self.workspace, a) for a in org.on("slack")
        }
        self.users |= {m["id"]: m for m in p.built_in_members(self.workspace)}
        self.messages: dict[tuple[str, str], SandboxMessage] = {}  # by (channel, ts)
        self.ephemerals: list[SandboxMessage] = []
        self.responses: dict[str, list[dict[str, Any]]] = defaultdict(list)  # response_url posts
        self.user_tokens: dict[str, str] = {}  # issued xoxp- token → user id
        self.revoked: set[str] = set()  # by auth.revoke
        self.bot_scopes = set(BOT_SCOPES)
        self.oauth = SlackOAuth(self.workspace, self._people, self.user_tokens)
        self.client_id, self.client_secret = self.oauth.client_id, self.oauth.client_secret
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._dms: dict[frozenset[str], str] = {}
        self._dm_members: dict[str, frozenset[str]] = {}
        self._deliveries: dict[str, bytes] = {}  # event_id → body: a retry resends the same bytes
        self._seq = itertools.count(1)
        self._methods: dict[str, _Method] = {
            "auth.test": self._auth_test,
            "auth.revoke": self._auth_revoke,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            **self.relay_methods(),
        }

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_CLIENT_ID": self.client_id,
            "SLACK_CLIENT_SECRET": self.client_secret,
            "SLACK_API_URL": f"{self.url}/api/",
            "SLACK_AUTHORIZE_URL": f"{self.url}/oauth/v2/authorize",
        }

    def rate_limit(
        self, method: str, retry_after: int = 1, *, times: int = 1, skip: int = 0
    ) -> None:
        """Make `method` answer Slack's 429: `Retry-After` seconds and `ratelimited` (§G)."""
        self.fail(
            f"/api/{method}", 429, times=times, headers={"Retry-After": str(retry_after)}, skip=skip
        )

    def fault_body(self, status: int, path: str) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return {"ok": False, "error": "fatal_error" if status >= 500 else f"http_{status}"}

    # -- state -------------------------------------------------------------------------------
    def inbox(self, user_id: str) -> list[SandboxMessage]:
        """The bot's messages in its DM with `user_id`, oldest first."""
        channel = self._dms.get(frozenset({self.bot_user_id, user_id}))
        return [
            m for m in self.messages.values() if m.channel == channel and m.user == self.bot_user_id
        ]

    def dm_channel(self, a: str, b: str) -> str:
        """The D… channel of two users, opened on first use as Slack does."""
        pair = frozenset({a, b})
        if pair not in self._dms:
            channel = f"D0{next(self._seq):08X}"
            self._dms[pair], self._dm_members[channel] = channel, pair
        return self._dms[pair]

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    def _trigger_id(self) -> str:
        return f"{int(time.time())}.{next(self._seq)}.{secrets.token_hex(8)}"

    # -- Web API -----------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await wire.arguments(request)
            if method == "oauth.v2.access":  # client credentials instead of a bearer token
                return web.json_response({"ok": True, **self.oauth.access(request, args)})
            if method not in self._methods:
                raise SlackError("unknown_method", status=404)
            if (tier := self.tiers.get(method)) and (wait := tier.admit()) is not None:
                return web.json_response(
                    self.fault_body(429, request.path),
                    status=429,
                    headers={"Retry-After": str(wait)},
                )
            result = await self._methods[method](self._authenticate(request, args), args)
        except SlackError as refusal:
            return refusal.response()
        return web.json_response({"ok": True, **result})

    def _authenticate(self, request: web.Request, args: dict[str, Any]) -> Caller:
        token = wire.bearer_token(request, args)
        if not token:
            raise SlackError("not_authed")
        if token in self.revoked:
            raise SlackError("token_revoked")
        if token == self.bot_token:
            return Caller(self.bot_user_id, token, is_bot=True)
        user_id = self.user_tokens.get(token)
        if user_id is None:
            raise SlackError("invalid_auth")
        if self.users[user_id].get("deleted"):
            raise SlackError("account_inactive")  # the token's own user was deactivated
        return Caller(
            user_id, token, is_bot=False, scopes=self.oauth.scopes.get(token, frozenset())
        )

    async def _auth_test(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        result = {
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": self.users[caller.user_id]["name"],
            "team_id": ws.team_id,
            "user_id": caller.user_id,
            "is_enterprise_install": False,
        }
        return result | ({"bot_id": ws.bot_id} if caller.is_bot else {})

    async def _auth_revoke(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        if wire.truthy(args.get("test")):
            return {"revoked": False}
        self.revoked.add(caller.token)
        return {"revoked": True}

    async def _users_list(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "users:read")
        limit = wire.int_arg(args.get("limit"), default=100)
        limit = min(limit if limit > 0 else 100, self.max_page_size)
        offset = wire.decode_cursor(str(args.get("cursor") or ""))
        members = list(self.users.values())
        end = offset + limit
        return {
            "members": members[offset:end],
            "cache_ts": int(time.time()),
            "response_metadata": {
                "next_cursor": wire.encode_cursor(end) if end < len(members) else ""
            },
        }

    async def _users_info(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "users:read")
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    async def _conversations_open(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "im:write")
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if len(users) != 1:  # group DMs are not part of the stand-in
            raise SlackError("invalid_arguments" if users else "users_list_not_supplied")
        return {"channel": {"id": self._dm_for(caller, users[0])}}

    async def _chat_post_message(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "chat:write")
        channel = self._channel(caller, str(args.get("channel", "")))
        text, blocks = wire.content(args)
        message = SandboxMessage(channel, self._ts(), caller.user_id, text, blocks)
        message.thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        # A user token's post is the person's, marked with our app (relay-apis §1.6);
        # `username`/`icon_url` need chat:write.customize and do nothing on a user token
        # (relay-apis §1.7, surprise 4).
        message.by_app = not caller.is_bot
        if caller.is_bot and (args.get("username") or args.get("icon_url")):
            self.need(caller, "chat:write.customize")
            message.username = str(args.get("username") or "") or None
            message.icon_url = str(args.get("icon_url") or "") or None
        self.messages[(channel, message.ts)] = message
        self.posted(message)
        return {
            "channel": channel,
            "ts": message.ts,
            "message": p.message_json(self.workspace, message),
        }

    async def _chat_update(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self._dm_members:  # chat.update wants the D… id, never a U… (§I.17)
            raise SlackError("channel_not_found")
        message = self.messages.get((channel, str(args.get("ts", ""))))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != caller.user_id:
            raise SlackError("cant_update_message")
        message.text, message.blocks = wire.content(args, previous=message.blocks)
        message.edited += 1
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": p.message_json(self.workspace, message),
        }

    async def _chat_post_ephemeral(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(caller, str(args.get("channel", "")))
        if str(args.get("user", "")) not in self._dm_members[channel]:
            raise SlackError("user_not_in_channel")
        text, blocks = wire.content(args)
        message = SandboxMessage(channel, self._ts(), caller.user_id, text, blocks)
        self.ephemerals.append(message)
        return {"message_ts": message.ts}

    def _channel(self, caller: Caller, channel: str) -> str:
        """A `U…` id means the caller's DM with that user (§I.18); a `D…` must be the caller's."""
        if channel[:1] in ("U", "W"):
            return self._dm_for(caller, channel)
        members = self._dm_members.get(channel)
        if members is None or caller.user_id not in members:
            raise SlackError("channel_not_found")
        if any(self.users[u].get("deleted") for u in members):
            raise SlackError("is_archived")  # Slack archives the DM of a deactivated user
        return channel

    def _dm_for(self, caller: Caller, user_id: str) -> str:
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("channel_not_found")
        if user.get("deleted"):
            raise SlackError("user_disabled")
        if user.get("is_bot") or user_id == caller.user_id:
            raise SlackError("cannot_dm_bot")
        return self.dm_channel(caller.user_id, user_id)

    def _people(self) -> list[dict[str, Any]]:
        """Who can sign in to the consent page: active humans."""
        return [
            u
            for u in self.users.values()
            if not u.get("deleted") and not u.get("is_bot") and u["id"] != p.SLACKBOT
        ]

    # -- response_url ------------------------------------------------------------------------
    def _new_response_url(self, user_id: str, message: SandboxMessage | None = None) -> str:
        token = secrets.token_urlsafe(16)
        self._response_urls[token] = _ResponseUrl(user_id, message)
        return f"{self.url}/response/{token}"

    async def _response_url(self, request: web.Request) -> web.Response:
        entry = self._response_urls.get(request.match_info["token"])
        if entry is None or entry.uses >= _RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        entry.uses += 1
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        self.responses[entry.user_id].append(body)
        original = entry.message
        if original is not None and wire.truthy(body.get("delete_original")):
            self.messages.pop((original.channel, original.ts), None)
            self.ephemerals = [m for m in self.ephemerals if m is not original]
        elif original is not None and wire.truthy(body.get("replace_original")):
            original.text = str(body.get("text", ""))
            original.blocks = list(body.get("blocks") or [])
            original.edited += 1
        return web.json_response({"ok": True})
