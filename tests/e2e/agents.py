"""Acting as people on each stand-in platform: commands, DMs and button presses over HTTP.

One small class per platform hides how that platform shows the bot's answers (Slack: in the
slash command's response; Zoom: as a chatbot message), so the flow tests read the same for
every platform pair.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.base import NativeDm
from sandbox.org import Org
from sandbox.slack import SandboxMessage as SlackMessage
from sandbox.slack import SlackSandbox
from sandbox.zoom import SandboxMessage as ZoomMessage
from sandbox.zoom import ZoomSandbox


@dataclass
class Seen:
    """A message as the person sees it: text, and buttons by action id."""

    text: str
    actions: dict[str, str]  # action_id → value
    links: list[str]
    raw: Any


class Agent(Protocol):
    platform: str

    def user_id(self, email: str) -> str: ...
    async def command(self, email: str, text: str) -> Seen: ...
    async def press(self, email: str, seen: Seen, action_id: str) -> int: ...
    def dms(self, email: str) -> list[Seen]: ...
    async def authorize(self, url: str, email: str, approve: bool = True) -> str: ...
    async def write_dm(self, sender_email: str, recipient_email: str, text: str) -> str: ...
    async def write_to_bot(
        self, sender_email: str, text: str, thread_id: str | None = None
    ) -> str: ...
    def conversation(self, email: str, other_email: str) -> list[NativeDm]: ...


class SlackAgent:
    platform = "slack"

    def __init__(self, sandbox: SlackSandbox, org: Org) -> None:
        self.sandbox, self.org = sandbox, org

    def user_id(self, email: str) -> str:
        return self.org.find("slack", email).user_id

    @staticmethod
    def _seen(text: str, blocks: list[dict[str, Any]], raw: Any) -> Seen:
        actions: dict[str, str] = {}
        links: list[str] = []
        lines = [text]
        for block in blocks:
            if block.get("type") in ("section", "header"):
                lines.append(block["text"]["text"])
            for el in block.get("elements", []):
                if el.get("type") == "button":
                    if "url" in el:
                        links.append(el["url"])
                    if el.get("action_id"):
                        actions[el["action_id"]] = el.get("value", "")
        return Seen("\n".join(lines), actions, links, raw)

    async def command(self, email: str, text: str) -> Seen:
        status, body = await self.sandbox.slash_command(self.user_id(email), text)
        assert status == 200, (status, body)
        data: dict[str, Any] = (
            json.loads(body) if body.startswith("{") else {"text": body, "blocks": []}
        )
        return self._seen(data.get("text", ""), data.get("blocks", []), data)

    async def press(self, email: str, seen: Seen, action_id: str) -> int:
        uid = self.user_id(email)
        if isinstance(seen.raw, SlackMessage):
            message = seen.raw
        else:  # a button in a command's ephemeral answer
            message = SlackMessage(
                channel=self.sandbox.dm_channel(self.sandbox.bot_user_id, uid),
                ts="0000000000.000000",
                user=self.sandbox.bot_user_id,
                text=seen.raw.get("text", ""),
                blocks=seen.raw["blocks"],
            )
        status, _ = await self.sandbox.press(uid, message, action_id)
        return status

    def dms(self, email: str) -> list[Seen]:
        # A relayed message from a represented sender shows their name as its author
        # (chat:write.customize `username`), above the text, as Slack's client does.
        return [
            self._seen(f"{m.username}\n{m.text}" if m.username else m.text, m.blocks, m)
            for m in self.sandbox.inbox(self.user_id(email))
        ]

    async def authorize(self, url: str, email: str, approve: bool = True) -> str:
        return await self.sandbox.authorize(url, self.user_id(email), approve)

    # -- the relay (RELAY_PLAN.md "What each platform branch delivers", 5) -------------------
    async def write_dm(self, sender_email: str, recipient_email: str, text: str) -> str:
        """The sender types `text` (mrkdwn) in their own 1:1 with the recipient; the ts."""
        sender, recipient = self.user_id(sender_email), self.user_id(recipient_email)
        return await self.sandbox.user_dm(sender, recipient, text)

    async def write_to_bot(self, sender_email: str, text: str, thread_id: str | None = None) -> str:
        """The sender types `text` to the Mio bot, replying in `thread_id` when given."""
        return await self.sandbox.user_to_bot(self.user_id(sender_email), text, thread_id)

    def conversation(self, email: str, other_email: str) -> list[NativeDm]:
        """The two people's own 1:1, oldest first (what Mio posted as them included)."""
        return self.sandbox.conversation(self.user_id(email), self.user_id(other_email))


class ZoomAgent:
    platform = "zoom"

    def __init__(self, sandbox: ZoomSandbox, org: Org) -> None:
        self.sandbox, self.org = sandbox, org

    def user_id(self, email: str) -> str:
        return self.org.find("zoom", email).user_id

    @staticmethod
    def _seen(message: ZoomMessage) -> Seen:
        actions: dict[str, str] = {}
        links: list[str] = []
        lines = [message.content.get("head", {}).get("text", "")]
        for item in message.content.get("body", []):
            if item.get("type") == "message":
                lines.append(item.get("text", ""))
                if item.get("link"):
                    links.append(item["link"])
            for button in item.get("items", []) if item.get("type") == "actions" else []:
                action_id, _, value = button["value"].partition("|")
                actions[action_id] = value
        return Seen("\n".join(lines), actions, links, message)

    async def command(self, email: str, text: str) -> Seen:
        uid = self.user_id(email)
        before = len(self.sandbox.inbox(uid))
        status, body = await self.sandbox.slash_command(uid, text)
        assert status == 200, (status, body)
        for _ in range(200):  # the answer is a chatbot message sent right after the ack
            inbox = self.sandbox.inbox(uid)
            if len(inbox) > before:
                return self._seen(inbox[-1])
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {text!r} on Zoom")

    async def press(self, email: str, seen: Seen, action_id: str) -> int:
        status, _ = await self.sandbox.press(
            self.user_id(email), seen.raw, f"{action_id}|{seen.actions[action_id]}"
        )
        return status

    def dms(self, email: str) -> list[Seen]:
        return [self._seen(m) for m in self.sandbox.inbox(self.user_id(email))]

    async def authorize(self, url: str, email: str, approve: bool = True) -> str:
        return await self.sandbox.authorize(url, self.user_id(email), approve)

    # -- the relay: people typing to each other in Zoom, and to the bot -----------------------
    async def write_dm(self, sender_email: str, recipient_email: str, text: str) -> str:
        """The sender types `text` (plain: Zoom keeps formatting out of the text) in their 1:1
        with the recipient; the login app's event is delivered before this returns."""
        sender, recipient = self.user_id(sender_email), self.user_id(recipient_email)
        return await self.sandbox.user_dm(sender, recipient, text)

    async def write_to_bot(self, sender_email: str, text: str, thread_id: str | None = None) -> str:
        """The sender types `text` in their 1:1 with the chatbot (Zoom has no threads there)."""
        return await self.sandbox.user_to_bot(self.user_id(sender_email), text, thread_id)

    def conversation(self, email: str, other_email: str) -> list[NativeDm]:
        """The two people's own 1:1 on Zoom, oldest first (what the bot posts is in `dms`)."""
        return self.sandbox.conversation(self.user_id(email), self.user_id(other_email))
