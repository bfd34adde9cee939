"""How fast the Hub's User Sync page answers with 100,000 people in the database.

Seeds N people with 2-4 accounts each (bulk inserts, no import), a sync row for a third of
them, then serves the real app and times, over HTTP with a signed-in session cookie, the
median of R requests for: the first page, a searched page, a filtered page, a page deep in
the keyset order, and the live status poll. SQLite always; PostgreSQL too when
MIO_TEST_POSTGRES_URL is set. Prints a Markdown table (the method is in benchmarks/README.md).

Run: PYTHONPATH=. .venv/bin/python benchmarks/hub_render.py [--people 100000] [--requests 21]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from bot.app import create_app
from bot.hub import create_link
from bot.settings import Settings
from bot.web import CORE
from sandbox.org import load_org
from sandbox.registry import SANDBOXES
from sandbox.runner import Sandbox
from store.db import make_engine, upgrade
from store.models import Account, Person, Sync
from tests.conftest import drop_database, fresh_database

FIRST = [
    "Ada",
    "Bob",
    "Carol",
    "Dan",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Victor",
    "Walter",
    "Zoe",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
]
PLATFORMS = ["slack", "zoom", "teams", "webex"]
CHUNK = 5000


def person_rows(start: int, stop: int, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "match_key": f"person{i}@bench.test",
            "email": f"person{i}@bench.test",
            "display_name": f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST) % len(LAST)]} {i}",
            "primary_platform": PLATFORMS[i % 2] if i % 5 else None,
            "primary_chosen_by_admin": bool(i % 5),
            "created_at": now,
        }
        for i in range(start, stop)
    ]


async def seed(url: str, people: int) -> None:
    """Bulk inserts of N people, 2-4 accounts each and a sync for one in three."""
    await upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    statuses = ["pending", "synced", "failed"]
    try:
        for start in range(0, people, CHUNK):
            stop = min(start + CHUNK, people)
            async with engine.begin() as conn:
                ids = (
                    await conn.execute(
                        insert(Person).returning(Person.id, Person.match_key),
                        person_rows(start, stop, now),
                    )
                ).all()
                accounts, syncs = [], []
                for pid, key in ids:
                    i = int(key.removeprefix("person").split("@")[0])
                    for platform in PLATFORMS[: 2 + i % 3]:
                        accounts.append(
                            {
                                "platform": platform,
                                "platform_user_id": f"{platform}-{i}",
                                "person_id": pid,
                                "email": key,
                                "display_name": key,
                                "is_bot": False,
                                "is_guest": False,
                                "is_active": True,
                                "is_admin": False,
                                "extra": {},
                                "seen_at": now,
                            }
                        )
                    if i % 3 == 0 and i % 5:
                        syncs.append(
                            {
                                "person_id": pid,
                                "platform": PLATFORMS[1 - i % 2],
                                "status": statuses[i % 9 // 3],
                                "kind": "consent",
                                "reason": "declined" if i % 9 // 3 == 2 else None,
                                "primary_platform": PLATFORMS[i % 2],
                                "requested_by": "bench",
                                "requested_at": now,
                                "updated_at": now,
                                "token_used": False,
                                "reminders_sent": 0,
                                "next_due_at": now + timedelta(days=1),
                            }
                        )
                await conn.execute(insert(Account), accounts)
                if syncs:
                    await conn.execute(insert(Sync), syncs)
        if engine.dialect.name == "postgresql":
            # Fresh statistics, as autovacuum gathers after an import; without them the
            # planner guesses and the same page takes several times longer.
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


async def middle_person(url: str, people: int) -> int:
    """The person halfway down the name order: `after=` it is a page deep in the table."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(Person.id)
                        .order_by(Person.display_name, Person.id)
                        .offset(people // 2)
                        .limit(1)
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def timed(http: aiohttp.ClientSession, url: str, requests: int) -> tuple[float, float, int]:
    """(median ms, p90 ms, bytes) of `requests` GETs after 3 warm-up requests."""
    for _ in range(3):
        async with http.get(url) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            await resp.read()
    times = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        async with http.get(url) as resp:
            body = await resp.read()
        times.append((time.perf_counter() - started) * 1000)
        size = len(body)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], size


async def run(url: str, people: int, requests: int) -> list[tuple[str, float, float, int]]:
    await seed(url, people)
    deep = await middle_person(url, people)
    org = load_org()
    sandbox = Sandbox(org, [p for p in PLATFORMS if p in SANDBOXES])
    await sandbox.start()
    settings = Settings.from_env(
        {
            **sandbox.env(),
            "MIO_DATABASE_URL": url,
            "MIO_SECRET_KEY": Fernet.generate_key().decode(),
            "MIO_PUBLIC_URL": "http://127.0.0.1",
        }
    )
    app = create_app(settings, background=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        core = app[CORE]
        async with core.sessions() as session:
            total = (await session.execute(select(func.count()).select_from(Person))).scalar_one()
        assert total == people, total
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            link = (await create_link(core, "bench")).replace("http://127.0.0.1", base)
            async with http.post(link, allow_redirects=False) as resp:
                assert resp.status == 303
            async with http.get(base + "/hub/users") as resp:
                page = await resp.text()
            ids = [int(x) for x in re.findall(r'<tr id="person-(\d+)"', page)]
            cases = [
                ("first page (50 rows)", "/hub/users"),
                ("search `smith`", "/hub/users?q=smith"),
                ("filter status=pending, platform=zoom", "/hub/users?status=pending&platform=zoom"),
                ("filter status=not_created", "/hub/users?status=not_created"),
                ("page 1,000 of 2,000 (keyset `after=`)", f"/hub/users?after={deep}"),
                (
                    "live status poll (50 rows)",
                    "/hub/api/rows?rows=" + ",".join(f"{i}:x" for i in ids),
                ),
            ]
            results = []
            for label, path in cases:
                median, p90, size = await timed(http, base + path, requests)
                results.append((label, median, p90, size))
        return results
    finally:
        await server.close()
        await sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=21)
    args = parser.parse_args()
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if os.environ.get("MIO_TEST_POSTGRES_URL"):
        backends.append(("PostgreSQL", os.environ["MIO_TEST_POSTGRES_URL"]))
    print(
        f"{args.people:,} people, median of {args.requests} requests after 3 warm-ups, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| database | page | median ms | p90 ms | HTML bytes |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, base in backends:
        with tempfile.TemporaryDirectory() as tmp:
            url = (
                f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                if base is None
                else asyncio.run(fresh_database(base))
            )
            try:
                started = time.perf_counter()
                rows = asyncio.run(run(url, args.people, args.requests))
                took = time.perf_counter() - started
            finally:
                if base is not None:
                    asyncio.run(drop_database(url, base))
        for label, median, p90, size in rows:
            print(f"| {name} | {label} | {median:.1f} | {p90:.1f} | {size:,} |")
        print(f"<!-- {name}: seeding and measuring took {took:.0f} s -->")


if __name__ == "__main__":
    main()
