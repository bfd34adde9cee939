"""How `mio` talks to a terminal: platform words, no chat syntax, the command as it was
installed, and one sentence (never a traceback) when something fails.

Light on purpose: `mio --help` imports this, so it names the platforms from
`adapters.catalog`, a written-out copy of the adapters registry's names and labels
(tests/bot/test_cli_imports.py keeps the two equal), and imports the database and settings
errors only when a failure is being worded.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from adapters.catalog import LABELS

# The registry's names and labels, read without importing any adapter.
PLATFORMS: dict[str, str] = LABELS

# `/mio unsync <user> zoom` as chat spells it; not "/mio" inside a URL or a path.
CHAT_COMMAND = re.compile(r"(?<![\w/.])/mio\b")


def labels() -> list[str]:
    """The platforms as people name them, in the registry's order."""
    return list(PLATFORMS.values())


def names() -> list[str]:
    """The platforms as commands spell them."""
    return list(PLATFORMS)


def listing(words: list[str], last: str = "and") -> str:
    """ "Slack, Zoom, Webex and Teams"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def for_terminal(text: str) -> str:
    """Chat's `/mio primary …` is `mio primary …` here."""
    return CHAT_COMMAND.sub("mio", text)


def installed_command(argv0: str, cwd: Path | None = None) -> str:
    """What to type to run `mio` again: `mio` when PATH finds this very program, else its path
    (relative to the working directory when inside it, as in `.venv/bin/mio`)."""
    here = cwd or Path.cwd()
    program = Path(argv0)
    if program.name != argv0:  # a path: resolve it against the working directory
        program = here / program
    else:
        found = shutil.which(argv0)
        if found is None:
            return argv0
        program = Path(found)
    on_path = shutil.which(program.name)
    if on_path is not None and os.path.samefile(on_path, program):
        return program.name
    try:
        return str(program.resolve().relative_to(here.resolve()))
    except ValueError:
        return str(program.resolve())


def sentence_for(exc: BaseException) -> str:
    """One line for a failure the user can act on; `--debug` shows the traceback instead."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.settings import ConfigError
    from bot.types import PlatformError
    from store.dburl import SETTING as DATABASE_SETTING

    own = getattr(exc, "sentence", None)
    if callable(own):
        own = own()
    if isinstance(own, str) and own:
        return for_terminal(own)
    if isinstance(exc, PlatformError):
        label = PLATFORMS.get(str(exc.platform), str(exc.platform).title())
        return for_terminal(f"{label}: {exc.reason}")
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"The database failed: {detail} (check {DATABASE_SETTING} and that it is reachable)."
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return "The port is already in use: stop the other process or set PORT to another."
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}."
    return f"Unexpected {type(exc).__name__}: {exc}. Run again with --debug for the details."
