"""Each command as chat shows it: a thin handler per declaration in `grammar.SPECS`.

A handler resolves who is named, calls its use case and words the answer; the commands that
ask first store a pending action whose `op` is the command's name, and `CONFIRMED` runs it
when its author presses Confirm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages, outbox
from bot.commands import grammar, views
from bot.commands.resolve import resolve
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.types import InboundCommand, Message, Rich, Text
from bot.usecases import Question, imports, primary, reset, status, sync, unsync
from store.repositories import PendingActions

CONFIRM_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Asked:
    """One admin's command: where it came from and who they are in the audit log."""

    session: AsyncSession
    core: Core
    event: InboundCommand
    actor: str


async def _help(_asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Help)
    lines = grammar.help_text(topic=command.topic)
    return Message(text="Mio commands", title="Mio User Sync commands", lines=tuple(lines))


async def _users(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Users)
    return await views.users(asked.session, asked.core, command.filter)


async def _status(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.StatusCmd)
    person = await resolve(asked.session, asked.core, asked.event.platform, command.user)
    return await status.status(asked.session, asked.core, person.id)


async def _primary(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Primary)
    s, core = asked.session, asked.core
    person = await resolve(s, core, asked.event.platform, command.user)
    sentence = await primary.set_primary(s, core, asked.actor, person.id, command.platform)
    return messages.plain_note(sentence)


async def _sync(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Sync)
    core = asked.core
    person = await resolve(asked.session, core, asked.event.platform, command.user)
    named = None if command.all else command.platforms
    plan = await sync.plan(asked.session, core, person.id, named)
    name = person.display_name
    primary_label = core.label(person.primary_platform or "")
    lines: list[Rich] = []
    for item in plan.items:
        label = core.label(item.platform)
        if item.kind is None:
            assert item.refused is not None
            lines.append(f"*{label}*: {sync.refusal(item.refused)}")
        else:
            said = sync.offer(item.kind, name, label, primary_label)
            lines.append(f"*{label}*: " + Text.plain(said))
    if not plan.doable:
        title = Text.format("Can't sync {name}", name=name)
        return Message(text=Text.join(lines), title=title, lines=tuple(lines))
    op = {"op": "sync", "person": person.id, "platforms": plan.doable}
    return _ask(asked, op, sync.question(name), lines)


async def _unsync(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Unsync)
    person = await resolve(asked.session, asked.core, asked.event.platform, command.user)
    question = unsync.question(person.display_name, asked.core.label(command.platform))
    op = {"op": "unsync", "person": person.id, "platform": command.platform}
    return _ask(asked, op, question)


async def _reset(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Reset)
    person = await resolve(asked.session, asked.core, asked.event.platform, command.user)
    return _ask(asked, {"op": "reset", "person": person.id}, reset.question(person.display_name))


async def _import(asked: Asked, command: grammar.Command) -> Message:
    assert isinstance(command, grammar.Import)
    core = asked.core
    targets = imports.targets(list(core.platforms), command.platform)
    await outbox.import_and_report(  # an outbox row: any process runs it, a crash delays it
        asked.session, core, targets, asked.actor, asked.event.reply_to, key=f"import:{new_token()}"
    )
    names = ", ".join(core.label(p) for p in targets)
    return messages.note(f"Importing users from {names}… I'll post the result here.")


Handler = Callable[[Asked, grammar.Command], Awaitable[Message]]
HANDLERS: Mapping[str, Handler] = {
    "help": _help,
    "users": _users,
    "status": _status,
    "primary": _primary,
    "sync": _sync,
    "unsync": _unsync,
    "reset": _reset,
    "import": _import,
}


def _ask(
    asked: Asked, op: dict[str, Any], question: Question, lines: list[Rich] | None = None
) -> Message:
    """The confirmation the command's declaration asks for, valid for its author only."""
    spec = grammar.spec_named(op["op"])
    assert spec.confirm is not None
    token = new_token()
    PendingActions(asked.session).add(
        token_hash=token_hash(token),
        actor=asked.actor,
        platform=asked.event.platform,
        platform_user_id=asked.event.user_id,
        command=op,
        expires_at=asked.core.clock.now() + CONFIRM_FOR,
        used=False,
    )
    shown: list[Rich] = lines if lines is not None else [Text.plain(x) for x in question.lines]
    return messages.confirm(Text.plain(question.title), shown, token, spec.confirm, spec.danger)


Confirmed = Callable[[AsyncSession, Core, str, dict[str, Any]], Awaitable[Message]]


async def _do_sync(session: AsyncSession, core: Core, actor: str, op: dict[str, Any]) -> Message:
    results: list[Rich] = []
    for platform, outcome in await sync.request_each(
        session, core, actor, op["person"], op["platforms"]
    ):
        if isinstance(outcome, str):
            results.append(Text.plain(outcome))
        else:
            results.append(f"{core.label(platform)}: {outcome.message} {outcome.fix}")
    return Message(text=Text.join(results), title="Sync requested", lines=tuple(results))


async def _do_unsync(session: AsyncSession, core: Core, actor: str, op: dict[str, Any]) -> Message:
    sentence = await unsync.unsync(session, core, actor, op["person"], op["platform"])
    return messages.plain_note(sentence)


async def _do_reset(session: AsyncSession, core: Core, actor: str, op: dict[str, Any]) -> Message:
    return messages.plain_note(await reset.reset(session, core, actor, op["person"]))


CONFIRMED: Mapping[str, Confirmed] = {"sync": _do_sync, "unsync": _do_unsync, "reset": _do_reset}
