"""The Hub over real HTTP against the real app and the sandbox, on both databases.

Reuses the end-to-end harness (`tests/e2e/conftest.py`): the app, the stand-ins, the manual
clock and the agents that act as people on each platform.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.core import Core
from bot.delivery import Worker
from bot.hub import create_link
from tests.e2e.conftest import ADMIN, Harness, harness

__all__ = ["ADMIN", "Harness", "Hub", "harness", "hub", "wait_background"]


async def wait_background(core: Core) -> None:
    """Run the background work (imports, revocations: outbox rows) as the app's worker would;
    the harness turns that worker off."""
    await Worker(core).drain()


CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


@dataclass
class Hub:
    """A browser-like client of the Hub: its own cookie jar, and the page's CSRF token."""

    h: Harness
    http: aiohttp.ClientSession
    csrf: str = ""
    seen: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.h.url + path

    async def sign_in(self, who: str = ADMIN) -> None:
        link = await create_link(self.h.core, who)
        async with self.http.post(link, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
        page = await self.page("/hub/users")
        match = CSRF.search(page)
        assert match, page
        self.csrf = match[1]

    async def page(self, path: str, status: int = 200) -> str:
        async with self.http.get(self.url(path), allow_redirects=False) as resp:
            text = await resp.text()
            assert resp.status == status, (resp.status, text[:500])
            return text

    async def json(self, path: str, status: int = 200) -> Any:
        async with self.http.get(
            self.url(path), headers={"Accept": "application/json"}, allow_redirects=False
        ) as resp:
            assert resp.status == status, (resp.status, await resp.text())
            return await resp.json()

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        status: int = 200,
        csrf: bool = True,
        as_json: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        sent = {"Accept": "application/json"} if as_json else {}
        sent.update(headers or {})
        async with self.http.post(
            self.url(path), data=form, headers=sent, allow_redirects=False
        ) as resp:
            body = await resp.text()
            assert resp.status == status, (resp.status, body[:500])
            return await resp.json() if as_json and "json" in resp.content_type else body

    async def person_id(self, email: str) -> int:
        return int((await self.h.person(email)).id)  # type: ignore[attr-defined]


@pytest.fixture
async def hub(harness: Harness) -> AsyncIterator[Hub]:
    # Cookies for 127.0.0.1 need the "unsafe" jar: browsers keep them, aiohttp does not by default.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        client = Hub(harness, http)
        await client.sign_in()
        yield client
