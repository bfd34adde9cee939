"""Acting as people on the Webex stand-in, behind the `Agent` protocol of `agents.py`.

On Webex a command is a direct message to the bot, and the bot's answer is its next message (a
card or markdown) in that 1:1 space; a press is an `attachmentActions` submit of a card button.
Webex cannot edit a card, so the bot answers a card's outcome in the card's thread (§B.3): `dms`
shows one entry per thread, as it now reads (its newest message), which is what "the DM, updated
in place" means on the other platforms. The older card in a thread stays pressable.

For the relay, people also type to each other natively (`write_dm`: every member's relay
webhook fires, signed, as on Webex) and to the bot (`write_to_bot`), and `conversation` reads
a 1:1 between two people as Webex stores it (markdown as typed or posted).
"""

from __future__ import annotations

import asyncio

from sandbox.base import NativeDm
from sandbox.org import Org
from sandbox.webex import SandboxMessage, WebexSandbox
from tests.e2e.agents import Seen


class WebexAgent:
    platform = "webex"

    def __init__(self, sandbox: WebexSandbox, org: Org) -> None:
        self.sandbox, self.org = sandbox, org

    def user_id(self, email: str) -> str:
        return self.org.find("webex", email).user_id

    @staticmethod
    def _seen(message: SandboxMessage) -> Seen:
        """Text blocks (or markdown), Action.Submit data by action id, Action.OpenUrl links."""
        actions: dict[str, str] = {}
        links: list[str] = []
        for button in message.buttons:
            if button.get("type") == "Action.OpenUrl":
                links.append(str(button.get("url", "")))
            data = button.get("data") or {}
            if button.get("type") == "Action.Submit" and data.get("action_id"):
                actions[str(data["action_id"])] = str(data.get("value", ""))
        return Seen(message.shown_text, actions, links, message)

    async def command(self, email: str, text: str) -> Seen:
        uid = self.user_id(email)
        before = len(self.sandbox.inbox(uid))
        deliveries = await self.sandbox.send_text(uid, text)
        assert deliveries and all(d.status == 200 for d in deliveries), [
            (d.status, d.text) for d in deliveries
        ]
        for _ in range(300):  # the answer is a message the bot posts right after the ack
            inbox = self.sandbox.inbox(uid)
            if len(inbox) > before:
                return self._seen(inbox[before])
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {text!r} on Webex")

    def _card_with(self, message: SandboxMessage, action_id: str) -> SandboxMessage:
        """`message`, or the newest card in its thread that has the button (still pressable)."""
        thread = self._thread_of(message)
        for candidate in [message, *reversed(thread)]:
            if any((b.get("data") or {}).get("action_id") == action_id for b in candidate.buttons):
                return candidate
        return message

    def _thread_of(self, message: SandboxMessage) -> list[SandboxMessage]:
        root = message.parent_id or message.id
        room = self.sandbox.room_messages(message.room_id)
        return [m for m in room if (m.parent_id or m.id) == root]

    async def press(self, email: str, seen: Seen, action_id: str) -> int:
        assert isinstance(seen.raw, SandboxMessage), "only a message the bot sent has buttons"
        card = self._card_with(seen.raw, action_id)
        deliveries = await self.sandbox.press(self.user_id(email), card, action_id)
        return deliveries[-1].status if deliveries else 0

    def _threads(self, email: str) -> dict[str, list[SandboxMessage]]:
        """The bot's messages to `email` by thread (root id), oldest first in each."""
        threads: dict[str, list[SandboxMessage]] = {}
        for message in self.sandbox.inbox(self.user_id(email)):
            threads.setdefault(message.parent_id or message.id, []).append(message)
        return threads

    def dms(self, email: str) -> list[Seen]:
        return [self._seen(thread[-1]) for thread in self._threads(email).values()]

    async def authorize(self, url: str, email: str, approve: bool = True) -> str:
        return await self.sandbox.authorize(url, self.user_id(email), approve)

    # -- the relay ---------------------------------------------------------------------------
    async def write_dm(self, sender_email: str, recipient_email: str, text: str) -> str:
        """The sender types `text` (Webex markdown) in their 1:1 with the recipient."""
        return await self.sandbox.user_dm(
            self.user_id(sender_email), self.user_id(recipient_email), text
        )

    async def write_to_bot(self, sender_email: str, text: str, thread_id: str | None = None) -> str:
        """The sender types `text` to the Mio bot (a reply under `thread_id` if given)."""
        return await self.sandbox.user_to_bot(self.user_id(sender_email), text, thread_id)

    def conversation(self, email: str, other_email: str) -> list[NativeDm]:
        return self.sandbox.conversation(self.user_id(email), self.user_id(other_email))
