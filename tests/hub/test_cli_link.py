"""`mio hub-link` prints a one-time sign-in link that the Hub accepts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import Row
from typer.testing import CliRunner

from bot.cli import app
from store.db import make_engine, upgrade
from store.models import HubTicket


def test_hub_link_prints_a_link_valid_ten_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mio.db'}"
    asyncio.run(upgrade(url))
    monkeypatch.chdir(tmp_path)  # no .env from the developer's folder
    env = {
        "MIO_DATABASE_URL": url,
        "MIO_SECRET_KEY": Fernet.generate_key().decode(),
        "MIO_PUBLIC_URL": "https://mio.example.com",
        "MIO_ADMINS": "ada@acme.test",  # a link is made only for an admin
    }
    for key in ("SLACK_BOT_TOKEN", "ZOOM_ACCOUNT_ID", "TEAMS_APP_ID", "WEBEX_BOT_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    result = CliRunner().invoke(app, ["hub-link", "--as", "Ada@Acme.test"], env=env)
    assert result.exit_code == 0, result.output
    assert "works once, for 10 minutes" in result.output
    assert "https://mio.example.com/hub/link/" in result.output

    async def tickets() -> list[Row[Any]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(select(HubTicket.__table__))).all())
        finally:
            await engine.dispose()

    (ticket,) = asyncio.run(tickets())
    assert (ticket.kind, ticket.created_by, ticket.used) == ("link", "ada@acme.test", False)
    assert ticket.expires_at - ticket.created_at == timedelta(minutes=10)
    token = result.output.split("/hub/link/")[1].split()[0]
    assert ticket.token_hash != token and len(ticket.token_hash) == 64  # stored hashed
