"""A real Chromium (Debian's, never a downloaded one) against the real app and the sandbox.

The app runs as `mio demo` runs it: background worker on (so DMs go out by themselves), the
`/sandbox` inbox mounted, nothing imported yet. Skipped only where no Chromium is installed
and not under CI; under CI (`CI` set) a missing browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from bot.app import create_app
from bot.clock import ManualClock
from bot.core import Core
from bot.web import CORE
from sandbox.inbox import InboxPage
from sandbox.org import Org, load_org
from sandbox.runner import Sandbox
from store.db import upgrade
from tests.e2e.conftest import free_port, settings_for

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Autouse, so it runs before the app starts: no browser, no point starting one."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing under CI: .ci/run installs Debian's chromium")
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


@dataclass
class Site:
    core: Core
    clock: ManualClock
    sandbox: Sandbox
    org: Org
    url: str

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / f"{name}.png"


@asynccontextmanager
async def running(db_url: str, platforms: list[str]) -> AsyncIterator[tuple[web.Application, Site]]:
    """The app as `mio demo` runs it, its worker on, the inbox mounted, over `platforms`."""
    org = load_org()
    sandbox = Sandbox(org, platforms)
    await sandbox.start()
    port = free_port()
    await upgrade(db_url)
    clock = ManualClock()
    app = create_app(settings_for(sandbox, db_url, port), clock=clock, tick_seconds=3600)
    app.add_routes(InboxPage(sandbox).routes())
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    url = f"http://127.0.0.1:{port}"
    sandbox.point_at(url)
    try:
        yield app, Site(app[CORE], clock, sandbox, org, url)
    finally:
        await server.close()
        await sandbox.stop()


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[Site]:
    async with running(db_url, ["slack", "zoom"]) as (_, started):
        yield started


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()
