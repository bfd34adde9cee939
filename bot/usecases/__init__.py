"""One module per admin use case, called alike by the chat commands, the CLI and the Hub.

Each module loads what its decision needs, asks the pure rules (`bot.sync`) and returns plain
results; the front ends (`bot/commands/`, `bot/cli/`, `bot/hub/people.py`) only turn text into
arguments and results into their own output, so a rule or a sentence changes in one place.
Commands themselves are declared once, in `bot/commands/grammar.py` (`SPECS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """What an admin is asked before a command changes something, as plain text: chat shows it
    with Confirm and Cancel buttons, the terminal as a yes/no prompt."""

    title: str
    lines: tuple[str, ...] = ()
