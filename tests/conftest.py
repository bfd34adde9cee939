"""Shared fixtures: every store test runs on SQLite and on PostgreSQL, each in its own database.

PostgreSQL comes from `MIO_TEST_POSTGRES_URL` (any database the user may CREATE DATABASE
from, e.g. `postgresql+asyncpg://postgres@127.0.0.1:5432/test`). Without it the PostgreSQL
half is skipped, unless `MIO_REQUIRE_POSTGRES=1` (set by CI), where a missing or unreachable
server fails the run instead of silently testing half of the contract.

Fixtures for other test modules:
    db_url            URL of an empty, isolated database (parametrized: sqlite, postgresql)
    migrated_db_url   the same after `upgrade head`
    db_engine         an AsyncEngine on the migrated database, disposed afterwards
    db_sessionmaker   `store.db.make_sessionmaker(db_engine)`
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from store.db import make_engine, make_sessionmaker, normalize_url, upgrade

POSTGRES_URL_ENV = "MIO_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "MIO_REQUIRE_POSTGRES"
DATABASE_PREFIX = "mio_t_"
# An unreachable host should cost one short wait per run, not a minute per test.
_CONNECT_TIMEOUT_S = 5
_postgres_problem: str | None = None


def _admin_engine(url: str) -> AsyncEngine:
    """CREATE/DROP DATABASE cannot run inside a transaction."""
    return make_engine(
        url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": _CONNECT_TIMEOUT_S},
    )


async def fresh_database(base_url: str) -> str:
    """Create an empty database beside `base_url` and return its URL; drop it with drop_database.

    PostgreSQL: a new database `mio_t_<random>` created through `base_url`'s server.
    SQLite: a new file in the same folder as `base_url`'s file.
    """
    url = make_url(normalize_url(base_url))
    name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
    if url.get_backend_name() == "sqlite":
        folder = Path(url.database or ".").parent
        return url.set(database=str(folder / f"{name}.db")).render_as_string(hide_password=False)
    engine = _admin_engine(url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str, base_url: str) -> None:
    """Remove a database made by fresh_database, even if a test leaked a connection to it."""
    target = make_url(normalize_url(url))
    if target.get_backend_name() == "sqlite":
        _remove_sqlite_files(target.database or "")
        return
    name = target.database or ""
    if not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    engine = _admin_engine(base_url)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await engine.dispose()


def _remove_sqlite_files(database: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _postgres_unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


async def _postgres_database() -> tuple[str, str]:
    """(base URL, fresh database URL), or skip/fail saying why PostgreSQL is not usable."""
    global _postgres_problem
    base_url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not base_url:
        _postgres_unavailable(
            f"PostgreSQL half skipped: set {POSTGRES_URL_ENV}, "
            "e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    if _postgres_problem is not None:
        _postgres_unavailable(_postgres_problem)
    try:
        return base_url, await fresh_database(base_url)
    except (OSError, TimeoutError, SQLAlchemyError) as error:
        shown = make_url(normalize_url(base_url)).render_as_string(hide_password=True)
        problem = f"PostgreSQL at {shown} is unusable: {error!r}"
    # Outside the except block, so the report is the reason and not two chained tracebacks.
    _postgres_problem = problem
    _postgres_unavailable(problem)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own for each test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mio.db'}"
        return
    base_url, url = await _postgres_database()
    try:
        yield url
    finally:
        await drop_database(url, base_url)


@pytest.fixture
async def migrated_db_url(db_url: str) -> str:
    await upgrade(db_url)
    return db_url


@pytest.fixture
async def db_engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(migrated_db_url)
    try:
        yield engine
    finally:
        # Left open, the pool would hold the PostgreSQL database the fixture drops next.
        await engine.dispose()


@pytest.fixture
def db_sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(db_engine)
