"""Re-read a platform's user directory, from chat, the terminal or the Hub.

An import takes a guard shared through the database (one at a time per platform, across
processes) and records its progress there; see `bot.directory`. Chat and the Hub run it in
the background and answer at once; the terminal waits and shows progress.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot import outbox
from bot.core import Core
from bot.crypto import new_token
from bot.directory import ImportFailed, ImportTicket, Progress, import_platform, run_import
from bot.types import Message, ReplyTarget

log = logging.getLogger(__name__)


def targets(connected: Sequence[str], platform: str | None) -> list[str]:
    """One platform, or every connected one when none is named."""
    return [platform] if platform else list(connected)


async def import_one(
    core: Core, platform: str, actor: str, progress: Progress | None = None
) -> str:
    """The import's sentence; `ImportFailed` carries the sentence when it did not finish."""
    result = await import_platform(core, platform, actor, progress)
    return result.sentence(core.label(platform))


async def import_each(core: Core, platforms: Sequence[str], actor: str) -> list[str]:
    """One sentence per platform: a failure is told and the next platform still runs."""
    lines = []
    for platform in platforms:
        try:
            lines.append(await import_one(core, platform, actor))
        except ImportFailed as exc:  # already logged and recorded, in one sentence
            lines.append(exc.sentence)
        except Exception as exc:
            ref = new_token()[:8]
            log.exception("import of %s failed (ref: %s)", platform, ref)
            lines.append(f"Importing {core.label(platform)} failed: {exc} (ref: {ref}).")
    return lines


async def import_and_report(
    core: Core, platforms: Sequence[str], actor: str, target: ReplyTarget, *, key: str
) -> None:
    """Chat's background import (an outbox row, `bot.outbox_kinds.ImportAndReport`): its
    sentences are posted where the command was typed, once per `key`."""
    lines = await import_each(core, platforms, actor)
    async with core.transaction() as session:
        await outbox.reply(
            session,
            core,
            target,
            Message(text=" ".join(lines), title="Import finished", lines=tuple(lines)),
            key=key,
        )


async def finish(core: Core, ticket: ImportTicket) -> None:
    """The Hub's background import, after it took the guard: every outcome, failure included,
    is recorded on the shared row the page polls, so nothing is left to say here."""
    try:
        await run_import(core, ticket)
    except ImportFailed:
        return
