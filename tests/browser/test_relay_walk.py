"""The relay in Chromium: Ada on Slack and Bob on Teams write to each other in the sandbox
inbox, each in their own 1:1 on their own platform, and Teri (no Slack account) reaches Ada
through the bot. Two browser contexts, as two people on two machines; the app's own
background worker relays, as in `mio demo`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from bot.app import WORKER
from bot.directory import import_platform
from tests.browser.conftest import SCREENSHOTS, running
from tests.e2e.conftest import Harness, make_agents
from tests.e2e.relay_support import ADA, BOB, both_linked, represent, set_primary

TERI = "teri@acme.test"


@pytest.fixture
async def relay_site(db_url: str) -> AsyncIterator[Harness]:
    """Slack and Teams stand-ins (and Zoom, the required platform), everyone imported."""
    async with running(db_url, ["slack", "zoom", "teams"]) as (app, site):
        core = site.core
        for platform in core.platforms:
            await import_platform(core, platform, "test")
        agents = make_agents(site.sandbox, site.org)
        async with aiohttp.ClientSession() as http:
            yield Harness(
                core, app[WORKER], site.clock, site.sandbox, site.org, site.url, http, agents
            )


def chat(h: Harness, platform: str, email: str, other: str | None = None) -> str:
    query = {"platform": platform, "user": h.agents[platform].user_id(email)}
    if other is not None:
        query["with"] = h.agents[platform].user_id(other)
    return f"{h.url}/sandbox?{urlencode(query)}"


async def write(page: Page, text: str) -> None:
    await page.get_by_role("textbox").fill(text)
    await page.get_by_role("button", name="Send").click()


async def test_ada_on_slack_and_bob_on_teams_talk(relay_site: Harness, browser: Browser) -> None:
    h = relay_site
    await both_linked(h, "slack", "teams")
    ada = await (await browser.new_context(viewport={"width": 1100, "height": 700})).new_page()
    bob = await (await browser.new_context(viewport={"width": 1100, "height": 700})).new_page()
    await ada.goto(chat(h, "slack", ADA, BOB))
    await bob.goto(chat(h, "teams", BOB, ADA))
    await expect(ada.get_by_role("heading", name="Bob Marley")).to_be_visible()

    await write(ada, "Hi Bob! Lunch at *noon*?")
    said = bob.locator(".messages .said").last
    await expect(said).to_have_text("Hi Bob! Lunch at noon?", timeout=15_000)
    await expect(said.locator("b")).to_have_text("noon")  # Slack's bold, drawn as Teams bold
    await expect(bob.locator(".messages .msg").last).to_contain_text("Ada Lovelace")

    await write(bob, "Yes, see you there")
    await expect(ada.locator(".messages .said").last).to_have_text(
        "Yes, see you there", timeout=15_000
    )
    await expect(ada.locator(".messages .said")).to_have_count(2)  # nothing echoed back
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await ada.screenshot(path=SCREENSHOTS / "relay-ada-on-slack.png", full_page=True)
    await bob.screenshot(path=SCREENSHOTS / "relay-bob-on-teams.png", full_page=True)

    # Teri has no Slack account: the bot speaks for her in Ada's Slack.
    await set_primary(h, TERI, "teams")
    await represent(h, TERI, "teams", "slack")
    teri = await (await browser.new_context(viewport={"width": 1100, "height": 700})).new_page()
    await teri.goto(chat(h, "teams", TERI, ADA))
    await write(teri, "Could you review my pull request?")
    await ada.goto(chat(h, "slack", ADA))
    await expect(ada.locator(".messages")).to_contain_text(
        "Could you review my pull request?", timeout=15_000
    )
    await ada.screenshot(path=SCREENSHOTS / "relay-teri-through-the-bot.png", full_page=True)
