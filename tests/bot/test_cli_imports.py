"""`mio --help` answers at once: importing the CLI loads no database, web or adapter code;
and `mio users` loads the database's code only (no web server, adapter or migration tool).

Measured in a fresh interpreter, since this test process has imported all of them already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

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


@pytest.mark.parametrize("argv", ["'--help'", "'users', '--help'", "'db', '--help'"])
def test_mio_help_loads_neither_rich_nor_asyncio(argv: str) -> None:
    """Typer's Rich help imported Rich's Markdown and traceback renderers (half the start-up),
    and its flags' coercion Pydantic (bot/cli/base.py)."""
    code = USERS.replace("'users'", argv)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "Usage: mio" in done.stdout, done.stdout + done.stderr
    loaded = {m.split(".")[0] for m in json.loads(done.stderr.strip().splitlines()[-1])}
    assert "typer" in loaded
    assert loaded.isdisjoint({"rich", "asyncio", "pydantic", *HEAVY}), sorted(loaded)


# What `mio users` must not load: it reads the database and prints a table.
NOT_FOR_USERS = (
    "alembic",
    "aiohttp",
    "asyncpg",
    "slack_bolt",
    "slack_sdk",
    "webexpythonsdk",
    "jwt",
)
USERS = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
    "sys.argv = ['mio', 'users']\n"
    "from bot.cli import main\n"
    "main()\n"
)


def test_mio_users_loads_no_web_adapter_or_migration_code(tmp_path: Path) -> None:
    from store.models import Base

    db = tmp_path / "mio.db"
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    env = {"PATH": "", "MIO_DATABASE_URL": f"sqlite:///{db}", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", USERS], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0 and "People (0)" in done.stdout, done.stdout + done.stderr
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    loaded = {m.split(".")[0] for m in modules}
    assert "sqlalchemy" in loaded  # the check itself works: the query ran
    assert loaded.isdisjoint(NOT_FOR_USERS), sorted(loaded & set(NOT_FOR_USERS))
    assert {m for m in modules if m.startswith("adapters.")} <= {"adapters.catalog"}
    # PostgreSQL's dialect is not loaded to read a SQLite database.
    assert not any(m.startswith("sqlalchemy.dialects.postgresql") for m in modules)


def test_the_terminal_names_the_platforms_as_the_registry_does() -> None:
    """The CLI's written-out copy of the registry's names and labels, in the same order."""
    assert PLATFORMS == {str(name): cls.label for name, cls in ADAPTERS.items()}
    assert list(PLATFORMS) == [str(name) for name in ADAPTERS]
