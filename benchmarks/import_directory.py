"""Directory import at scale: N people on Slack and Zoom, imported through the sandbox over HTTP.

Measures the wall time of `import_platform` for each platform, then of a re-import (every
account already known), on SQLite and, when MIO_TEST_POSTGRES_URL is set, on PostgreSQL, and
the bot process's peak RSS after each step (the sandbox serves from a process of its own).
Run: PYTHONPATH=. .venv/bin/python benchmarks/import_directory.py [N]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from cryptography.fernet import Fernet

from adapters.paging import Pace
from adapters.slack import SlackPlatform
from adapters.zoom import ZoomPlatform
from bot.app import build_core
from bot.directory import import_platform
from bot.settings import Settings
from sandbox.org import Org, OrgAccount
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from store.db import upgrade
from tests.conftest import drop_database, fresh_database


def make_org(n: int) -> Org:
    accounts: list[OrgAccount] = []
    for i in range(n):
        email = f"person{i}@bench.test"
        accounts.append(OrgAccount("slack", f"U{i:08d}", email, f"Person {i}"))
        if i % 4 != 0:  # three in four people are on Zoom too
            accounts.append(OrgAccount("zoom", f"Z{i:08d}x", email.upper(), f"Person {i}"))
    return Org(
        "Bench",
        {"slack": {"id": "TBENCH", "name": "Bench"}, "zoom": {"id": "bench", "name": "Bench"}},
        accounts,
    )


def serve_sandbox(n: int, conn: Connection) -> None:
    """The stand-ins in a process of their own, so their CPU time is not counted as the bot's."""

    async def serve() -> None:
        sandbox = Sandbox(make_org(n), platforms=["slack", "zoom"])
        for service in sandbox.services.values():  # measure the bot, not Slack's Tier 2
            if isinstance(service, SlackSandbox):
                service.tiers.clear()
        await sandbox.start()
        conn.send(sandbox.env())
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await sandbox.stop()

    asyncio.run(serve())


async def run(db_url: str, n: int) -> list[tuple[str, float, float]]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve_sandbox, args=(n, child))
    server.start()
    env = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    await upgrade(db_url)
    settings = Settings.from_env(
        {**env, "MIO_DATABASE_URL": db_url, "MIO_SECRET_KEY": Fernet.generate_key().decode()}
    )
    core = build_core(settings)
    for adapter in core.platforms.values():
        if isinstance(adapter, (SlackPlatform, ZoomPlatform)):  # measure the bot, not the pace
            adapter.directory_pace = Pace(10**9, 1.0)
        await adapter.start()
    rows = []
    try:
        for label in ("first import", "re-import"):
            for platform in ("slack", "zoom"):
                started = time.perf_counter()
                result = await import_platform(core, platform, "bench")
                took = time.perf_counter() - started
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB
                rows.append((f"{label} {platform} ({result.seen} accounts)", took, peak))
    finally:
        for adapter in core.platforms.values():
            await adapter.close()
        await core.sessions.kw["bind"].dispose()
        parent.send("stop")
        server.join(timeout=30)
    return rows


async def main(n: int) -> None:
    targets = [("SQLite", f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")]
    base = os.environ.get("MIO_TEST_POSTGRES_URL")
    if base:
        targets.append(("PostgreSQL", await fresh_database(base)))
    print("| database | step | seconds | peak RSS MiB |\n| --- | --- | --- | --- |")
    for name, url in targets:
        try:
            for step, seconds, mib in await run(url, n):
                print(f"| {name} | {step} | {seconds:.1f} | {mib:.0f} |")
        finally:
            if name == "PostgreSQL" and base:
                await drop_database(url, base)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
