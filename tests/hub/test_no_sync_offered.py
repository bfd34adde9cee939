"""No sync is offered where none can happen: people whose accounts are all gone, cells the
sync rules refuse; and `mio hub-link --as` only for admins."""

from __future__ import annotations

import re

from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_cli import mio
from tests.hub.conftest import Hub

HEIDI = "heidi@acme.test"  # deleted on Slack, deactivated on Zoom


def row_of(page: str, name: str) -> str:
    match = re.search(rf'<tr id="person-\d+"[^>]*data-name="{name}".*?</tr>', page, re.S)
    assert match, f"no row for {name}"
    return match[0]


async def test_people_with_no_active_account_are_shown_inactive_everywhere(hub: Hub) -> None:
    h = hub.h
    page = await hub.page("/hub/users?q=heidi")
    heidi = row_of(page, "Heidi Gone")
    assert "inactive" in heidi
    assert '<button id="sync-' not in heidi and "/sync/" not in heidi  # nothing offered
    assert "no active account" in heidi  # the hover says why
    answer = await h.command("slack", ADMIN, "users heidi")
    (line,) = [x for x in answer.splitlines() if "Heidi Gone" in x]
    assert "inactive" in line and "🔁" not in line
    code, out = await mio("users", "heidi", env=dict(h.core.settings.env))
    (line,) = [x for x in out.splitlines() if "Heidi Gone" in x]
    assert code == 0 and "inactive" in line and "🔁" not in line
    refusal = await h.command("slack", ADMIN, f"sync {HEIDI} zoom")
    assert "no active account" in refusal and "mio:confirm" not in refusal
    answer = await hub.post(f"/hub/people/{await hub.person_id(HEIDI)}/sync/zoom", status=409)
    assert "no active account" in answer["sentence"]


async def test_cells_the_rules_refuse_say_why_instead_of_offering_a_button(hub: Hub) -> None:
    page = await hub.page("/hub/users")
    frank = row_of(page, "Frank Slackonly")  # on Slack only; every synced person needs Zoom
    assert 'id="sync-' in frank and '<button id="sync-' not in frank
    assert "No sync can be requested" in frank and "needs one" in frank
    bob = row_of(page, "Bob Marley")  # no primary yet: nothing can be synced until chosen
    assert '<button id="sync-' not in bob and "Primary Platform column" in bob
    await hub.post(
        f"/hub/people/{await hub.person_id('bob@acme.test')}/primary", {"platform": "slack"}
    )
    bob = row_of(await hub.page("/hub/users"), "Bob Marley")
    assert '<button id="sync-' in bob  # now a Zoom sync can happen: offered


async def test_hub_link_as_someone_who_is_not_an_admin_is_refused(harness: Harness) -> None:
    env = dict(harness.core.settings.env)
    code, out = await mio("hub-link", "--as", "bob@acme.test", env=env)
    assert code == 1 and "bob@acme.test is not a Mio admin" in out and "/hub/link/" not in out
    code, out = await mio("hub-link", "--as", "nobody", env=env)
    assert code == 1 and "not a Mio admin" in out
    code, out = await mio("hub-link", "--as", ADMIN, env=env)
    assert code == 0 and "/hub/link/" in out
    code, out = await mio("hub-link", env=env)  # the operator, without --as
    assert code == 0 and "/hub/link/" in out
