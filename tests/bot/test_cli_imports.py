"""`mio --help` answers at once: importing the CLI loads no database, web or adapter code.

Measured in a fresh interpreter, since this test process has imported all of them already.
"""

from __future__ import annotations

import json
import subprocess
import sys

from adapters import ADAPTERS
from bot.terminal import PLATFORMS

HEAVY = (
    "sqlalchemy", "alembic", "aiohttp", "aiosqlite", "asyncpg", "slack_bolt", "slack_sdk",
    "webexpythonsdk", "jwt",
)  # fmt: skip


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = "import json, sys, bot.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(out))
    loaded = {m.split(".")[0] for m in modules}
    assert "typer" in loaded  # the check itself works: the CLI was imported
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    # Only the names of the adapters, never an adapter (each pulls in its platform's SDK).
    assert {m for m in modules if m.startswith("adapters.")} <= {"adapters.catalog"}


def test_the_terminal_names_the_platforms_as_the_registry_does() -> None:
    """The CLI's written-out copy of the registry's names and labels, in the same order."""
    assert PLATFORMS == {str(name): cls.label for name, cls in ADAPTERS.items()}
    assert list(PLATFORMS) == [str(name) for name in ADAPTERS]
