"""Bench people in bulk: the same N people on the Slack and Zoom stand-ins and in the database.

Person i is `bench{i}@bench.test`, Slack user `UB{i:07d}`, Zoom user `zb{i}`. Seeding goes
through store/ (bulk `INSERT … RETURNING` of CHUNK rows a statement), not through an import,
so 100,000 people take seconds. With `pending=True` each person also has a pending consent sync
to Zoom whose Allow button carries `token(i)` and whose DM (`dm_ref`) is the message the caller
put on the Slack stand-in, so pressing Allow is a real state change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.crypto import token_hash
from sandbox.org import Org, OrgAccount, load_org
from store.db import make_engine, upgrade
from store.models import Account, Person, Sync

CHUNK = 5000
PLATFORMS = ("slack", "zoom")


def email(i: int) -> str:
    return f"bench{i}@bench.test"


def slack_id(i: int) -> str:
    return f"UB{i:07d}"


def token(i: int) -> str:
    """The Allow button's value for person i (only its hash is stored, as in production)."""
    return f"bench-allow-{i:07d}-0123456789abcdef"


def bench_org(people: int) -> Org:
    """The demo organisation plus N bench people on Slack and Zoom."""
    org = load_org()
    for i in range(people):
        name = f"Bench Person {i}"
        org.accounts.append(OrgAccount("slack", slack_id(i), email(i), name))
        org.accounts.append(OrgAccount("zoom", f"zb{i}", email(i), name))
    return org


def _person(i: int, now: datetime) -> dict[str, Any]:
    return {
        "match_key": email(i),
        "email": email(i),
        "display_name": f"Bench Person {i}",
        "primary_platform": "slack",
        "primary_chosen_by_admin": False,
        "created_at": now,
    }


def _account(platform: str, i: int, pid: int, now: datetime) -> dict[str, Any]:
    return {
        "platform": platform,
        "platform_user_id": slack_id(i) if platform == "slack" else f"zb{i}",
        "person_id": pid,
        "email": email(i),
        "display_name": f"Bench Person {i}",
        "is_bot": False,
        "is_guest": False,
        "is_active": True,
        "is_admin": False,
        "extra": {},
        "seen_at": now,
    }


def _sync(i: int, pid: int, now: datetime, dm_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "person_id": pid,
        "platform": "zoom",
        "status": "pending",
        "kind": "consent",
        "reason": None,
        "primary_platform": "slack",
        "requested_by": "bench",
        "requested_at": now,
        "updated_at": now,
        "token_hash": token_hash(token(i)),
        "token_used": False,
        "token_expires_at": now + timedelta(days=7),
        "reminders_sent": 0,
        # Far enough that no reminder or expiry runs during the benchmark.
        "next_due_at": now + timedelta(days=6),
        "dm_ref": dm_ref,
    }


async def seed(
    url: str, people: int, dm_ref: Callable[[int], dict[str, Any]] | None = None
) -> None:
    """Migrate `url` and insert N people with their accounts (and pending syncs if `dm_ref`)."""
    await upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        for start in range(0, people, CHUNK):
            stop = min(start + CHUNK, people)
            async with engine.begin() as conn:
                rows = [_person(i, now) for i in range(start, stop)]
                ids = (
                    await conn.execute(
                        insert(Person).returning(Person.id, sort_by_parameter_order=True), rows
                    )
                ).scalars()
                pids = list(zip(range(start, stop), ids, strict=True))
                accounts = [_account(pl, i, pid, now) for i, pid in pids for pl in PLATFORMS]
                await conn.execute(insert(Account), accounts)
                if dm_ref is not None:
                    syncs = [_sync(i, pid, now, dm_ref(i)) for i, pid in pids]
                    await conn.execute(insert(Sync), syncs)
        if engine.dialect.name == "postgresql":
            # Fresh statistics, as autovacuum gathers after an import.
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
