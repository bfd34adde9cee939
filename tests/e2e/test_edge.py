"""The inbound edge through the real app on each platform, with correctly signed deliveries.

A message typed to the bot whose handling fails before the commit is refused with a 5xx and
changes nothing, so the platform's redelivery runs it, once. A press (or a Slack slash
command) that fails gets a sentence with a reference and changes nothing. A repeated delivery
changes nothing and answers nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from sandbox.teams import TeamsSandbox
from sandbox.webex import WebexSandbox
from sandbox.webex.webhooks import Delivery
from store.models import Base
from store.repositories import Syncs
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_consent_flow import BOB, PLATFORMS, request_consent

SENTENCE = "Something went wrong (ref: "
OTHER_PLATFORM = {"slack": "zoom", "zoom": "teams", "teams": "webex", "webex": "slack"}


# -- failures, snapshots and retries ---------------------------------------------------------

Snapshot = dict[str, list[tuple[Any, ...]]]


def database_error(statement: str) -> OperationalError:
    """What the driver raises when the database gives up (SQLite busy, PostgreSQL gone)."""
    return OperationalError(statement, {}, Exception("database is locked"))


async def snapshot(h: Harness) -> Snapshot:
    """Every row of every table: equal snapshots mean nothing was changed."""
    async with h.core.sessions() as session:
        tables: Snapshot = {}
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return tables


@contextmanager
def refused_commits(times: int = 1) -> Iterator[list[int]]:
    """The database refuses the next `times` commits, after everything in the transaction was
    written: the latest a failure can come before the commit. Yields [commits still refused]."""
    left = [times]

    def refuse(session: Session) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise database_error("COMMIT")

    event.listen(Session, "before_commit", refuse)
    try:
        yield left
    finally:
        event.remove(Session, "before_commit", refuse)


class Typist:
    """One person typing to the bot on one platform; `again` is the platform's retry of it."""

    def __init__(self, h: Harness, platform: str, email: str) -> None:
        self.h, self.platform, self.email = h, platform, email
        self.user_id = h.org.find(platform, email).user_id
        self._event_id = ""
        self._teams_activity: dict[str, Any] = {}
        self._webex: Delivery | None = None

    async def send(self, text: str) -> int:
        """Type `text`; the HTTP status the bot answered the delivery with."""
        service = self.h.sandbox.services[self.platform]
        if self.platform == "slack":
            self._event_id = f"Ev{secrets.token_hex(5).upper()}"
            return (await self.h.slack.dm_bot(self.user_id, text, event_id=self._event_id))[0]
        if self.platform == "zoom":
            return (await self.h.zoom.slash_command(self.user_id, text))[0]
        if isinstance(service, TeamsSandbox):
            status, _ = await service.send_text(self.user_id, text)
            self._teams_activity = service.deliveries[-1].activity
            return status
        assert isinstance(service, WebexSandbox)
        (self._webex,) = await service.send_text(self.user_id, text)
        return self._webex.status

    async def again(self) -> int:
        """The platform delivers the last message again, as it does after a 5xx or a timeout."""
        service = self.h.sandbox.services[self.platform]
        if self.platform == "slack":
            uid = self.user_id
            return (await self.h.slack.dm_bot(uid, "", event_id=self._event_id, retry_num=1))[0]
        if self.platform == "zoom":
            return (await self.h.zoom.redeliver())[0]
        if isinstance(service, TeamsSandbox):
            return (await service.deliver(self._teams_activity))[0]
        assert isinstance(service, WebexSandbox) and self._webex is not None
        last = self._webex
        return (await service.hooks.post(Delivery(last.url, last.body, dict(last.headers)))).status

    async def answers(self) -> list[str]:
        """The bot's messages to this person so far, oldest first."""
        service = self.h.sandbox.services[self.platform]
        if isinstance(service, WebexSandbox):
            await service.settle()
            return [m.shown_text for m in service.inbox(self.user_id)]
        if self.platform == "slack":
            return [m.text for m in self.h.slack.inbox(self.user_id)]
        if self.platform == "zoom":
            return [m.text for m in self.h.zoom.inbox(self.user_id)]
        assert isinstance(service, TeamsSandbox)
        return ["\n".join(m.lines) for m in service.inbox(self.user_id)]

    async def wait_for_answers(self, count: int) -> list[str]:
        """The bot's messages once there are `count` of them (Zoom and Webex answer after the
        ack); fails when more arrive."""
        for _ in range(200):
            seen = await self.answers()
            if len(seen) >= count:
                break
            await asyncio.sleep(0.01)
        seen = await self.answers()
        assert len(seen) == count, seen
        return seen


def fail_once(monkeypatch: Any, owner: type, name: str) -> list[int]:
    """The repository method `owner.name` raises a database error on its next call, then works
    again. Returns [calls refused so far], to show the failure was met."""
    original = getattr(owner, name)
    refused = [0]

    async def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not refused[0]:
            refused[0] += 1
            raise database_error(f"{owner.__name__}.{name}")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return refused


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_message_failing_at_commit_is_refused_then_runs_once_on_redelivery(
    harness: Harness, platform: str
) -> None:
    h = harness
    admin = Typist(h, platform, ADMIN)
    earlier = len(await admin.answers())
    before = await snapshot(h)
    with refused_commits() as refusals_left:
        assert await admin.send(f"status {BOB}") == 500
    assert refusals_left == [0]  # the commit was attempted, with the command's rows in it
    assert await snapshot(h) == before
    assert len(await admin.answers()) == earlier  # nothing was said either
    assert await admin.again() == 200
    answers = await admin.wait_for_answers(earlier + 1)
    assert "Bob Marley" in answers[-1]
    after = await snapshot(h)
    assert len(after["processed_events"]) == len(before["processed_events"]) + 1
    assert len(after["audit_log"]) == len(before["audit_log"]) + 1  # the command, once


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_repeated_message_changes_nothing_and_answers_nothing(
    harness: Harness, platform: str
) -> None:
    h = harness
    admin = Typist(h, platform, ADMIN)
    earlier = len(await admin.answers())
    assert await admin.send(f"status {BOB}") == 200
    await admin.wait_for_answers(earlier + 1)
    after = await snapshot(h)
    assert await admin.again() == 200
    await asyncio.sleep(0.2)  # time for an answer that should not come
    assert await snapshot(h) == after
    await admin.wait_for_answers(earlier + 1)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_press_failing_on_a_database_error_gets_the_sentence_and_changes_nothing(
    harness: Harness, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    await request_consent(h, platform, OTHER_PLATFORM[platform])
    (dm,) = h.agents[platform].dms(BOB)
    before = await snapshot(h)
    # Declining claims the button's token, then reads the sync again to fail it: that read
    # fails, after the claim was written.
    refused = fail_once(monkeypatch, Syncs, "by_id")
    answer = await h.press_and_read(platform, BOB, dm, "mio:consent:decline")
    assert refused == [1]
    assert SENTENCE in answer and "Nothing was changed." in answer
    assert await snapshot(h) == before
    assert await h.status(BOB, OTHER_PLATFORM[platform]) == ("pending", None)
    # The same button works: its token was not used up.
    assert await h.agents[platform].press(BOB, dm, "mio:consent:decline") == 200
    assert await h.status(BOB, OTHER_PLATFORM[platform]) == ("failed", "declined")


async def test_a_slack_slash_command_failing_at_commit_gets_the_sentence(
    harness: Harness,
) -> None:
    h = harness
    before = await snapshot(h)
    with refused_commits() as refusals_left:
        seen = await h.agents["slack"].command(ADMIN, f"status {BOB}")
    assert refusals_left == [0]
    assert SENTENCE in seen.text and "Nothing was changed." in seen.text
    assert await snapshot(h) == before
    seen = await h.agents["slack"].command(ADMIN, f"status {BOB}")  # Slack never retries it
    assert "Bob Marley" in seen.text
