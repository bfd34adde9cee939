"""The User Sync page over HTTP: the table, the sync dialog's answers, actions, live status."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import event, insert

from store.models import Account, Person
from tests.hub.conftest import Hub

BOB = "bob@acme.test"


def row_of(page: str, name: str) -> str:
    """The <tr> of one person, by name."""
    match = re.search(rf'<tr id="person-\d+"[^>]*data-name="{name}".*?</tr>', page, re.S)
    assert match, f"no row for {name}"
    return match[0]


async def test_the_table_follows_the_guide(hub: Hub) -> None:
    page = await hub.page("/hub/users")
    assert "Deploy Bot" not in page and "Ivan Guest" not in page  # bots and guests kept apart
    bob = row_of(page, "Bob Marley")
    assert '<select id="primary-' in bob and "Choose…" in bob  # on Slack and Zoom: a choice
    frank = row_of(page, "Frank Slackonly")
    assert '<span class="fixed">Slack</span>' in frank  # one account: a fixed label
    assert "Zoom 🔁" in frank and "Slack 🔁" not in frank  # the primary has no status cell
    assert 'popovertarget="legend"' in page and "Pending:" in page  # ⓘ explains the icons
    assert "🕒" in page and "⚠️" in page and "✅" in page


async def test_search_filter_and_bad_input(hub: Hub) -> None:
    assert "Bob Marley" in await hub.page("/hub/users?q=MARLEY")
    page = await hub.page("/hub/users?q=carol%40acme")
    assert "Carol Danvers" in page and "Bob Marley" not in page and "1 person match" in page
    assert "Nobody matches" in await hub.page("/hub/users?q=100%25")  # % is not a wildcard
    page = await hub.page("/hub/users?status=no_primary")
    assert "Bob Marley" in page and "Frank Slackonly" not in page
    page = await hub.page("/hub/users?platform=zoom")
    assert "Erin Zoomer" in page and "Frank Slackonly" not in page
    page = await hub.page("/hub/users?status=not_created&platform=zoom")
    assert "Frank Slackonly" in page and "Erin Zoomer" not in page  # Zoom is Erin's primary
    for bad, says in [
        ("status=bogus", "not a sync status"),
        ("platform=myspace", "not a connected platform"),
        ("after=abc", "not a valid page"),
        ("size=7", "25, 50 or 100"),
        ("q=" + "x" * 201, "too long"),
    ]:
        assert says in await hub.page(f"/hub/users?{bad}", status=400)


async def bulk_people(hub: Hub, n: int) -> list[int]:
    """N people named `Bulk …`, each with a Slack account, inserted in two statements."""
    now = datetime.now(UTC)
    async with hub.h.core.transaction() as session:
        ids = (
            (
                await session.execute(
                    insert(Person).returning(Person.id),
                    [
                        {
                            "match_key": f"p{i}@bulk.test",
                            "email": f"p{i}@bulk.test",
                            "display_name": f"Bulk {i % 7}",
                            "primary_platform": "slack",
                            "primary_chosen_by_admin": False,
                            "created_at": now,
                        }
                        for i in range(n)
                    ],
                )
            )
            .scalars()
            .all()
        )
        await session.execute(
            insert(Account),
            [
                {
                    "platform": "slack",
                    "platform_user_id": f"UB{pid}",
                    "person_id": pid,
                    "email": f"p{pid}@bulk.test",
                    "display_name": "b",
                    "is_bot": False,
                    "is_guest": False,
                    "is_active": True,
                    "is_admin": False,
                    "extra": {},
                    "seen_at": now,
                }
                for pid in ids
            ],
        )
    return list(ids)


async def test_keyset_pages_walk_everyone_once(hub: Hub) -> None:
    ids = await bulk_people(hub, 60)
    seen: list[str] = []
    path = "/hub/users?q=bulk&size=25"
    pages = 0
    while path:
        page = await hub.page(path.replace("&amp;", "&"))
        assert "60 people match" in page
        seen += re.findall(r'<tr id="person-(\d+)"', page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        path, pages = (found[1] if found else ""), pages + 1
    assert pages == 3 and sorted(map(int, seen)) == sorted(ids)
    back = re.search(r'<a href="([^"]+)" rel="prev">', page)
    assert back, "the last page links back"
    previous = await hub.page(back[1].replace("&amp;", "&"))
    assert len(re.findall(r'<tr id="person-', previous)) == 25


async def test_a_search_stops_counting_at_the_cap(hub: Hub) -> None:
    before = int(re.search(r"([\d,]+) people\.", await hub.page("/hub/users"))[1])  # type: ignore[index]
    await bulk_people(hub, 1005)
    page = await hub.page("/hub/users?q=bulk")
    assert "1,000+ people match." in page and page.count('<tr id="person-') == 50
    assert f"{before + 1005:,} people." in await hub.page("/hub/users")  # exact otherwise


async def test_a_page_costs_the_same_queries_for_10_or_100_rows(hub: Hub) -> None:
    engine = hub.h.core.sessions.kw["bind"].sync_engine
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        await hub.page("/hub/users?size=25")
        few = len(statements)
        statements.clear()
        await hub.page("/hub/users?size=100&q=a")
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert few == many == 6, statements  # session, admin re-check, count, page, accounts, syncs


async def test_sync_dialog_explains_then_confirm_requests(hub: Hub) -> None:
    h = hub.h
    bob = await hub.person_id(BOB)
    plan = await hub.page(f"/hub/people/{bob}/sync/zoom?partial=1")
    assert "no primary platform yet" in plan and "Primary Platform column" in plan
    assert 'class="js-confirm"' not in plan  # nothing to confirm
    answer = await hub.post(f"/hub/people/{bob}/primary", {"platform": "slack"})
    assert answer == {"ok": True, "sentence": "Bob Marley's primary platform is now Slack."}
    plan = await hub.page(f"/hub/people/{bob}/sync/zoom?partial=1")
    assert "Consent sync." in plan and "direct message on Slack" in plan
    assert await h.status(BOB, "zoom") == ("not_created", None)  # asking changes nothing
    answer = await hub.post(f"/hub/people/{bob}/sync/zoom")
    assert answer["ok"] and "Asked Bob Marley on Slack" in answer["sentence"]
    assert await h.status(BOB, "zoom") == ("pending", None)
    again = await hub.post(f"/hub/people/{bob}/sync/zoom", status=409)
    assert "already waiting for their consent" in again["sentence"]

    rows = await hub.json(f"/hub/api/rows?rows={bob}:old")
    (row,) = rows["rows"]
    assert row["statuses"]["zoom"] == "pending" and "Zoom 🕒" in row["html"]
    assert "slack" not in row["statuses"]  # the primary has no status cell
    key = row["key"]
    assert (await hub.json(f"/hub/api/rows?rows={bob}:{key}"))["rows"][0].keys() == {
        "id",
        "key",
        "statuses",
    }  # unchanged rows come back without HTML

    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:allow")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    callback = await h.agents["zoom"].authorize(dm.links[0], BOB)
    async with h.http.get(callback) as resp:
        assert resp.status == 200
    (row,) = (await hub.json(f"/hub/api/rows?rows={bob}:{key}"))["rows"]
    assert row["statuses"]["zoom"] == "synced" and "Zoom ✅" in row["html"]


async def test_represented_and_refused_plans(hub: Hub) -> None:
    erin = await hub.person_id("erin@acme.test")
    plan = await hub.page(f"/hub/people/{erin}/sync/slack?partial=1")
    assert "Represented sync." in plan
    answer = await hub.post(f"/hub/people/{erin}/sync/slack")
    assert "represented user" in answer["sentence"]
    assert await hub.h.status("erin@acme.test", "slack") == ("synced", None)
    frank = await hub.person_id("frank@acme.test")
    plan = await hub.page(f"/hub/people/{frank}/sync/zoom?partial=1")
    assert "no active Zoom account" in plan
    refused = await hub.post(f"/hub/people/{frank}/sync/zoom", status=409)
    assert "no active Zoom account" in refused["sentence"]
    full = await hub.page(f"/hub/people/{frank}/sync/zoom?back=/hub/users%3Fq%3Dfrank")
    assert 'href="/hub/users?q=frank"' in full  # the page without script links back


async def test_failed_sync_shows_the_reason_on_hover(hub: Hub) -> None:
    h = hub.h
    bob = await hub.person_id(BOB)
    await hub.post(f"/hub/people/{bob}/primary", {"platform": "slack"})
    await hub.post(f"/hub/people/{bob}/sync/zoom")
    await h.deliver()
    (dm,) = h.agents["slack"].dms(BOB)
    await h.agents["slack"].press(BOB, dm, "mio:consent:decline")
    row = row_of(await hub.page("/hub/users"), "Bob Marley")
    assert 'title="Zoom: failed. They declined the request. Press to try again."' in row
    assert "Zoom ⚠️" in row and 'action="/hub/people/' in row  # ⚠️ can be re-attempted


async def test_reset_with_and_without_script(hub: Hub) -> None:
    h = hub.h
    bob = await hub.person_id(BOB)
    await hub.post(f"/hub/people/{bob}/primary", {"platform": "slack"})
    await hub.post(f"/hub/people/{bob}/sync/zoom")
    prompt = await hub.page(f"/hub/people/{bob}/reset?partial=1")
    assert "Reset Bob Marley?" in prompt and "1 sync(s)" in prompt
    page = await hub.post(
        f"/hub/people/{bob}/reset", {"back": "/hub/users?q=bob"}, as_json=False, status=303
    )
    assert page == ""
    assert await h.status(BOB, "zoom") == ("not_created", None)
    assert (await h.person(BOB)).primary_platform is None  # type: ignore[attr-defined]
    shown = await hub.page("/hub/users?q=bob")
    assert "Reset Bob Marley: 1 sync(s) removed" in shown  # the note survives the redirect
    assert "Reset Bob Marley" not in await hub.page("/hub/users?q=bob")  # …once


async def test_missing_people_and_platforms_are_4xx(hub: Hub) -> None:
    assert "no longer exists" in await hub.page("/hub/people/99999/sync/zoom", status=404)
    assert "myspace is not a platform I know" in await hub.page("/hub/people/1/sync/myspace", 404)
    await hub.post("/hub/people/99999/reset", status=404)
    answer = await hub.post("/hub/people/1/primary", {"platform": "fax"}, status=400)
    assert "connected platforms" in answer["sentence"]
    await hub.page("/hub/people/abc/reset", status=404)
    rows = await hub.json("/hub/api/rows?rows=" + ",".join(f"{i}:k" for i in range(201)), 400)
    assert "at most 200" in rows["sentence"]
    assert "not a valid row id" in (await hub.json("/hub/api/rows?rows=x:y", 400))["sentence"]


async def test_pages_carry_security_headers(hub: Hub) -> None:
    async with hub.http.get(hub.url("/hub/users")) as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["Cache-Control"] == "no-store"
    async with hub.http.get(hub.url("/hub/static/hub.js")) as resp:
        assert resp.status == 200 and "refreshRows" in await resp.text()
