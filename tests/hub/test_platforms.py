"""Connect Platforms and the audit log over HTTP."""

from __future__ import annotations

import asyncio
import re

from tests.hub.conftest import Hub


async def test_platforms_show_connection_and_credentials(hub: Hub) -> None:
    page = await hub.page("/hub/platforms")
    assert page.count("Credentials work") == len(hub.h.core.platforms)
    assert "Acme Robotics" in page and "Zoom account acme-account-01" in page
    assert "No event received in the last 7 days" in page
    hub.h.zoom.fail(
        "/oauth/token", 401, times=5, body={"reason": "Invalid client", "error": "invalid_client"}
    )
    hub.h.zoom.expire_tokens()
    page = await hub.page("/hub/platforms")
    assert "Needs attention" in page and "Zoom refused the credentials" in page


async def test_import_runs_in_the_background_with_progress(hub: Hub) -> None:
    started = await hub.post("/hub/platforms/slack/import", status=202)
    assert started["running"] or started["done"]
    await hub.h.deliver()  # the import is an outbox row (the app's own worker is off in tests)
    for _ in range(200):
        run = await hub.json("/hub/platforms/slack/import")
        if run["done"]:
            break
        await asyncio.sleep(0.02)
    assert run["ok"] and run["sentence"].startswith("Imported 11 Slack account(s)")
    assert run["count"] == 11
    page = await hub.page("/hub/platforms")
    assert "Imported 11 Slack account(s)" in page
    zoom = await hub.json("/hub/platforms/zoom/import")  # the fixture's import, from the database
    assert (zoom["done"], zoom["started_by"]) == (True, "test")
    assert zoom["sentence"].startswith("Imported 8 Zoom account(s)")
    answer = await hub.post("/hub/platforms/fax/import", status=404)
    assert answer["sentence"].startswith("fax is not a platform I know. The platforms are slack")


async def test_a_refused_import_says_why(hub: Hub) -> None:
    hub.h.slack.fail("/api/auth.test", 200, times=3, body={"ok": False, "error": "invalid_auth"})
    await hub.post("/hub/platforms/slack/import", status=202)
    await hub.h.deliver()
    for _ in range(200):
        run = await hub.json("/hub/platforms/slack/import")
        if run["done"]:
            break
        await asyncio.sleep(0.02)
    assert not run["ok"] and "Slack refused the import (invalid_auth)" in run["sentence"]


async def test_authorizing_a_platform_that_needs_no_grant_is_a_400(hub: Hub) -> None:
    answer = await hub.post("/hub/platforms/slack/authorize", status=400)
    assert "needs no admin authorization" in answer["sentence"]


async def test_audit_log_pages_newest_first(hub: Hub) -> None:
    bob = await hub.person_id("bob@acme.test")
    for platform in ["slack", "zoom"] * 30:
        await hub.post(f"/hub/people/{bob}/primary", {"platform": platform})
    page = await hub.page("/hub/audit")
    assert page.count("<tr>") == 51  # header + 50 entries
    assert "primary.set" in page and "Bob Marley" in page and "platform: zoom" in page
    older = re.search(r'<a href="([^"]+)" rel="next">Older', page)
    assert older
    second = await hub.page(older[1])
    assert "hub.signed_in" in second and 'rel="prev">‹ Newer' in second
    newer = re.search(r'<a href="([^"]+)" rel="prev">', second)
    assert newer and (await hub.page(newer[1])).count("<tr>") == 51
    assert "not a valid page" in await hub.page("/hub/audit?older=-1", status=400)
