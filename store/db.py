"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL (by URL).

The app never creates tables itself: `mio db upgrade` runs the Alembic revisions, and every
process checks at startup that the database is at the revision its code was written for, so a
fleet that shares one PostgreSQL never runs old code against a newer schema unnoticed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from store.sqlite_writer import SqliteWriteGate

if TYPE_CHECKING:  # Alembic is imported by the functions that migrate: `mio users` needs none
    from alembic.config import Config

ALEMBIC_INI = Path(__file__).parent / "alembic.ini"

# Writers queue for this long instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Connections kept per process, and the extra ones a burst may open for a moment. PostgreSQL's
# default max_connections (100) leaves room for several processes of this size.
POOL_SIZE = 20
POOL_OVERFLOW = 10
POOL_RECYCLE_S = 300

# Any constant works; it only has to be the same in every Mio process sharing the database.
_PG_MIGRATION_LOCK = 0x4D696F  # "Mio"

UPGRADE_HINT = "mio db upgrade"


class SchemaMismatch(Exception):
    """The database and the code disagree on the schema; the message says how to fix it.

    One base class so the CLI and the app's startup can refuse to run with one `except`.
    """

    def __init__(self, message: str, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class SchemaBehind(SchemaMismatch):
    """Older schema: running would fail on missing tables or columns at the first request."""

    def __init__(self, current: str | None, head: str) -> None:
        at = current if current is not None else "no revision yet"
        super().__init__(
            f"The database is behind the code (at {at}, code needs {head}). Run: {UPGRADE_HINT}",
            current,
            head,
        )


class SchemaAhead(SchemaMismatch):
    """Newer schema: old code could corrupt data a newer Mio relies on, so it must not run."""

    def __init__(self, current: str, head: str) -> None:
        super().__init__(
            f"The database was migrated by a newer Mio (revision {current}). "
            "Upgrade Mio, or point MIO_DATABASE_URL at another database.",
            current,
            head,
        )


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database stands relative to the code's migrations."""

    current: str | None  # revision recorded in alembic_version; None on an empty database
    head: str  # the newest revision this code ships
    behind: bool  # `mio db upgrade` will bring it to head
    ahead: bool  # revision unknown to this code: written by a newer Mio

    @property
    def up_to_date(self) -> bool:
        return not (self.behind or self.ahead)


def database_url_default(cwd: Path) -> str:
    """The zero-configuration database: one SQLite file under the working directory."""
    var = cwd / "var"
    var.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{var / 'mio.db'}"


def normalize_url(url: str) -> str:
    """Point pasted sync-driver URLs at the async drivers we ship.

    Hosting providers hand out `postgres://…` or `postgresql://…` (and docs show `sqlite:///…`),
    which SQLAlchemy would open with psycopg2/pysqlite. asyncpg also rejects libpq's `sslmode`
    query parameter, so it is renamed to asyncpg's equivalent `ssl`.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername == "postgresql+asyncpg" and "sslmode" in parsed.query:
        sslmode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"])
        if "ssl" not in parsed.query:
            parsed = parsed.update_query_dict({"ssl": sslmode})
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **engine_kwargs: Any) -> AsyncEngine:
    """An engine tuned for the backend; extra keyword arguments go to SQLAlchemy unchanged."""
    parsed = make_url(normalize_url(url))
    sqlite = parsed.get_backend_name() == "sqlite"
    if engine_kwargs.get("poolclass") is None and not (sqlite and _sqlite_is_memory(parsed)):
        # Enough pooled connections for a burst of webhooks: beyond `pool_size` a connection
        # is closed when it is given back, and the next burst pays a new connection again
        # (asyncpg's handshake, or a thread and the PRAGMAs for SQLite).
        engine_kwargs.setdefault("pool_size", POOL_SIZE)
        engine_kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    if sqlite:
        return _make_sqlite_engine(parsed, engine_kwargs)
    if parsed.get_backend_name() == "postgresql":
        # Load balancers drop idle connections (AWS's after 350 s): connections are renewed
        # before that rather than pinged before every use, a round trip on every webhook
        # (benchmarks/README.md). After a PostgreSQL restart, the first statement on a dead
        # connection fails and SQLAlchemy then discards the whole pool.
        engine_kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
        if parsed.drivername == "postgresql+asyncpg":
            connect_args = engine_kwargs.setdefault("connect_args", {})
            connect_args.setdefault("server_settings", {}).setdefault("application_name", "mio")
    return _create_async_engine(parsed, **engine_kwargs)


def _sqlite_is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _make_sqlite_engine(url: URL, engine_kwargs: dict[str, Any]) -> AsyncEngine:
    """SQLite with foreign keys enforced, WAL (readers never block the writer), one writer at a
    time per process (`SqliteWriteGate`) and a busy wait for writers of other processes.

    Transactions keep the pysqlite default: reads run outside a transaction and BEGIN is
    issued just before the first write, so the write lock is taken at the same moment as the
    snapshot. An explicit BEGIN (even IMMEDIATE, for every read-only request too) would either
    fail a read-then-write transaction with SQLITE_BUSY when another connection wrote
    meanwhile, or serialise the readers as well. Migrations, which need all-or-nothing DDL,
    take a real transaction in `_migration_scope`.
    """
    in_memory = _sqlite_is_memory(url)
    # A missing folder is not created: a typo in the path would silently start an empty
    # database elsewhere. SQLite's "unable to open database file" is explained by
    # store/dburl.py, which names the folder.
    engine = _create_async_engine(url, **engine_kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL is durable against a process crash, and skips an fsync
                # per commit (only a power cut can lose the last transactions).
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    SqliteWriteGate(SQLITE_BUSY_TIMEOUT_MS / 1000).attach(engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (async code cannot lazy-load)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """The Alembic config shipped inside the package, usable from any working directory."""
    # Alembic is imported when used (a quarter of a second): `mio --help` never needs it.
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    if url is not None:
        # Passed as an attribute, not a main option: configparser would choke on a '%'
        # in a password.
        config.attributes["url"] = normalize_url(url)
    return config


@functools.cache
def _known_revisions() -> tuple[str, frozenset[str]]:
    """(head, every revision id) of the migrations this code ships; fixed for the process."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found under {script.dir}")
    return head, frozenset(rev.revision for rev in script.walk_revisions())


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Compare the revision recorded in the database with the code's head revision."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revision)
    head, known = _known_revisions()
    ahead = current is not None and current not in known
    return SchemaState(
        current=current, head=head, behind=not ahead and current != head, ahead=ahead
    )


async def require_current_schema(engine: AsyncEngine) -> None:
    """Refuse to serve against a schema the code was not written for."""
    state = await schema_state(engine)
    if state.ahead:
        assert state.current is not None
        raise SchemaAhead(state.current, state.head)
    if state.behind:
        raise SchemaBehind(state.current, state.head)


async def upgrade(url: str) -> tuple[str | None, str]:
    """Migrate the database at `url` to head; return the revisions (before, after).

    Safe to run from several processes at once (they queue on a lock) and a no-op at head.
    Raises SchemaAhead, changing nothing, when a newer Mio already migrated the database.
    """

    def run(connection: Connection) -> tuple[str | None, str]:
        before = _current_revision(connection)
        head, known = _known_revisions()
        if before is not None and before not in known:
            # Alembic would only say "Can't locate revision"; say which Mio to run instead.
            raise SchemaAhead(before, head)
        from alembic import command

        config = alembic_config(url)
        # env.py uses this connection, so Alembic joins our transaction and lock.
        config.attributes["connection"] = connection

        command.upgrade(config, "head")
        after = _current_revision(connection)
        assert after is not None
        return before, after

    return await run_migrations(url, run)


async def run_migrations[T](url: str, work: Callable[[Connection], T]) -> T:
    """Run `work` on a dedicated connection in one transaction, committed only if it succeeds.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent upgrades (a release
    phase racing a second deploy) run one after the other. On SQLite foreign keys are off
    while tables are rebuilt (batch mode drops and re-creates tables, which would otherwise
    cascade deletes into child rows), an explicit BEGIN IMMEDIATE makes the DDL roll back as
    one, and the foreign keys are verified before commit. Also used by env.py for the
    `alembic` command line, so both paths migrate the same way.
    """
    engine = make_engine(url, poolclass=NullPool)  # the connection's tweaks die with it
    try:
        async with engine.connect() as connection:
            result = await connection.run_sync(_in_migration_scope, work)
            await connection.commit()
        return result
    finally:
        await engine.dispose()


def _in_migration_scope[T](connection: Connection, work: Callable[[Connection], T]) -> T:
    backend = connection.dialect.name
    if backend == "sqlite":
        # Stop pysqlite's own transaction handling so our BEGIN also covers DDL.
        connection.connection.dbapi_connection.isolation_level = None  # type: ignore[union-attr]
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif backend == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    result = work(connection)
    if backend == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    return result
