"""What every adapter test needs: a recording core handler and the adapter's routes served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.edge import on_failure
from bot.platform import ChatPlatform, EventHandler
from bot.types import Answered, InboundEvent, Message, Outcome


@dataclass
class Recorder:
    """The core's EventHandler as the adapter sees it: records events, answers `answer`."""

    answer: Message | None = None
    fail: bool = False  # answer as the core's edge does when its database is down
    events: list[InboundEvent] = field(default_factory=list)

    async def __call__(self, event: InboundEvent) -> Outcome:
        self.events.append(event)
        if self.fail:
            return on_failure(event, "f41l")
        return Answered(self.answer)


@asynccontextmanager
async def serving(platform: ChatPlatform, handler: EventHandler) -> AsyncIterator[str]:
    """The adapter's webhook routes on a real loopback server; yields its base URL."""
    app = web.Application()
    app.add_routes(platform.routes(handler))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()
