"""Answers to an inbound command that go out after the delivery was acknowledged.

Zoom's and Webex's webhook answers cannot carry a chat message, and Teams answers a typed
command with a message of its own, so each sends the core's answer as a new message. The
delivery is already handled by then: a failure cannot make the platform redeliver, so it is
logged (for an admin to see why someone got no answer) instead of raised. Background sends are
kept so that `close()` lets them finish before the HTTP session under them goes away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.types import Message, PlatformError, ReplyTarget

log = logging.getLogger(__name__)

Reply = Callable[[ReplyTarget, Message], Awaitable[None]]


class LaterAnswers:
    """One adapter's answers sent after the ack, through its `reply`."""

    def __init__(self, name: str, reply: Reply) -> None:
        self._name = name
        self._reply = reply
        self._background: set[asyncio.Task[None]] = set()

    async def send(self, target: ReplyTarget, message: Message) -> None:
        """Send now; a failure is logged, never raised (nobody is left to tell)."""
        try:
            await self._reply(target, message)
        except PlatformError as exc:
            log.error("%s: could not deliver the answer to %s: %s", self._name, target.data, exc)
        except Exception:
            # Nothing awaits a background send, so an unexpected error would otherwise vanish.
            log.exception("%s: answer to %s crashed", self._name, target.data)

    def later(self, target: ReplyTarget, message: Message) -> None:
        """Send in the background, so the platform gets its acknowledgement at once."""
        task = asyncio.create_task(self.send(target, message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the background sends still under way."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
