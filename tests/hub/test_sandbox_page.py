"""The demo's `/sandbox` page: each person's DMs, real presses, commands, the consent page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.inbox import InboxPage, as_shown, markup
from tests.hub.conftest import Harness, Hub

BOB = "bob@acme.test"


@pytest.fixture
async def sandbox_url(harness: Harness) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(InboxPage(harness.sandbox).routes())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def get(url: str, status: int = 200) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
        assert resp.status == status, text[:300]
        return text


async def post(url: str, data: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=data, allow_redirects=False) as resp,
    ):
        return resp.status, resp.headers.get("Location", await resp.text())


async def test_bob_allows_from_his_slack_inbox(hub: Hub, sandbox_url: str) -> None:
    h = hub.h
    bob = await hub.person_id(BOB)
    await hub.post(f"/hub/people/{bob}/primary", {"platform": "slack"})
    await hub.post(f"/hub/people/{bob}/sync/zoom")
    await h.deliver()
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0BOB")
    assert "theme-slack" in page and "Signed in as Bob Marley" in page
    assert "Link your Zoom account" in page and ">Allow</button>" in page
    message = page.split('name="message" value="')[1].split('"')[0]
    status, where = await post(
        f"{sandbox_url}/sandbox/slack/U0BOB/press",
        {"message": message, "action": "mio:consent:allow"},
    )
    assert (status, where) == (303, "/sandbox?platform=slack&user=U0BOB")
    await h.deliver()
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0BOB&fragment=1")
    assert page.startswith('<ol class="messages">') and "Sign in to Zoom" in page
    link_action = page.split('value="link:')[1].split('"')[0]
    status, where = await post(
        f"{sandbox_url}/sandbox/slack/U0BOB/press",
        {"message": message, "action": f"link:{link_action}"},
    )
    assert status == 303 and where.startswith(h.zoom.url + "/oauth/authorize?")  # consent page
    callback = await h.zoom.authorize(where, "Zbob0000MARLEY")
    async with h.http.get(callback) as resp:
        assert resp.status == 200
    assert await h.status(BOB, "zoom") == ("synced", None)


async def test_commands_as_a_person_on_slack_and_zoom(harness: Harness, sandbox_url: str) -> None:
    status, _ = await post(f"{sandbox_url}/sandbox/slack/U0ADA/command", {"text": "help"})
    assert status == 303
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0ADA")
    assert "<code>/mio help</code>" in page and "Only visible to you" in page
    ada = f"{sandbox_url}/sandbox/zoom/Zada0000LOVELACE"
    status, _ = await post(f"{ada}/command", {"text": "sync erin@acme.test slack"})
    await harness.wait_for(lambda: harness.zoom.inbox("Zada0000LOVELACE"))
    page = await get(f"{sandbox_url}/sandbox?platform=zoom&user=Zada0000LOVELACE")
    assert "theme-zoom" in page and "represented sync" in page
    message = page.split('name="message" value="')[1].split('"')[0]
    confirm = page.split('name="action" value="')[1].split('"')[0]
    assert confirm.startswith("mio:confirm|") and ">Sync</button>" in page
    assert await post(f"{ada}/press", {"message": message, "action": confirm}) == (
        303,
        "/sandbox?platform=zoom&user=Zada0000LOVELACE",
    )
    assert await harness.status("erin@acme.test", "slack") == ("synced", None)


async def test_bad_input_is_4xx(harness: Harness, sandbox_url: str) -> None:
    await get(f"{sandbox_url}/sandbox?platform=myspace", status=404)
    await get(f"{sandbox_url}/sandbox?platform=slack&user=U0NOBODY", status=404)
    await get(f"{sandbox_url}/sandbox?platform=slack&user=U0DEPLOYBOT", status=404)
    status, text = await post(f"{sandbox_url}/sandbox/slack/U0ADA/command", {"text": " "})
    assert status == 400 and "Type a command" in text
    status, text = await post(
        f"{sandbox_url}/sandbox/slack/U0ADA/press", {"message": "D0|1", "action": "x"}
    )
    assert status == 404 and "no longer there" in text


def test_markup_is_escaped_then_formatted() -> None:
    assert markup("*Hi* <https://x.test/a?b=1&c=2|there> <script>") == (
        '<strong>Hi</strong> <a href="https://x.test/a?b=1&amp;c=2">there</a> &lt;script&gt;'
    )
    assert markup("**Bold** [site](https://x.test) _it_") == (
        '<strong>Bold</strong> <a href="https://x.test">site</a> <em>it</em>'
    )
    assert markup("<javascript:alert(1)|x>") == "&lt;javascript:alert(1)|x&gt;"


def test_adaptive_cards_and_plain_text_are_shown() -> None:
    @dataclass
    class Card:
        id: str = "A1"
        timestamp: str = "now"
        attachments: list[dict[str, Any]] = field(
            default_factory=lambda: [
                {
                    "content": {
                        "body": [
                            {"type": "TextBlock", "text": "Link your Teams", "weight": "Bolder"},
                            {"type": "TextBlock", "text": "Press **Allow**"},
                        ],
                        "actions": [
                            {
                                "type": "Action.Submit",
                                "title": "Allow",
                                "style": "positive",
                                "data": {"action_id": "mio:consent:allow"},
                            },
                            {"type": "Action.OpenUrl", "title": "Open", "url": "https://x.test"},
                        ],
                    }
                }
            ]
        )

    shown = as_shown(Card())
    assert (shown.id, shown.title, shown.lines) == ("A1", "Link your Teams", ["Press **Allow**"])
    assert [(b.label, b.action, b.style, b.url) for b in shown.buttons] == [
        ("Allow", "mio:consent:allow", "primary", ""),
        ("Open", "", "", "https://x.test"),
    ]

    class Text:
        id = "T1"
        text = "hello"

    assert as_shown(Text()).lines == ["hello"]
