"""People for the relay benchmark, linked the way the product links them.

Pair k is sender `bench{2k}` (primary Slack) and recipient `bench{2k+1}` (primary Zoom), both
on the Slack and Zoom stand-ins (benchmarks/seed.py's `bench_org`). The directory is imported
with `import_platform` (as `mio import` does), then every step goes through the running
`mio serve` as an admin and the people would drive it (tests/e2e/relay_support.py `link`):
`/mio primary …` and `/mio sync …` typed by the admin on Slack and confirmed, the consent DM
the outbox worker sends pressed Allow by the person on their primary platform, the OAuth
authorize page approved on the other platform's stand-in and its callback followed. The
worker then makes each person's subscription (relay_subscriptions), exactly as in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from sqlalchemy import func, select

from bot.app import build_core
from bot.directory import import_platform
from bot.settings import Settings
from sandbox.org import Org
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.zoom import ZoomSandbox
from store.db import make_engine
from store.models import Sync
from store.relay_models import RelaySubscription
from tests.e2e.agents import Agent, Seen, SlackAgent, ZoomAgent

ADMIN = "ada@acme.test"
LINK_CONCURRENCY = 8


@dataclass(frozen=True)
class Pair:
    """One conversation: the sender types on Slack, the recipient reads on Zoom."""

    index: int
    sender: str  # email
    recipient: str
    sender_slack: str
    recipient_slack: str
    sender_zoom: str
    recipient_zoom: str


def pairs(org: Org, count: int) -> list[Pair]:
    found = []
    for k in range(count):
        s, r = f"bench{2 * k}@bench.test", f"bench{2 * k + 1}@bench.test"
        ids = [org.find(p, e).user_id for e in (s, r) for p in ("slack", "zoom")]
        found.append(Pair(k, s, r, ids[0], ids[2], ids[1], ids[3]))
    return found


async def import_directories(env: dict[str, str]) -> None:
    """Both stand-ins' directories into the database, through the product's import."""
    core = build_core(Settings.from_env(env))
    try:
        for adapter in core.platforms.values():
            await adapter.start()
        for platform in ("slack", "zoom"):
            await import_platform(core, platform, "bench")
    finally:
        for adapter in core.platforms.values():
            await adapter.close()
        await core.sessions.kw["bind"].dispose()


async def wait_for(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Linker:
    """Drives the admin commands, consent presses and OAuth pages against `mio serve`."""

    def __init__(self, sandbox: Sandbox, org: Org, http: aiohttp.ClientSession) -> None:
        slack, zoom = sandbox.services["slack"], sandbox.services["zoom"]
        assert isinstance(slack, SlackSandbox) and isinstance(zoom, ZoomSandbox)
        self.slack = slack
        self.agents: dict[str, Agent] = {
            "slack": SlackAgent(slack, org),
            "zoom": ZoomAgent(zoom, org),
        }
        self.http = http
        self.admin = org.find("slack", ADMIN).user_id
        self._admin_turn = asyncio.Lock()  # one admin answer read at a time

    async def admin_command(self, text: str) -> str:
        """Ada types `/mio {text}` on Slack and confirms when asked; what she sees last."""
        async with self._admin_turn:
            return await self._admin_command(text)

    async def _admin_command(self, text: str) -> str:
        agent = self.agents["slack"]
        seen = await agent.command(ADMIN, text)
        if "mio:confirm" not in seen.actions:
            return seen.text
        before = len(self.slack.responses[self.admin])
        if await agent.press(ADMIN, seen, "mio:confirm") != 200:
            raise RuntimeError(f"confirming {text!r} failed")
        await wait_for(lambda: len(self.slack.responses[self.admin]) > before, text)
        return str(self.slack.responses[self.admin][-1].get("text", ""))

    async def _new_dm(
        self, agent: Agent, who: str, seen: int, test: Callable[[Seen], bool]
    ) -> Seen:
        found: list[Seen] = []

        def arrived() -> bool:
            found[:] = [s for s in agent.dms(who)[seen:] if test(s)]
            return bool(found)

        await wait_for(arrived, f"a DM to {who}")
        return found[-1]

    async def link(self, who: str, primary: str, secondary: str) -> None:
        """A consent sync of `who` onto `secondary`: confirmed, allowed, authorized."""
        home = self.agents[primary]
        seen = len(home.dms(who))
        answer = await self.admin_command(f"sync {who} {secondary}")
        if "pending" not in answer:
            raise RuntimeError(f"sync {who} {secondary}: {answer}")
        dm = await self._new_dm(home, who, seen, lambda s: "mio:consent:allow" in s.actions)
        if await home.press(who, dm, "mio:consent:allow") != 200:
            raise RuntimeError(f"Allow of {who} refused")
        # The sign-in link: the consent DM updated in place, or a new DM after it.
        dm = await self._new_dm(home, who, seen, lambda s: bool(s.links))
        callback = await self.agents[secondary].authorize(dm.links[0], who)
        async with self.http.get(callback) as resp:
            if resp.status != 200:
                raise RuntimeError(f"OAuth callback for {who}: {resp.status}")

    async def set_up(self, pairs: list[Pair]) -> None:
        """Primaries, then both links of every pair, LINK_CONCURRENCY people at a time."""
        for pair in pairs:
            for who, platform in ((pair.sender, "slack"), (pair.recipient, "zoom")):
                answer = await self.admin_command(f"primary {who} {platform}")
                if "primary platform is now" not in answer:
                    raise RuntimeError(f"primary {who}: {answer}")
        gate = asyncio.Semaphore(LINK_CONCURRENCY)

        async def one(step: Awaitable[None]) -> None:
            async with gate:
                await step

        steps = [self.link(p.sender, "slack", "zoom") for p in pairs]
        steps += [self.link(p.recipient, "zoom", "slack") for p in pairs]
        await asyncio.gather(*(one(s) for s in steps))


async def wait_linked(url: str, people: int, within: float = 120.0) -> None:
    """Every consent sync synced and its subscription active (made by the worker)."""
    engine = make_engine(url)
    deadline = time.monotonic() + within
    try:
        while True:
            async with engine.connect() as conn:
                synced = (
                    await conn.execute(
                        select(func.count()).select_from(Sync).where(Sync.status == "synced")
                    )
                ).scalar_one()
                subscribed = (
                    await conn.execute(
                        select(func.count())
                        .select_from(RelaySubscription)
                        .where(RelaySubscription.state == "active")
                    )
                ).scalar_one()
            if synced >= people and subscribed >= people:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{synced} synced, {subscribed} subscribed of {people}")
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
