"""The inbound edge's policy: once per delivery id, in one transaction with what the event
changes, and on failure a 5xx for what the platform redelivers, a sentence for the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.app import build_core
from bot.clock import ManualClock
from bot.commands import grammar, run
from bot.core import Core
from bot.edge import make_handler, on_failure
from bot.settings import Settings
from bot.types import (
    Answered,
    ButtonPress,
    InboundCommand,
    InboundEvent,
    Message,
    Platform,
    PlatformUserId,
    Redeliver,
    ReplyTarget,
)
from store.models import Account, AuditEntry, ProcessedEvent
from store.repositories import Audit

SLACK = Platform("slack")
TARGET = ReplyTarget(SLACK)


def command(delivery_id: str, *, redeliverable: bool) -> InboundCommand:
    user = PlatformUserId("U1")
    return InboundCommand(SLACK, delivery_id, user, "help", TARGET, redeliverable=redeliverable)


def press(delivery_id: str, action_id: str = messages.CONFIRM) -> ButtonPress:
    return ButtonPress(SLACK, delivery_id, PlatformUserId("U1"), action_id, "t", None, TARGET)


# -- the policy alone -------------------------------------------------------------------------


def test_a_failed_message_the_platform_redelivers_is_refused_for_redelivery() -> None:
    assert on_failure(command("d1", redeliverable=True), "ab12") == Redeliver("ab12")


@pytest.mark.parametrize(
    "event", [command("d1", redeliverable=False), press("d2")], ids=["slash", "press"]
)
def test_a_failed_interactive_event_gets_a_sentence_with_the_reference(
    event: InboundEvent,
) -> None:
    outcome = on_failure(event, "ab12")
    assert isinstance(outcome, Answered) and outcome.message is not None
    assert str(outcome.message.text) == "Something went wrong (ref: ab12). Nothing was changed."


# -- the policy with a database ---------------------------------------------------------------


@pytest.fixture
async def core(migrated_db_url: str) -> AsyncIterator[Core]:
    env = {
        "MIO_DATABASE_URL": migrated_db_url,
        "MIO_SECRET_KEY": Fernet.generate_key().decode(),
        "MIO_ADMINS": "ada@acme.test",
        "MIO_PUBLIC_URL": "http://127.0.0.1:9",
    }
    core = build_core(Settings.from_env(env), ManualClock())
    yield core
    await core.sessions.kw["bind"].dispose()


class Script:
    """A stand-in for the commands: writes an audit row, then answers or fails as told."""

    def __init__(self) -> None:
        self.runs = 0
        self.fail = False

    async def __call__(self, session: AsyncSession, core: Core, event: InboundEvent) -> Message:
        self.runs += 1
        Audit(session).add(core.clock.now(), "test", "command", None, delivery=event.delivery_id)
        await session.flush()  # written inside the transaction, so a rollback must undo it
        if self.fail:
            raise OperationalError("INSERT INTO syncs …", {}, Exception("database is locked"))
        return messages.note(f"ran {event.delivery_id}")


async def rows(core: Core) -> tuple[int, int]:
    """(processed delivery ids, audit rows) in the database."""
    async with core.sessions() as session:
        seen = await session.scalar(select(func.count()).select_from(ProcessedEvent))
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return seen or 0, audit or 0


async def test_an_event_runs_once_and_its_repeat_changes_and_answers_nothing(core: Core) -> None:
    script = Script()
    handle = make_handler(core, script)
    first = await handle(command("slack:evt:E1", redeliverable=True))
    assert first == Answered(messages.note("ran slack:evt:E1"))
    assert await rows(core) == (1, 1)
    assert await handle(command("slack:evt:E1", redeliverable=True)) == Answered(None)
    assert (script.runs, await rows(core)) == (1, (1, 1))


async def test_a_failed_message_leaves_no_trace_and_its_redelivery_runs_once(core: Core) -> None:
    script = Script()
    handle = make_handler(core, script)
    script.fail = True
    refused = await handle(command("slack:evt:E2", redeliverable=True))
    assert isinstance(refused, Redeliver) and len(refused.ref) == 8
    assert await rows(core) == (0, 0)  # neither the delivery id nor the audit row
    script.fail = False
    assert await handle(command("slack:evt:E2", redeliverable=True)) == Answered(
        messages.note("ran slack:evt:E2")
    )
    assert await handle(command("slack:evt:E2", redeliverable=True)) == Answered(None)
    assert (script.runs, await rows(core)) == (2, (1, 1))


async def test_a_failed_press_gets_the_sentence_and_leaves_no_trace(core: Core) -> None:
    script = Script()
    script.fail = True
    outcome = await make_handler(core, script)(press("slack:act:T1"))
    assert isinstance(outcome, Answered) and outcome.message is not None
    assert "Nothing was changed." in str(outcome.message.text)
    assert await rows(core) == (0, 0)


async def test_a_button_nobody_handles_any_more_is_answered_and_remembered(core: Core) -> None:
    outcome = await make_handler(core)(press("slack:act:T2", action_id="mio:gone"))
    assert outcome == Answered(messages.note("That button is no longer in use."))
    assert await rows(core) == (1, 0)


async def test_a_help_slash_command_is_answered_again_and_a_typed_help_only_once(
    core: Core,
) -> None:
    """`/mio help` changes nothing, so it writes nothing (no delivery id, no audit row) and a
    replay is simply answered again; "help" typed in a DM is redelivered by its platform and
    stays de-duplicated."""
    script = Script()
    handle = make_handler(core, script)
    for _ in range(2):
        answer = await handle(command("slack:cmd:T9", redeliverable=False))
        assert answer == Answered(messages.note("ran slack:cmd:T9"))
    assert script.runs == 2
    assert (await rows(core))[0] == 0  # no delivery id recorded for the slash command
    await handle(command("slack:evt:E9", redeliverable=True))
    assert await handle(command("slack:evt:E9", redeliverable=True)) == Answered(None)
    assert (script.runs, (await rows(core))[0]) == (3, 1)


def test_only_a_request_for_help_that_no_platform_retries_reads_only() -> None:
    help_command = command("slack:cmd:T1", redeliverable=False)
    assert run.reads_only(help_command)
    assert not run.reads_only(command("slack:evt:E1", redeliverable=True))
    for text in ("sync @bob zoom", "users", "reset @bob", "", "help me please now"):
        other = InboundCommand(SLACK, "slack:cmd:T2", help_command.user_id, text, TARGET)
        assert run.reads_only(other) == isinstance(_parsed(text), grammar.Help), text


def _parsed(text: str) -> object:
    try:
        return grammar.parse(text, [])
    except grammar.ParseError:
        return None


async def test_an_admin_reading_help_leaves_no_audit_row(core: Core) -> None:
    """The real commands: help shows the list and writes nothing; another command is audited."""
    async with core.transaction() as session:
        session.add(
            Account(
                platform=SLACK,
                platform_user_id="UADA",
                email="ada@acme.test",
                display_name="Ada",
                seen_at=core.clock.now(),
            )
        )
    handle = make_handler(core)
    ada = PlatformUserId("UADA")
    answer = await handle(InboundCommand(SLACK, "slack:cmd:H1", ada, "help", TARGET))
    assert isinstance(answer, Answered) and answer.message is not None
    assert await rows(core) == (0, 0)
    await handle(InboundCommand(SLACK, "slack:cmd:H2", ada, "users", TARGET))
    assert await rows(core) == (1, 1)
