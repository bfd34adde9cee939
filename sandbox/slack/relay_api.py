"""The Web API methods the relay reads DMs with (relay-apis §1.1-§1.2), for the Slack stand-in.

Mixed into `SlackWebApi`, whose state (messages, DM channels, tokens) they read. A person's
token reaches only their own DMs and needs the scope Slack's method page names: `im:history`
for conversations.history, `im:read` for conversations.members / conversations.info /
users.conversations (https://docs.slack.dev/reference/methods/conversations.history etc.).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.payloads import SandboxMessage, Workspace
from sandbox.slack.wire import Caller, SlackError

Method = Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]]
_DEFAULT_LIMIT = 100


class RelayApi:
    """conversations.history / members / info and users.conversations over the DMs."""

    workspace: Workspace
    messages: dict[tuple[str, str], SandboxMessage]
    _dm_members: dict[str, frozenset[str]]
    bot_scopes: set[str]

    def need(self, caller: Caller, scope: str) -> None:
        """Slack refuses a call whose token lacks the method's scope (`missing_scope`)."""
        granted = self.bot_scopes if caller.is_bot else caller.scopes
        if scope not in granted:
            raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(granted)))

    def posted(self, message: SandboxMessage) -> None:
        """Called after every chat.postMessage; the stand-in delivers the user events."""

    def relay_methods(self) -> dict[str, Method]:
        return {
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.members": self._conversations_members,
            "conversations.info": self._conversations_info,
            "users.conversations": self._users_conversations,
            "bots.info": self._bots_info,
        }

    def _member_channel(self, caller: Caller, args: dict[str, Any]) -> tuple[str, frozenset[str]]:
        channel = str(args.get("channel", ""))
        members = self._dm_members.get(channel)
        if members is None or caller.user_id not in members:
            raise SlackError("channel_not_found")  # not a member: Slack does not say it exists
        return channel, members

    async def _conversations_history(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (thread replies are only in conversations.replies), newest
        first, between `oldest` and `latest` (exclusive unless `inclusive`)."""
        self.need(caller, "im:history")
        channel, _ = self._member_channel(caller, args)
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        inclusive = wire.truthy(args.get("inclusive"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = sorted(
            (
                m
                for (c, ts), m in self.messages.items()
                if c == channel and within(float(ts)) and m.thread_ts in (None, m.ts)
            ),
            key=lambda m: float(m.ts),
            reverse=True,
        )
        limit = wire.int_arg(args.get("limit"), default=_DEFAULT_LIMIT) or _DEFAULT_LIMIT
        offset = wire.decode_cursor(str(args.get("cursor") or ""))
        page, more = found[offset : offset + limit], offset + limit < len(found)
        return {
            "messages": [self._with_replies(m) for m in page],
            "has_more": more,
            "response_metadata": {
                "next_cursor": wire.encode_cursor(offset + limit) if more else ""
            },
        }

    async def _conversations_replies(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its root first, then the replies between `oldest` and `latest`."""
        self.need(caller, "im:history")
        channel, _ = self._member_channel(caller, args)
        root = self.messages.get((channel, str(args.get("ts", ""))))
        if root is None:
            raise SlackError("thread_not_found")
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        replies = sorted(
            (m for m in self._replies(root) if oldest <= float(m.ts) <= latest),
            key=lambda m: float(m.ts),
        )
        messages = [self._with_replies(root)] + [p.message_json(self.workspace, m) for m in replies]
        return {"messages": messages, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _replies(self, root: SandboxMessage) -> list[SandboxMessage]:
        return [
            m
            for m in self.messages.values()
            if m.channel == root.channel and m.thread_ts == root.ts and m.ts != root.ts
        ]

    def _with_replies(self, message: SandboxMessage) -> dict[str, Any]:
        """A thread root as history shows it: `reply_count` and `latest_reply`."""
        body = p.message_json(self.workspace, message)
        replies = self._replies(message)
        if replies:
            latest = max(replies, key=lambda m: float(m.ts)).ts
            body |= {"thread_ts": message.ts, "reply_count": len(replies), "latest_reply": latest}
        return body

    async def _conversations_members(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "im:read")
        _, members = self._member_channel(caller, args)
        return {"members": sorted(members), "response_metadata": {"next_cursor": ""}}

    async def _conversations_info(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """An IM object: `user` is the other member, as the caller sees the DM."""
        self.need(caller, "im:read")
        channel, members = self._member_channel(caller, args)
        return {"channel": self._im(channel, members, caller.user_id)}

    async def _users_conversations(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        self.need(caller, "im:read")
        types = {t for t in str(args.get("types") or "public_channel").split(",") if t}
        ims = [
            self._im(channel, members, caller.user_id)
            for channel, members in self._dm_members.items()
            if caller.user_id in members and "im" in types
        ]
        return {"channels": ims, "response_metadata": {"next_cursor": ""}}

    async def _bots_info(self, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
        """Our bot, or the per-authorisation bot profile of a user-token post (§1.6)."""
        self.need(caller, "users:read")
        bot_id, ws = str(args.get("bot", "")), self.workspace
        if bot_id != ws.bot_id and not bot_id.startswith("B0U"):
            raise SlackError("bot_not_found")
        user = ws.bot_user_id if bot_id == ws.bot_id else None
        bot = {"id": bot_id, "deleted": False, "name": ws.app_name, "app_id": ws.app_id}
        return {"bot": bot | ({"user_id": user} if user else {})}

    @staticmethod
    def _im(channel: str, members: frozenset[str], viewer: str) -> dict[str, Any]:
        other = next((m for m in members if m != viewer), viewer)
        return {"id": channel, "is_im": True, "user": other, "is_user_deleted": False}
