"""The real app and the sandbox on loopback, on each database, with a clock tests can move."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from bot import connect
from bot.app import WORKER, create_app
from bot.clock import ManualClock
from bot.core import Core
from bot.delivery import Worker
from bot.directory import import_platform
from bot.logs import AccessLog
from bot.settings import Settings
from bot.web import CORE
from sandbox.org import Org, load_org
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.zoom import ZoomSandbox
from store.db import upgrade
from store.repositories import Directory, Syncs
from tests.e2e.agents import Agent, Seen, SlackAgent, ZoomAgent
from tests.e2e.agents_teams import TeamsAgent
from tests.e2e.agents_webex import WebexAgent

# How to act as a person on each stand-in; a new platform adds its agent here.
AGENT_TYPES: dict[str, Callable[[Any, Org], Agent]] = {
    "slack": SlackAgent,
    "zoom": ZoomAgent,
    "teams": TeamsAgent,
    "webex": WebexAgent,
}

ADMIN = "ada@acme.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    core: Core
    worker: Worker
    clock: ManualClock
    sandbox: Sandbox
    org: Org
    url: str
    http: aiohttp.ClientSession
    agents: dict[str, Agent]

    @property
    def slack(self) -> SlackSandbox:
        service = self.sandbox.services["slack"]
        assert isinstance(service, SlackSandbox)
        return service

    @property
    def zoom(self) -> ZoomSandbox:
        service = self.sandbox.services["zoom"]
        assert isinstance(service, ZoomSandbox)
        return service

    async def deliver(self) -> None:
        """Run the outbox until nothing is due (the app's own worker is off in tests)."""
        await self.worker.drain()

    async def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    async def status(self, email: str, platform: str) -> tuple[str, str | None]:
        async with self.core.sessions() as session:
            (person,) = await Directory(session).find_people(email)
            sync = await Syncs(session).get(person.id, platform)
        return (sync.status, sync.reason) if sync else ("not_created", None)

    async def person(self, email: str) -> object:
        async with self.core.sessions() as session:
            (person,) = await Directory(session).find_people(email)
        return person

    async def command(self, platform: str, email: str, text: str) -> str:
        """Run a command and press Confirm when asked; returns what the admin finally sees."""
        agent = self.agents[platform]
        seen = await agent.command(email, text)
        if "mio:confirm" not in seen.actions:
            return seen.text
        return await self.press_and_read(platform, email, seen, "mio:confirm")

    async def press_and_read(self, platform: str, email: str, seen: Seen, action: str) -> str:
        """Press a button of an answer and return the bot's next answer to that admin."""
        agent = self.agents[platform]
        before = len(agent.dms(email))
        assert await agent.press(email, seen, action) == 200
        if platform == "slack":
            uid = self.org.find("slack", email).user_id
            return str(self.slack.responses[uid][-1]["text"])
        await self.wait_for(lambda: len(agent.dms(email)) > before)
        return agent.dms(email)[-1].text

    @staticmethod
    async def wait_for(check: object, tries: int = 200) -> None:
        import asyncio

        for _ in range(tries):
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")


def settings_for(sandbox: Sandbox, db_url: str, port: int, **extra: str) -> Settings:
    env = {
        **sandbox.env(),
        "MIO_DATABASE_URL": db_url,
        "MIO_SECRET_KEY": Fernet.generate_key().decode(),
        "MIO_ADMINS": ADMIN,
        "MIO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        **extra,
    }
    return Settings.from_env(env)


def make_agents(sandbox: Sandbox, org: Org) -> dict[str, Agent]:
    """An agent for each stand-in that runs."""
    return {name: AGENT_TYPES[name](service, org) for name, service in sandbox.services.items()}


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    org = load_org()
    sandbox = Sandbox(org)
    await sandbox.start()
    port = free_port()
    await upgrade(db_url)
    clock = ManualClock()
    app = create_app(settings_for(sandbox, db_url, port), clock=clock, background=False)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(access_log_class=AccessLog)  # as `mio serve` runs it
    url = f"http://127.0.0.1:{port}"
    sandbox.point_at(url)
    core = app[CORE]
    agents = make_agents(sandbox, org)
    async with aiohttp.ClientSession() as http:
        try:
            for platform in core.platforms:
                if connect.needs_admin_grant(core, platform) is not None:
                    link = await connect.start(core, platform, "test")
                    callback = await agents[platform].authorize(link, ADMIN)
                    async with http.get(callback) as resp:
                        assert resp.status == 200, await resp.text()
                await import_platform(core, platform, "test")
            yield Harness(core, app[WORKER], clock, sandbox, org, url, http, agents)
        finally:
            await server.close()
            await sandbox.stop()
