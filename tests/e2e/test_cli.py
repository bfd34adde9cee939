"""The `mio` command as an admin runs it: a real process against the sandbox and database."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.e2e.conftest import Harness

MIO = str(Path(sys.executable).with_name("mio"))
COMMANDS = [
    "serve",
    "demo",
    "db",
    "connect",
    "manifests",
    "hub-link",
    "import",
    "users",
    "status",
    "primary",
    "sync",
    "unsync",
    "reset",
]


async def mio(
    *args: str, env: dict[str, str], stdin: bytes = b"", cwd: Path | None = None
) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        MIO,
        *args,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "COLUMNS": "200", **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_command_explains_itself_with_an_example(command: str) -> None:
    code, out = await mio(command, "--help", env={})
    assert code == 0, out
    assert "Example" in out


async def test_serve_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    env = {
        "MIO_DATABASE_URL": f"sqlite:///{tmp_path / 'mio.db'}",
        "MIO_SECRET_KEY": Fernet.generate_key().decode(),
    }
    code, out = await mio("serve", env=env)
    assert code == 2 and "mio db upgrade" in out
    code, out = await mio("db", "upgrade", env=env)
    assert code == 0 and "upgraded" in out
    code, out = await mio("db", "upgrade", env=env)
    assert code == 0 and "already" in out


async def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    code, out = await mio("serve", env={"MIO_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert code == 2 and "MIO_SECRET_KEY" in out and "generate_key" in out


async def test_admin_commands_from_the_terminal(harness: Harness) -> None:
    h = harness
    env = dict(h.core.settings.env)
    code, out = await mio("users", "bob", env=env)
    assert code == 0 and "Bob Marley" in out and "not chosen" in out
    code, out = await mio("sync", "bob@acme.test", "zoom", "--yes", env=env)
    assert code == 1 and "no primary platform" in out
    code, out = await mio("primary", "bob@acme.test", "slack", env=env)
    assert code == 0 and "now Slack" in out
    code, out = await mio("sync", "bob@acme.test", "zoom", env=env, stdin=b"n\n")
    assert code == 1 and "consent DM" in out and "Cancelled" in out
    assert h.agents["slack"].dms("bob@acme.test") == []
    code, out = await mio("sync", "bob@acme.test", "zoom", "--yes", env=env)
    assert code == 0 and "Asked Bob Marley" in out
    assert len(h.agents["slack"].dms("bob@acme.test")) == 1  # delivered by the CLI itself
    code, out = await mio("status", "bob", env=env)
    assert "pending" in out
    code, out = await mio("reset", "bob@acme.test", "--yes", env=env)
    assert code == 0 and "Reset Bob Marley" in out
    code, out = await mio("status", "nobody-here", env=env)
    assert code == 1 and "Nobody matches" in out
    code, out = await mio("import", "slack", env=env)
    assert code == 0 and "Imported" in out and "Slack" in out


async def test_teams_package_is_filled_in(tmp_path: Path) -> None:
    import json
    import zipfile

    out = tmp_path / "teams.zip"
    env = {
        "TEAMS_APP_ID": "11111111-2222-4333-8444-555555555555",
        "MIO_PUBLIC_URL": "https://mio.acme.test",
    }
    code, text = await mio("manifests", "teams", "--out", str(out), env=env)
    assert code == 0, text
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["id"] == env["TEAMS_APP_ID"]
    assert manifest["bots"][0]["botId"] == env["TEAMS_APP_ID"]
    assert "mio.acme.test" in manifest["validDomains"]
    code, text = await mio("manifests", "teams", env={"MIO_PUBLIC_URL": "https://x.test"})
    assert code == 2 and "TEAMS_APP_ID" in text
