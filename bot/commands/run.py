"""Admin commands: parsed text in, a platform-neutral answer out.

Destructive or message-sending commands answer with a confirmation first; the Confirm button
carries a single-use token for a stored pending action, valid for its author only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters import ADAPTERS
from bot import admins, first_contact, lifecycle, messages, outbox
from bot.commands import grammar, views
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.directory import ImportFailed, import_platform
from bot.lifecycle import NotFound
from bot.platform_names import platform_names
from bot.sync import Refused, SyncKind, SyncRefused
from bot.types import ButtonPress, InboundCommand, Message, ReplyTarget, Rich, Text
from store.models import Account, Person
from store.repositories import Audit, Directory, PendingActions

log = logging.getLogger(__name__)

CONFIRM_FOR = timedelta(minutes=15)


class Ambiguous(LookupError):
    def __init__(self, message: Rich) -> None:
        super().__init__(str(message))
        self.message = message


def actor_name(account: Account | None, platform: str, user_id: str) -> str:
    return account.email if account is not None and account.email else f"{platform}:{user_id}"


def is_admin(core: Core, account: Account | None) -> bool:
    """The one rule (bot/admins.py), for a chat caller's account."""
    return admins.account_is_admin(core.settings.admins, account)


async def resolve(session: AsyncSession, core: Core, platform: str, text: str) -> Person:
    """A person from a mention, an email or a display name; ambiguity lists the candidates."""
    repo = Directory(session)
    mentioned = core.platforms[platform].parse_mention(text)
    if mentioned is not None:
        account = await repo.account(platform, mentioned)
        if account is None or account.person_id is None:
            raise Ambiguous(
                Text.format("I don't know {text} yet.", text=text)
                + f" Run `/mio import {platform}` first."
            )
        person = await repo.person(account.person_id)
        assert person is not None
        return person
    needle = text.strip().lstrip("@")
    if needle.startswith("<mailto:") and needle.endswith(">"):  # Slack's auto-linked email
        needle = needle[len("<mailto:") : -1].split("|")[0]
    found = await repo.find_people(needle)
    if not found:
        raise Ambiguous(
            Text.format(
                "I couldn't find anyone called “{needle}”. Try their email address, "
                "or list people with `/mio users {first}`.",
                needle=needle,
                first=needle.split()[0],
            )
        )
    if len(found) > 1:
        names = Text.join(
            (
                Text.format("{name} ({email})", name=p.display_name, email=p.email or "no email")
                for p in found[:10]
            ),
            "; ",
        )
        raise Ambiguous(
            Text.format("“{needle}” matches ", needle=needle)
            + f"{len(found)} people: "
            + names
            + ". Name one by email to be sure."
        )
    return found[0]


async def run(session: AsyncSession, core: Core, event: InboundCommand) -> Message:
    """Who asks is settled before what they ask is read: a caller who is not an admin learns
    nothing from parse errors or checks (which platforms exist, who is in the directory)."""
    try:
        account = await first_contact.known_account(session, core, event.platform, event.user_id)
    except first_contact.CannotCheck as exc:
        return messages.note(exc.sentence)
    actor = actor_name(account, event.platform, event.user_id)
    now = core.clock.now()
    if not is_admin(core, account):
        return _for_everyone(session, core, event, actor)
    try:
        command = grammar.parse(event.text, platform_names(ADAPTERS, core.platforms))
    except grammar.ParseError as exc:
        return messages.note(exc.message)
    spec = next(s for s in grammar.SPECS if s.name == _name(command))
    Audit(session).add(now, actor, "command", None, command=spec.name, text=event.text)
    try:
        return await _dispatch(session, core, event, actor, command)
    except Ambiguous as exc:
        return messages.note(exc.message)
    except Refused as exc:
        return messages.note(f"{exc.message} {exc.fix}")


EVERYONE = tuple(s for s in grammar.SPECS if not s.admin_only)
NOT_AN_ADMIN = (
    "Only Mio admins can use Mio's commands: people whose email is in MIO_ADMINS, and admins "
    "of a connected platform. To be reachable on another platform, ask one of them to sync "
    "you. `/mio help` works for everyone."
)

FOR_EVERYONE = (
    "The other commands (users, sync, primary, reset, import…) are for Mio admins. To be "
    "reachable on another platform, ask one of them to sync you."
)


def _for_everyone(session: AsyncSession, core: Core, event: InboundCommand, actor: str) -> Message:
    """What a caller who is not an admin may do: read help. Anything else gets one fixed
    sentence, whatever they typed, so nothing about the organisation shows through."""
    try:
        command = grammar.parse(event.text, [])  # no platform names to echo back
    except grammar.ParseError:
        command = None
    if isinstance(command, grammar.Help):
        lines = [*grammar.help_text(EVERYONE), FOR_EVERYONE]
        return Message(text="Mio commands", title="Mio User Sync commands", lines=tuple(lines))
    Audit(session).add(core.clock.now(), actor, "command.refused", None, text=event.text[:500])
    return messages.note(NOT_AN_ADMIN)


def _name(command: grammar.Command) -> str:
    return {
        grammar.Help: "help",
        grammar.Users: "users",
        grammar.StatusCmd: "status",
        grammar.Primary: "primary",
        grammar.Sync: "sync",
        grammar.Unsync: "unsync",
        grammar.Reset: "reset",
        grammar.Import: "import",
    }[type(command)]


async def _dispatch(
    session: AsyncSession, core: Core, event: InboundCommand, actor: str, command: grammar.Command
) -> Message:
    match command:
        case grammar.Help(topic=topic):
            return Message(
                text="Mio commands",
                title="Mio User Sync commands",
                lines=tuple(grammar.help_text(topic=topic)),
            )
        case grammar.Users(filter=text):
            return await views.users(session, core, text)
        case grammar.StatusCmd(user=user):
            person = await resolve(session, core, event.platform, user)
            return await views.status(session, core, person.id)
        case grammar.Primary(user=user, platform=platform):
            person = await resolve(session, core, event.platform, user)
            return messages.plain_note(
                await lifecycle.set_primary(session, core, actor, person.id, platform)
            )
        case grammar.Sync():
            person = await resolve(session, core, event.platform, command.user)
            return await _confirm_sync(session, core, event, actor, person, command)
        case grammar.Unsync(user=user, platform=platform):
            person = await resolve(session, core, event.platform, user)
            return await _ask(
                session,
                core,
                event,
                actor,
                {"op": "unsync", "person": person.id, "platform": platform},
                Text.format(
                    "Unsync {name} from {label}?",
                    name=person.display_name,
                    label=core.label(platform),
                ),
                [f"Their {core.label(platform)} link is removed and any tokens are revoked."],
                "Unsync",
                danger=True,
            )
        case grammar.Reset(user=user):
            person = await resolve(session, core, event.platform, user)
            return await _ask(
                session,
                core,
                event,
                actor,
                {"op": "reset", "person": person.id},
                Text.format("Reset {name}?", name=person.display_name),
                [
                    "All their syncs, grants and tokens are removed (tokens revoked) "
                    "and their primary platform is cleared.",
                    "Their imported accounts stay, so you can start over.",
                ],
                "Reset",
                danger=True,
            )
        case grammar.Import(platform=platform):
            targets = [platform] if platform else list(core.platforms)
            core.spawn(_import_and_report(core, targets, actor, event.reply_to))
            names = ", ".join(core.label(p) for p in targets)
            return messages.note(f"Importing users from {names}… I'll post the result here.")
    raise AssertionError(f"unhandled command {command!r}")


async def _confirm_sync(
    session: AsyncSession,
    core: Core,
    event: InboundCommand,
    actor: str,
    person: Person,
    command: grammar.Sync,
) -> Message:
    _, accounts, syncs = await lifecycle.load(session, person.id)
    wanted = (
        [p for p in core.platforms if p != person.primary_platform]
        if command.all
        else list(command.platforms)
    )
    lines: list[Rich] = []
    doable: list[str] = []
    primary = core.label(person.primary_platform or "")
    for platform in wanted:
        label = core.label(platform)
        try:
            kind = lifecycle.plan(core, person, accounts, syncs, platform)
        except SyncRefused as exc:
            lines.append(f"*{label}*: can't sync. {exc.message} {exc.fix}")
            continue
        doable.append(platform)
        if kind is SyncKind.CONSENT:
            lines.append(
                Text.format("*{label}*: {name}", label=label, name=person.display_name)
                + f" has a {label} account, so Mio will "
                f"DM them on {primary} to allow the link (consent sync)."
            )
        else:
            lines.append(
                Text.format("*{label}*: {name}", label=label, name=person.display_name)
                + f" has no {label} account, so Mio "
                "will represent them there. This completes at once (represented sync)."
            )
    if not doable:
        return Message(
            text=Text.join(lines),
            title=Text.format("Can't sync {name}", name=person.display_name),
            lines=tuple(lines),
        )
    return await _ask(
        session,
        core,
        event,
        actor,
        {"op": "sync", "person": person.id, "platforms": doable},
        Text.format("Sync {name}?", name=person.display_name),
        lines,
        "Sync",
    )


async def _ask(
    session: AsyncSession,
    core: Core,
    event: InboundCommand,
    actor: str,
    command: dict[str, Any],
    title: Rich,
    lines: list[Rich],
    label: str,
    danger: bool = False,
) -> Message:
    token = new_token()
    PendingActions(session).add(
        token_hash=token_hash(token),
        actor=actor,
        platform=event.platform,
        platform_user_id=event.user_id,
        command=command,
        expires_at=core.clock.now() + CONFIRM_FOR,
        used=False,
    )
    return messages.confirm(title, lines, token, label, danger)


async def confirm(session: AsyncSession, core: Core, event: ButtonPress) -> Message:
    """Run (or cancel) the action behind a Confirm button, once, for whoever asked for it."""
    action = await PendingActions(session).take(token_hash(event.value))
    if action is None:
        return messages.note("This confirmation was already used. Run the command again.")
    if (action.platform, action.platform_user_id) != (event.platform, event.user_id):
        action.used = False
        return messages.note("Only the admin who ran this command can confirm it.")
    if event.action_id == messages.CANCEL:
        return messages.note("Cancelled. Nothing was changed.")
    if action.expires_at <= core.clock.now():
        return messages.note("This confirmation has expired. Run the command again.")
    try:
        account = await first_contact.known_account(session, core, event.platform, event.user_id)
    except first_contact.CannotCheck as exc:
        action.used = False  # nothing ran: the same button may be pressed again
        return messages.note(exc.sentence)
    if not is_admin(core, account):
        return messages.note("You are no longer a Mio admin, so this was not run.")
    cmd, actor = action.command, action.actor
    try:
        if cmd["op"] == "sync":
            results: list[Rich] = []
            for platform in cmd["platforms"]:
                try:
                    sentence = await lifecycle.request(
                        session, core, actor, cmd["person"], platform
                    )
                    results.append(Text.plain(sentence))
                except SyncRefused as exc:
                    results.append(f"{core.label(platform)}: {exc.message} {exc.fix}")
            return Message(text=Text.join(results), title="Sync requested", lines=tuple(results))
        if cmd["op"] == "unsync":
            return messages.plain_note(
                await lifecycle.unsync(session, core, actor, cmd["person"], cmd["platform"])
            )
        return messages.plain_note(await lifecycle.reset(session, core, actor, cmd["person"]))
    except NotFound:
        return messages.note("That person no longer exists (they were removed meanwhile).")


async def _import_and_report(
    core: Core, platforms: list[str], actor: str, target: ReplyTarget
) -> None:
    lines = []
    for platform in platforms:
        try:
            result = await import_platform(core, platform, actor)
            lines.append(result.sentence(core.label(platform)))
        except ImportFailed as exc:  # already logged and recorded, in one sentence
            lines.append(exc.sentence)
        except Exception as exc:
            ref = new_token()[:8]
            log.exception("import of %s failed (ref: %s)", platform, ref)
            lines.append(f"Importing {core.label(platform)} failed: {exc} (ref: {ref}).")
    async with core.transaction() as session:
        await outbox.reply(
            session,
            core,
            target,
            Message(text=" ".join(lines), title="Import finished", lines=tuple(lines)),
            key=f"import:{new_token()}",
        )


async def wait_imports(core: Core) -> None:
    """Let spawned imports finish (tests, shutdown)."""
    while core.background:
        await asyncio.gather(*list(core.background), return_exceptions=True)
