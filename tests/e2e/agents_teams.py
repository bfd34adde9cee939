"""Acting as people on the Teams stand-in, for the flow tests (the `Agent` protocol).

A command is text typed in the person's 1:1 chat with the bot; its answer is the bot's next
Adaptive Card in that chat. A press is an `Action.Submit` click, which Teams delivers as a
message activity carrying the button's data as `value` (platform-apis.md §C.2). A direct
message between two people is typed in their Graph 1:1 chat (Teams HTML), which notifies the
members' subscriptions as Graph would (relay-apis §2.1).
"""

from __future__ import annotations

import asyncio

from sandbox.base import NativeDm
from sandbox.org import Org
from sandbox.teams import ChatActivity, TeamsSandbox
from tests.e2e.agents import Seen


class TeamsAgent:
    platform = "teams"

    def __init__(self, sandbox: TeamsSandbox, org: Org) -> None:
        self.sandbox, self.org = sandbox, org

    def user_id(self, email: str) -> str:
        return self.org.find("teams", email).user_id

    @staticmethod
    def _seen(message: ChatActivity) -> Seen:
        actions: dict[str, str] = {}
        links: list[str] = []
        for action in message.actions:
            data = action.get("data")
            if action.get("type") == "Action.OpenUrl":
                links.append(str(action.get("url", "")))
            elif isinstance(data, dict) and data.get("action_id"):
                actions[str(data["action_id"])] = str(data.get("value", ""))
        return Seen("\n".join(message.lines), actions, links, message)

    async def command(self, email: str, text: str) -> Seen:
        uid = self.user_id(email)
        before = len(self.sandbox.inbox(uid))
        status, body = await self.sandbox.send_text(uid, text)
        assert status == 200, (status, body)
        for _ in range(200):  # answers are posted before the 200; later ones (import) after
            inbox = self.sandbox.inbox(uid)
            if len(inbox) > before:
                return self._seen(inbox[before])
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {text!r} on Teams")

    async def press(self, email: str, seen: Seen, action_id: str) -> int:
        status, _ = await self.sandbox.press(self.user_id(email), seen.raw, action_id)
        return status

    def dms(self, email: str) -> list[Seen]:
        return [self._seen(m) for m in self.sandbox.inbox(self.user_id(email))]

    async def authorize(self, url: str, email: str, approve: bool = True) -> str:
        return await self.sandbox.authorize(url, self.user_id(email), approve)

    # -- the relay (RELAY_PLAN.md "What each platform branch delivers" 5) ----------------------
    async def write_dm(self, sender_email: str, recipient_email: str, text: str) -> str:
        """The sender types `text` (Teams HTML) in their 1:1 with the recipient; the message id."""
        return await self.sandbox.user_dm(
            self.user_id(sender_email), self.user_id(recipient_email), text
        )

    async def write_to_bot(self, sender_email: str, text: str, thread_id: str | None = None) -> str:
        """Typed in the person's 1:1 with the bot (Teams has no threads: `thread_id` unused)."""
        return await self.sandbox.user_to_bot(self.user_id(sender_email), text, thread_id)

    def conversation(self, email: str, other_email: str) -> list[NativeDm]:
        return self.sandbox.conversation(self.user_id(email), self.user_id(other_email))
