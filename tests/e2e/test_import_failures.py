"""An import that cannot finish changes nothing that needs the whole directory, and says why
in one sentence: from the CLI (exit 1, no traceback), in chat, and on the Hub."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.directory import ImportFailed, import_platform
from store.imports import ImportRuns
from store.repositories import Connections, Directory
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_cli import mio
from tests.e2e.test_consent_flow import BOB
from tests.hub.conftest import wait_background

MISSING_SCOPE = {"ok": False, "error": "missing_scope", "needed": "users:read.email"}


async def counts(h: Harness, platform: str) -> tuple[int, int]:
    async with h.core.sessions() as session:
        repo = Directory(session)
        return await repo.count_on(platform), await repo.count_inactive(platform)


def refuse_third_slack_page(h: Harness) -> None:
    """Two pages of Slack arrive, then users.list answers `missing_scope` (a permanent error)."""
    h.slack.max_page_size = 3
    h.slack.fail("users.list", 200, body=MISSING_SCOPE, skip=2)


async def test_a_failed_import_marks_nothing_inactive_and_records_one_sentence(
    harness: Harness,
) -> None:
    h = harness
    before = await counts(h, "slack")
    h.clock.advance(timedelta(hours=1))  # so that every account looks unseen by this import
    refuse_third_slack_page(h)

    with pytest.raises(ImportFailed) as failed:
        await import_platform(h.core, "slack", "test")

    sentence = failed.value.sentence
    assert sentence == (
        "Slack refused the import (missing_scope), after 6 account(s); nothing was marked "
        "inactive. Fix that and import again."
    )
    assert await counts(h, "slack") == before  # no account vanished, none went inactive
    async with h.core.sessions() as session:
        connection = (await Connections(session).all())["slack"]
        run = await ImportRuns(session).get("slack")
    assert connection.last_error == sentence
    assert run is not None and (run.state, run.sentence, run.seen) == ("failed", sentence, 6)
    # The next import succeeds and clears the error.
    await import_platform(h.core, "slack", "test")
    async with h.core.sessions() as session:
        assert (await Connections(session).all())["slack"].last_error is None


async def test_zoom_daily_quota_ends_the_import_with_a_sentence_not_a_wait(
    harness: Harness,
) -> None:
    h = harness
    before = await counts(h, "zoom")
    h.zoom.max_page_size = 3
    h.zoom.rate_limit("/v2/users", daily=True, skip=2)  # the credentials check, then page one
    with pytest.raises(ImportFailed) as failed:
        await import_platform(h.core, "zoom", "test")
    assert failed.value.sentence.startswith(
        "Zoom still refused the import after several tries (429 rate limited (Daily-limit)"
    )
    assert "after 3 account(s); nothing was marked inactive. Try again later." in (
        failed.value.sentence
    )
    assert await counts(h, "zoom") == before


async def test_cli_import_prints_the_sentence_and_exits_non_zero(harness: Harness) -> None:
    h = harness
    refuse_third_slack_page(h)
    code, out = await mio("import", "slack", env=dict(h.core.settings.env))
    assert code == 1, out
    assert "Traceback" not in out
    assert "Slack refused the import (missing_scope), after 6 account(s)" in out


async def test_chat_import_answers_the_same_sentence(harness: Harness) -> None:
    h = harness
    refuse_third_slack_page(h)
    answer = await h.command("slack", ADMIN, "import slack")
    assert "Importing users from Slack" in answer
    await wait_background(h.core)
    await h.deliver()
    ada = h.org.find("slack", ADMIN).user_id
    final = str(h.slack.responses[ada][-1]["text"])
    assert "Slack refused the import (missing_scope), after 6 account(s)" in final
    assert "ref:" not in final  # a known failure is a sentence, not a reference to the logs
    assert BOB  # the organisation is untouched: Bob is still there
    async with h.core.sessions() as session:
        assert await Directory(session).find_people(BOB)
