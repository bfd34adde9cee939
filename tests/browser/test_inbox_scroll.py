"""The `/sandbox` inbox in Chromium: it opens at the newest message, follows new ones as they
arrive, and a typed `/mio help` is sent and shown once, as `/mio help`."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from sandbox.slack import SlackSandbox
from tests.browser.conftest import Site

AT_END = "innerHeight + scrollY >= document.documentElement.scrollHeight - 2"


async def at_end(page: Page) -> bool:
    return bool(await page.evaluate(AT_END))


async def test_the_inbox_opens_at_the_newest_and_follows_new_ones(
    site: Site, browser: Browser
) -> None:
    page = await (await browser.new_context(viewport={"width": 1000, "height": 600})).new_page()
    await page.goto(f"{site.url}/sandbox?platform=slack&user=U0ADA")
    for n in range(1, 4):
        await page.get_by_label("/mio").fill("/mio help")
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator(".note.mine")).to_have_count(n)
        await expect(page.locator(".msg")).to_have_count(n)  # help's answer, below the command
        assert await page.evaluate("document.documentElement.scrollHeight > innerHeight")
        assert await at_end(page), f"not scrolled to the newest after command {n}"
    await expect(page.locator(".note.mine")).to_have_text(["You /mio help"] * 3)
    last = page.locator(".messages > li").last
    await expect(last).to_contain_text("Mio User Sync commands")
    await expect(last).to_be_in_viewport()

    # An answer that arrives while the page is open: the list redraws and stays at the end.
    slack = site.sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    await slack.slash_command("U0ADA", "help sync")
    await expect(page.locator(".msg")).to_have_count(4, timeout=5_000)
    await page.wait_for_function(AT_END, timeout=5_000)
    await expect(page.locator(".messages > li").last).to_be_in_viewport()

    # Scrolled up to read, the page leaves the reader where they are.
    await page.evaluate("scrollTo(0, 0)")
    await slack.slash_command("U0ADA", "help users")
    await expect(page.locator(".msg")).to_have_count(5, timeout=5_000)
    assert await page.evaluate("scrollY") == 0
