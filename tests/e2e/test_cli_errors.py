"""What a newcomer meets first: every mistake is one sentence, never a traceback.

Each test runs the real `mio` program in a subprocess, as a person types it.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from adapters import ADAPTERS
from store.db import normalize_url, upgrade
from tests.e2e.conftest import Harness, free_port
from tests.e2e.test_cli import MIO, mio

KEY = Fernet.generate_key().decode()


def one_sentence(out: str) -> str:
    """The output, asserted to be a single line without a traceback."""
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "Traceback" not in out and "╭" not in out, out
    return lines[0]


# -- help texts (23) --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), [cls.label for cls in ADAPTERS.values()]),
        (("import",), [str(name) for name in ADAPTERS]),
        (("primary",), [str(name) for name in ADAPTERS]),
        (("manifests",), [str(name) for name in ADAPTERS]),
    ],
)
async def test_help_names_every_platform(args: tuple[str, ...], words: list[str]) -> None:
    code, out = await mio(*args, "--help", env={})
    assert code == 0, out
    for word in words:
        assert word in out, (word, out)
    assert "Slack and Zoom Team Chat" not in out and "slack or zoom" not in out


async def test_flags_do_not_look_like_they_take_a_value() -> None:
    _, out = await mio("demo", "--help", env={})
    exit_line = next(line for line in out.splitlines() if "Stop after the tour" in line)
    assert "--exit" in exit_line and "<bool>" not in exit_line
    _, out = await mio("--help", env={})
    debug_line = next(line for line in out.splitlines() if "--debug" in line)
    assert "<bool>" not in debug_line


async def test_refusals_speak_the_terminal_s_syntax(harness: Harness) -> None:
    env = dict(harness.core.settings.env)
    code, out = await mio("sync", "bob@acme.test", "zoom", "--yes", env=env)
    assert code == 1 and "no primary platform" in out
    assert "/mio" not in out and "`mio primary <user> <platform>`" in out


# -- configuration and database mistakes (2, 22) ----------------------------------------------
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqllite:///var/mio.db", "Did you mean sqlite://"),
        ("postgress://mio@db.example.com/mio", "Did you mean postgresql://"),
        ("var/mio.db", "not a path: for a SQLite file write sqlite:///var/mio.db"),
        ("/srv/mio/mio.db", "sqlite:////srv/mio/mio.db"),
        ("postgresql+psycopg2://mio@db/mio", "the driver psycopg2"),
        ("mysql://mio@db/mio", "a database Mio does not know"),
    ],
)
async def test_a_mistyped_database_url_is_named_with_an_example(
    tmp_path: Path, url: str, says: str
) -> None:
    for command in (("db", "upgrade"), ("users",)):
        code, out = await mio(*command, env={"MIO_DATABASE_URL": url}, cwd=tmp_path)
        line = one_sentence(out)
        assert code == 2 and "MIO_DATABASE_URL" in line and says in line, out
        assert "for example" in line or "write sqlite" in line


async def test_upgrade_names_a_missing_folder_and_does_not_create_it(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    env = {"MIO_DATABASE_URL": f"sqlite:///{folder}/mio.db"}
    code, out = await mio("db", "upgrade", env=env)
    line = one_sentence(out)
    assert code == 1 and f"The folder {folder}" in line and "does not exist" in line
    assert "MIO_DATABASE_URL" in line and not (tmp_path / "no").exists()


async def test_nothing_listening_on_the_postgres_port_is_one_sentence() -> None:
    port = free_port()
    env = {"MIO_DATABASE_URL": f"postgresql://mio@127.0.0.1:{port}/mio", "MIO_SECRET_KEY": KEY}
    for command in (("db", "upgrade"), ("users",), ("serve",)):
        code, out = await mio(*command, env={**env, "PORT": str(free_port())})
        line = one_sentence(out)
        assert code == 1 and f"No PostgreSQL answers at 127.0.0.1:{port}" in line, out
        assert "MIO_DATABASE_URL" in line and "postgresql://" in line


@pytest.mark.postgres
async def test_a_database_that_does_not_exist_is_one_sentence() -> None:
    base = os.environ.get("MIO_TEST_POSTGRES_URL", "").strip()
    if not base:
        pytest.skip("set MIO_TEST_POSTGRES_URL to run the PostgreSQL half")
    name = f"mio_missing_{secrets.token_hex(4)}"
    url = make_url(normalize_url(base)).set(database=name).render_as_string(hide_password=False)
    code, out = await mio("db", "upgrade", env={"MIO_DATABASE_URL": url})
    line = one_sentence(out)
    assert code == 1 and f'The database "{name}" does not exist' in line and "createdb" in line


async def test_any_other_failure_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path,
) -> None:
    db = tmp_path / "mio.db"
    db.write_bytes(b"this is not a SQLite database, it is some other file " * 100)
    env = {"MIO_DATABASE_URL": f"sqlite:///{db}"}
    code, out = await mio("db", "upgrade", env=env)
    line = one_sentence(out)
    assert code == 1 and "The database failed: file is not a database" in line
    code, out = await mio("--debug", "db", "upgrade", env=env)
    assert code == 1 and "Traceback" in out


# -- commands that must not need more than they use (25) ---------------------------------------
async def test_users_needs_no_secret_key(harness: Harness) -> None:
    env = {k: v for k, v in harness.core.settings.env.items() if k != "MIO_SECRET_KEY"}
    code, out = await mio("users", "bob", env=env)
    assert code == 0 and "Bob Marley" in out, out


async def test_import_with_no_platform_configured_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mio.db'}"
    await upgrade(url)
    code, out = await mio("import", env={"MIO_DATABASE_URL": url, "MIO_SECRET_KEY": KEY})
    line = one_sentence(out)
    assert code == 1 and line.startswith("No platform is configured")
    for name in ADAPTERS:
        assert f"{name.upper()}_*" in line


# -- the demo and the port (20, 25, 26) --------------------------------------------------------
@asynccontextmanager
async def running_demo(cwd: Path, port: int, env: dict[str, str]) -> AsyncIterator[str]:
    """`mio demo --no-tour` serving from `cwd`; yields what it printed up to "Serving"."""
    proc = await asyncio.create_subprocess_exec(
        "mio",
        "demo",
        "--no-tour",
        "--port",
        str(port),
        cwd=cwd,
        env={"PATH": f"{Path(MIO).parent}:{os.environ['PATH']}", "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    printed = ""
    try:
        while "Serving." not in printed:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert line, printed
            printed += line.decode()
        yield printed
    finally:
        proc.terminate()
        await proc.wait()


async def test_a_second_demo_leaves_the_running_one_alone(tmp_path: Path) -> None:
    port = free_port()
    async with running_demo(tmp_path, port, {}) as printed:
        db = tmp_path / "var" / "demo.db"
        before = db.stat().st_ino, db.stat().st_size
        # Same port: refused before anything is touched.
        code, out = await mio("demo", "--exit", "--port", str(port), env={}, cwd=tmp_path)
        line = one_sentence(out)
        assert code == 1 and f"Port {port} is already in use" in line
        assert f"mio demo --port {port + 1}" in line
        # Another port, same folder: the database is another process's, so it stays.
        other = free_port()
        code, out = await mio("demo", "--exit", "--port", str(other), env={}, cwd=tmp_path)
        line = one_sentence(out)
        assert code == 1 and "Another `mio demo` is running from this folder" in line
        assert (db.stat().st_ino, db.stat().st_size) == before
        # `mio serve` on the same port: one sentence, and it never claims to be serving.
        env = {"PORT": str(port), "MIO_SECRET_KEY": KEY, "MIO_DATABASE_URL": f"sqlite:///{db}"}
        code, out = await mio("serve", env=env, cwd=tmp_path)
        line = one_sentence(out)
        assert code == 1 and f"Port {port} is already in use" in line
        assert f"PORT={port + 1} mio serve" in line and "Serving on port" not in out
    # The commands to try are spelled as this `mio` was started: found on PATH.
    assert "\n  mio users\n" in printed and ".venv/bin/mio" not in printed
    assert "while this runs" in printed


async def test_demo_honours_port_and_exit_does_not_invite_a_second_terminal(
    tmp_path: Path,
) -> None:
    port = free_port()
    code, out = await mio("demo", "--exit", "--no-tour", env={"PORT": str(port)}, cwd=tmp_path)
    assert code == 0, out
    assert f"http://127.0.0.1:{port}" in out
    assert "while this runs" not in out and "Stopped, as --exit asks" in out
    # Libraries' chatter (SQL statements with their parameters) stays out of the demo's screen.
    assert "sqlalchemy" not in out and "INFO:" not in out, out
    # Started by its path (not on PATH), the demo names that path.
    assert re.search(rf"`{re.escape(MIO)} demo` without --exit keeps serving", out), out


def test_installed_command_is_what_the_person_can_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.terminal import installed_command

    program = tmp_path / ".venv" / "bin" / "mio"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert installed_command(".venv/bin/mio", cwd=tmp_path) == ".venv/bin/mio"
    assert installed_command(str(program), cwd=tmp_path) == ".venv/bin/mio"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert installed_command(str(program), cwd=elsewhere) == str(program)
    monkeypatch.setenv("PATH", f"{program.parent}:/usr/bin:/bin")
    assert installed_command(str(program), cwd=tmp_path) == "mio"
    assert installed_command("mio", cwd=tmp_path) == "mio"


async def test_a_platform_refusing_the_bot_is_one_sentence(harness: Harness) -> None:
    env = {**harness.core.settings.env, "SLACK_BOT_TOKEN": "xoxb-revoked-by-an-admin"}
    code, out = await mio("import", "slack", env=env)
    line = one_sentence(out)
    assert code == 1 and "Slack" in line, out
