"""Admin commands in chat: parsed text in, a platform-neutral answer out.

Two entry points, called by the inbound edge inside the event's transaction: `run` for a
typed command and `confirm` for a press on a Confirm or Cancel button. Commands whose
declaration (`grammar.SPECS`) asks for a confirmation answer with one first; its button
carries a single-use token for a stored pending action, valid for its author only. The work
itself is the use cases' (`bot/usecases/`), shared with the CLI and the Hub.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adapters import ADAPTERS
from bot import admins, first_contact, messages
from bot.commands import chat, grammar
from bot.commands.resolve import Ambiguous
from bot.core import Core
from bot.crypto import token_hash
from bot.lifecycle import NotFound
from bot.platform_names import platform_names
from bot.relay import to_bot
from bot.sync import Refused
from bot.types import ButtonPress, InboundCommand, Message
from store.models import Account
from store.repositories import Audit, PendingActions

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
NO_LONGER_IN_USE = "That button is no longer in use."


def actor_name(account: Account | None, platform: str, user_id: str) -> str:
    return account.email if account is not None and account.email else f"{platform}:{user_id}"


def is_admin(core: Core, account: Account | None) -> bool:
    """The one rule (bot/admins.py), for a chat caller's account."""
    return admins.account_is_admin(core.settings.admins, account)


async def run(session: AsyncSession, core: Core, event: InboundCommand) -> Message | None:
    """A message typed to the bot goes to the relay first (`@name text`, a reply in a
    correspondent's thread, the current correspondent), and so does `/mio dm <name> <text>`;
    a command as before. Who asks is
    settled before what they ask is read: a caller who is not an admin learns nothing from
    parse errors or checks (which platforms exist, who is in the directory)."""
    handled = await to_bot.handle(session, core, event)
    if handled is not None:
        return handled.answer
    try:
        account = await first_contact.known_account(session, core, event.platform, event.user_id)
    except first_contact.CannotCheck as exc:
        return messages.note(exc.sentence)
    actor = actor_name(account, event.platform, event.user_id)
    if not is_admin(core, account):
        return _for_everyone(session, core, event, actor)
    try:
        command = grammar.parse(event.text, platform_names(ADAPTERS, core.platforms))
    except grammar.ParseError as exc:
        return messages.note(exc.message)
    spec = grammar.spec_of(command)
    if not isinstance(command, grammar.Help):  # reading the help shows and changes nothing
        Audit(session).add(
            core.clock.now(), actor, "command", None, command=spec.name, text=event.text
        )
    try:
        return await chat.HANDLERS[spec.name](chat.Asked(session, core, event, actor), command)
    except Ambiguous as exc:
        return messages.note(exc.message)
    except Refused as exc:
        return messages.note(f"{exc.message} {exc.fix}")


def reads_only(event: InboundCommand) -> bool:
    """A request for help, which only reads: a replay of it may simply be answered again.

    Slack never retries a slash command, and a replayed signed one (within the five minutes
    its signature is accepted) changes nothing, so the edge need not record its delivery id:
    one write fewer on the commonest request (benchmarks/README.md). A typed DM saying "help"
    is redelivered by its platform and stays de-duplicated, so it is not answered twice.
    """
    if event.redeliverable:
        return False
    try:
        return isinstance(grammar.parse(event.text, []), grammar.Help)
    except grammar.ParseError:
        return False


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
    confirmed = chat.CONFIRMED.get(str(action.command.get("op")))
    if confirmed is None:  # an op this version no longer has: never guess which one was meant
        return messages.note(NO_LONGER_IN_USE)
    try:
        return await confirmed(session, core, action.actor, action.command)
    except NotFound:
        return messages.note("That person no longer exists (they were removed meanwhile).")
