"""The Hub's imports share the guard and the progress row with chat and the CLI."""

from __future__ import annotations

import asyncio

from bot.directory import begin_import, run_import
from tests.e2e.test_import_failures import refuse_third_slack_page
from tests.hub.conftest import Hub, wait_background


async def test_hub_shows_the_same_sentence(hub: Hub) -> None:
    h = hub.h
    refuse_third_slack_page(h)
    await hub.post("/hub/platforms/slack/import", status=202)
    await wait_background(h.core)
    run = await hub.json("/hub/platforms/slack/import")
    assert (run["done"], run["ok"]) == (True, False)
    assert run["sentence"].startswith("Slack refused the import (missing_scope), after 6 account")
    assert "Slack refused the import (missing_scope)" in await hub.page("/hub/platforms")


async def test_hub_refuses_a_second_import_that_chat_or_the_cli_runs(hub: Hub) -> None:
    h = hub.h
    ticket = await begin_import(h.core, "slack", "slack:U0ADA")  # as chat would
    answer = await hub.post("/hub/platforms/slack/import", status=409)
    assert answer["sentence"].startswith(
        "An import of Slack is already running, started by slack:U0ADA at "
    )
    assert answer["sentence"].endswith("; 0 accounts so far.")
    run = await hub.json("/hub/platforms/slack/import")
    assert (run["running"], run["started_by"]) == (True, "slack:U0ADA")
    assert "Importing Slack" in await hub.page("/hub/platforms")
    await run_import(h.core, ticket)
    run = await hub.json("/hub/platforms/slack/import")
    assert (run["done"], run["ok"], run["count"]) == (True, True, 11)
    await hub.post("/hub/platforms/slack/import", status=202)  # free again
    await asyncio.wait_for(wait_background(h.core), 30)
