"""Messages typed to the bot: for a represented person, or a command.

A person writes to someone represented on their platform by writing to the Mio bot (issue 10,
"Capture"). What they typed is read in this order (RELAY_PLAN.md, "Capture" 2):

1. `dm <name> <text>` or `@<name> <text>` (the name as commands resolve people; on Slack a
   real `<@U…>` mention too) → to that person, who becomes the current correspondent;
2. a reply in the thread the bot keeps for a correspondent (Slack) → to that correspondent;
3. a command word (`help`, `users`, …) → the command, as before;
4. anything else → to the current correspondent (who last wrote through the bot here, or
   whom the person last named);
5. nobody yet → a sentence on how to write to someone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.commands import grammar
from bot.commands.resolve import Ambiguous, resolve
from bot.core import Core
from bot.prose import Mention, Prose, Run
from bot.relay import people, pipeline
from bot.relay.routing import NotRelayed, Reason
from bot.types import InboundCommand, Message, Text
from store.repositories import RelayThreads

MAX_NAME_WORDS = 4  # "Ada Lovelace" and "Mary Ann de Vries": longest first
COMMANDS = frozenset(spec.name for spec in grammar.SPECS)
PREFIXES = ("/mio", "mio")
HOW_TO = (
    "To write to someone through Mio, start with their name: `@Bob hello` or "
    "`dm bob@acme.test hello`. After that, what you type here goes to them until you name "
    "someone else. `help` lists Mio's commands."
)


@dataclass(frozen=True, slots=True)
class Handled:
    """The message was the relay's: `answer` is what the bot says back (None: nothing)."""

    answer: Message | None


async def handle(session: AsyncSession, core: Core, event: InboundCommand) -> Handled | None:
    """The relay's reading of a message typed to the bot (or of `/mio dm <name> <text>`);
    None when it is a command."""
    if event.prose is None and _first_word(Prose.text(event.text)) == "dm":
        event = replace(event, prose=Prose.text(event.text))  # the slash command's text
    if event.prose is None:
        return None
    sender = await people.person_of(session, event.platform, event.user_id)
    if sender is None:
        return None  # a caller Mio does not know yet: the command path meets them
    named = await _named(session, core, event.platform, event.prose)
    if isinstance(named, Handled):
        return named
    now = core.clock.now()
    threads = RelayThreads(session)
    if named is not None:
        recipient, rest = named
        await threads.touch(event.platform, sender, recipient, now)
        if rest.is_empty():
            return Handled(messages.note("Done: what you type here now goes to them."))
        return await _relay(session, core, event, sender, recipient, rest)
    if event.thread_id:
        in_thread = await threads.by_thread(event.platform, sender, event.thread_id)
        if in_thread is not None:
            return await _relay(session, core, event, sender, in_thread, event.prose)
    if _first_word(event.prose) in COMMANDS:
        return None
    current = await threads.current(event.platform, sender)
    if current is not None:
        return await _relay(session, core, event, sender, current, event.prose)
    return Handled(messages.note(HOW_TO))


async def _relay(
    session: AsyncSession,
    core: Core,
    event: InboundCommand,
    sender: int,
    recipient: int,
    prose: Prose,
) -> Handled:
    conversation = event.conversation_id or f"bot:{event.user_id}"
    source = pipeline.Source(event.platform, conversation, event.message_id or event.delivery_id)
    verdict = await pipeline.relay(session, core, source, sender, recipient, prose)
    if isinstance(verdict, NotRelayed) and verdict.reason is Reason.NOT_A_RELAY:
        return Handled(
            messages.note(
                f"They use {core.label(event.platform)} too: write to them there directly."
            )
        )
    return Handled(None)  # delivered quietly, or the sender was told why (once a day)


def _first_word(prose: Prose) -> str:
    words = prose.plain().split()
    if words and words[0].lower() in PREFIXES:
        words = words[1:]
    return words[0].lower() if words else ""


async def _named(
    session: AsyncSession, core: Core, platform: str, prose: Prose
) -> tuple[int, Prose] | Handled | None:
    """(person, the rest) when the message starts by naming someone; a Handled answer when
    the name finds nobody or several people; None when it names nobody."""
    pieces = list(prose.pieces)
    head = pieces[0] if pieces else None
    if isinstance(head, Mention):  # a real mention first (Slack `<@U…> text`)
        return await _by_mention(session, platform, head, Prose.of(pieces[1:]))
    if not isinstance(head, Run) or head.styles or head.link:
        return None
    text = head.text.lstrip()
    for prefix in PREFIXES:
        if text.lower().startswith(prefix + " "):
            text = text[len(prefix) :].lstrip()
    if text.lower().startswith("dm ") or text.lower() == "dm":
        text = text[2:].lstrip()
        if not text and len(pieces) > 1 and isinstance(pieces[1], Mention):
            return await _by_mention(session, platform, pieces[1], Prose.of(pieces[2:]))
    elif text.startswith("@"):
        text = text[1:]
    else:
        return None
    return await _by_words(session, core, platform, text, Prose.of(pieces[1:]))


async def _by_mention(
    session: AsyncSession, platform: str, mention: Mention, rest: Prose
) -> tuple[int, Prose] | Handled:
    person = await people.person_of(session, platform, mention.user_id)
    if person is None:
        sentence = Text.format("I don't know {name} yet.", name=mention.name)
        return Handled(messages.note(sentence))
    return person, _trimmed(rest)


async def _by_words(
    session: AsyncSession, core: Core, platform: str, text: str, after: Prose
) -> tuple[int, Prose] | Handled:
    """The longest run of leading words (at most MAX_NAME_WORDS) naming exactly one person."""
    words = list(re.finditer(r"\S+", text))
    if not words:
        return Handled(messages.note(HOW_TO))
    first_problem: Ambiguous | None = None
    for count in range(min(MAX_NAME_WORDS, len(words)), 0, -1):
        name = text[: words[count - 1].end()]
        try:
            person = await resolve(session, core, platform, name)
        except Ambiguous as exc:
            first_problem = exc if count == 1 else first_problem
            continue
        rest = text[words[count - 1].end() :]
        return person.id, _trimmed(Prose.text(rest) + after)
    assert first_problem is not None  # the one-word try always runs last
    return Handled(messages.note(first_problem.message))


def _trimmed(prose: Prose) -> Prose:
    """Without the blank between the name and the text."""
    pieces = list(prose.pieces)
    if pieces and isinstance(pieces[0], Run):
        first = pieces[0]
        stripped = first.text.lstrip(" ")
        head = [Run(stripped, first.styles, first.link)] if stripped else []
        pieces = head + pieces[1:]
    return Prose.of(pieces)
