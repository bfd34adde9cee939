"""The guide, Step 1 to Step 4 and the reset, in Chromium: an admin in the Hub, Bob in his inbox.

Two browser contexts, as two people on two machines: what each sees is checked at every step,
and the admin's User Sync page turns 🕒 into ✅ by itself while Bob signs in elsewhere.
"""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, Page, expect

from bot.hub import create_link
from tests.browser.conftest import Site

ADMIN = "ada@acme.test"


async def sign_in(site: Site, page: Page) -> None:
    await page.goto(await create_link(site.core, ADMIN))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="User Sync")).to_be_visible()


async def nav(page: Page, name: str) -> None:
    await page.get_by_role("navigation", name="Hub").get_by_role("link", name=name).click()


async def import_users(page: Page, label: str, seen: int, active: int) -> None:
    card = page.locator("section.platform", has=page.get_by_role("heading", name=label))
    await expect(card.locator(".accounts")).to_have_text("0")
    await card.get_by_role("button", name="Import users").click()
    await expect(card.locator(".progress")).to_contain_text(
        f"Imported {seen} {label} account(s)", timeout=15_000
    )
    await expect(card.locator(".accounts")).to_have_text(str(active))  # redrawn in place


async def test_guide_steps_1_to_4_then_reset(site: Site, browser: Browser) -> None:
    admin = await (await browser.new_context(viewport={"width": 1280, "height": 860})).new_page()
    person = await (await browser.new_context(viewport={"width": 1100, "height": 760})).new_page()

    # Step 1: sign in with a one-time link, connect and import.
    await sign_in(site, admin)
    await nav(admin, "Connect Platforms")
    await expect(admin.locator("dd.ok")).to_have_count(2)  # both credentials work right now
    await import_users(admin, "Slack", seen=11, active=7)
    await import_users(admin, "Zoom", seen=8, active=7)
    await admin.screenshot(path=site.shot("hub-connect-platforms"), full_page=True)

    # Step 2: Bob is on Slack and Zoom, so his primary platform is a choice.
    await nav(admin, "User Sync")
    bob = admin.locator("tr", has_text="Bob Marley")
    frank = admin.locator("tr", has_text="Frank Slackonly")
    await expect(frank.locator(".fixed")).to_have_text("Slack")  # one account: a label
    await admin.get_by_role("button", name="What the sync status icons mean").click()
    await expect(admin.locator("#legend")).to_contain_text("Pending:")
    await admin.keyboard.press("Escape")
    await bob.get_by_label("Primary platform of Bob Marley").select_option("slack")
    await expect(admin.locator("#live")).to_contain_text("primary platform is now Slack")
    await expect(bob.locator(".cell")).to_have_count(1)  # Slack is primary now: Zoom is left

    # Step 3: 🔁 for Zoom opens a dialog saying what will happen; confirm.
    await admin.evaluate("window.__same_page = true")  # proves later updates need no reload
    await bob.get_by_role("button", name="Zoom: not created").click()
    dialog = admin.get_by_role("dialog")
    await expect(dialog).to_contain_text("Consent sync.")
    await expect(dialog).to_contain_text("direct message on Slack")
    await expect(dialog.get_by_role("button", name="Sync to Zoom")).to_be_focused()
    await admin.screenshot(path=site.shot("hub-sync-dialog"))
    await dialog.get_by_role("button", name="Sync to Zoom").click()
    await expect(dialog).to_be_hidden()
    await expect(admin.locator(".flash")).to_contain_text("Asked Bob Marley on Slack")
    await expect(bob.locator(".cell")).to_contain_text("Zoom 🕒")

    # Step 4: Bob, elsewhere, allows in his Slack DM and signs in to Zoom.
    await person.goto(f"{site.url}/sandbox?platform=slack&user=U0BOB")
    await expect(person.locator(".card")).to_contain_text("Link your Zoom account", timeout=10_000)
    await person.screenshot(path=site.shot("sandbox-slack-consent-dm"), full_page=True)
    await person.get_by_role("button", name="Allow").click()
    sign_in_to_zoom = person.get_by_role("button", name="Sign in to Zoom")
    await expect(sign_in_to_zoom).to_be_visible(timeout=10_000)
    await person.screenshot(path=site.shot("sandbox-slack-authorize-step"), full_page=True)
    await sign_in_to_zoom.click()
    await expect(person.get_by_role("heading")).to_contain_text("would like to access your Zoom")
    # Opened from Bob's inbox, the page is signed in as Bob: he only has to press Allow.
    await expect(person.get_by_label("Signed in as")).to_have_value("Zbob0000MARLEY")
    await person.screenshot(path=site.shot("sandbox-zoom-consent-page"))
    await person.get_by_role("button", name="Allow").click()
    await expect(person.get_by_role("heading")).to_have_text("Linked to Zoom")

    # Back in the Hub: ✅ without a reload, announced to screen readers.
    await expect(bob.locator(".cell")).to_contain_text("Zoom ✅", timeout=10_000)
    await expect(admin.locator("#live")).to_contain_text("Bob Marley: Zoom is now synced")
    assert await admin.evaluate("window.__same_page") is True
    await admin.mouse.move(0, 0)
    await admin.screenshot(path=site.shot("hub-user-sync"), full_page=True)
    await person.goto(f"{site.url}/sandbox?platform=slack&user=U0BOB")
    await expect(person.locator(".card").last).to_contain_text("Linked to Zoom", timeout=10_000)

    # Reset: (· · ·) on the row, then a prompt; Bob is back to 🔁 and no primary.
    await bob.hover()
    await bob.get_by_role("button", name="More actions for Bob Marley").click()
    await bob.get_by_role("button", name="Reset User").click()
    await expect(dialog).to_contain_text("Reset Bob Marley?")
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await admin.screenshot(path=site.shot("hub-reset-prompt"))
    await dialog.get_by_role("button", name="Reset User").click()
    await expect(admin.locator(".flash")).to_contain_text("Reset Bob Marley: 1 sync(s) removed")
    await expect(bob.locator(".cell")).to_have_count(2)
    await expect(bob.locator(".cell").first).to_contain_text("Slack 🔁")
    await expect(bob.locator(".cell").last).to_contain_text("Zoom 🔁")
    await expect(bob.get_by_label("Primary platform of Bob Marley")).to_have_value("")
    await expect(admin.get_by_role("button", name="More actions for Bob Marley")).to_be_focused()


async def test_refusals_in_the_browser(site: Site, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    # A used link, then an expired one.
    link = await create_link(site.core, ADMIN)
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="User Sync")).to_be_visible()
    # A POST without the CSRF token is refused, even with the session cookie.
    status = await page.evaluate(
        "fetch('/hub/people/1/reset', {method: 'POST'}).then(r => r.status)"
    )
    assert status == 403
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Link not valid")).to_be_visible()
    stale = await create_link(site.core, ADMIN)
    site.clock.advance(timedelta(minutes=11))
    await page.goto(stale)
    await expect(page.get_by_role("heading", name="Link expired")).to_be_visible()
    await page.screenshot(path=site.shot("hub-link-expired"))

    # Bob is no admin: signing in with Slack is refused.
    other = await (await browser.new_context()).new_page()
    await other.goto(f"{site.url}/hub")
    await other.screenshot(path=site.shot("hub-sign-in"))
    await other.get_by_role("link", name="Sign in with Slack").click()
    await other.get_by_label("Signed in as").select_option(label="Bob Marley")
    await other.get_by_role("button", name="Allow").click()
    await expect(other.get_by_role("heading", name="Not a Mio admin")).to_be_visible()
    await expect(other.locator("main")).to_contain_text("Bob Marley, who is not a Mio admin")
    await other.goto(f"{site.url}/hub/users")
    await expect(other.get_by_role("heading", name="Sign in to Mio Hub")).to_be_visible()
