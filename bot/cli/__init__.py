"""`mio`: run the bot, the demo, migrations, and the admin commands from a terminal.

`mio --help` must answer at once, so importing this package loads Typer, Rich and the pure
command declarations only; each command imports the database, the adapters or the web server
when it runs (tests/bot/test_cli_imports.py keeps it so).
"""

from __future__ import annotations

import sys

from bot.cli import admin, running
from bot.cli.base import DEBUG, app, errors
from bot.terminal import sentence_for

__all__ = ["admin", "app", "main", "running"]


def main() -> None:
    """`mio`: any failure is one sentence on stderr and exit code 1; `--debug` shows the trace."""
    try:
        app()
    except Exception as exc:
        if DEBUG["on"]:
            raise
        errors.print(sentence_for(exc), markup=False, soft_wrap=True, highlight=False)
        sys.exit(1)
