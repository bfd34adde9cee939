"""Migrations build exactly the models' schema, and the app refuses a schema it does not match.

Every test taking `db_url` runs on SQLite and on PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.db import (
    POOL_RECYCLE_S,
    SchemaAhead,
    SchemaBehind,
    alembic_config,
    database_url_default,
    make_engine,
    normalize_url,
    require_current_schema,
    run_migrations,
    schema_state,
    upgrade,
)
from store.models import Account, Base, Person, Sync

MIGRATIONS = Path(__file__).parents[2] / "store" / "migrations"
# The newest revision file: tests follow new migrations without editing this line.
HEAD = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _schema_diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _reflected_schema(connection: Connection) -> dict[str, dict[str, Any]]:
    """Names and shapes of every key, index and constraint, as the database reports them."""
    inspector = inspect(connection)
    schema: dict[str, dict[str, Any]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        pk = inspector.get_pk_constraint(table)
        schema[table] = {
            "pk": (pk["name"], tuple(pk["constrained_columns"])),
            "indexes": {
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
                # PostgreSQL and SQLite may report a unique constraint's index as well.
                if not ix.get("duplicates_constraint")
            },
            "uniques": {
                (uq["name"], tuple(uq["column_names"]))
                for uq in inspector.get_unique_constraints(table)
            },
            "fks": {
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            },
            "nullable": {col["name"]: col["nullable"] for col in inspector.get_columns(table)},
        }
    return schema


def _model_schema(metadata: MetaData) -> dict[str, dict[str, Any]]:
    from sqlalchemy import ForeignKeyConstraint, UniqueConstraint

    schema: dict[str, dict[str, Any]] = {}
    for table in metadata.sorted_tables:
        schema[table.name] = {
            "pk": (table.primary_key.name, tuple(col.name for col in table.primary_key.columns)),
            "indexes": {
                (ix.name, tuple(col.name for col in ix.columns), bool(ix.unique))
                for ix in table.indexes
            },
            "uniques": {
                (uq.name, tuple(col.name for col in uq.columns))
                for uq in table.constraints
                if isinstance(uq, UniqueConstraint)
            },
            "fks": {
                (
                    fk.name,
                    tuple(col.name for col in fk.columns),
                    fk.referred_table.name,
                    tuple(element.column.name for element in fk.elements),
                    fk.ondelete,
                )
                for fk in table.constraints
                if isinstance(fk, ForeignKeyConstraint)
            },
            "nullable": {col.name: col.nullable for col in table.columns},
        }
    return schema


async def test_upgrade_head_on_empty_database_matches_models(db_url: str) -> None:
    assert await upgrade(db_url) == (None, HEAD)

    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_diffs) == []
            reflected = await connection.run_sync(_reflected_schema)
    finally:
        await engine.dispose()
    # compare_metadata ignores constraint names and ON DELETE; the naming convention and the
    # cascades are part of the contract (later migrations drop constraints by name).
    assert reflected == _model_schema(Base.metadata)


async def test_empty_database_is_behind_until_upgraded(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        state = await schema_state(engine)
        assert (state.current, state.head, state.behind, state.ahead) == (None, HEAD, True, False)
        with pytest.raises(SchemaBehind, match=re.escape("Run: mio db upgrade")) as caught:
            await require_current_schema(engine)
        assert str(caught.value) == (
            f"The database is behind the code (at no revision yet, code needs {HEAD}). "
            "Run: mio db upgrade"
        )

        await upgrade(db_url)

        await require_current_schema(engine)
        state = await schema_state(engine)
        assert (state.current, state.up_to_date) == (HEAD, True)
    finally:
        await engine.dispose()


def test_schema_errors_name_the_fix() -> None:
    assert str(SchemaBehind("0001", "0002")) == (
        "The database is behind the code (at 0001, code needs 0002). Run: mio db upgrade"
    )
    assert str(SchemaAhead("0042", "0001")) == (
        "The database was migrated by a newer Mio (revision 0042). "
        "Upgrade Mio, or point MIO_DATABASE_URL at another database."
    )


async def test_unknown_revision_means_a_newer_mio_migrated_it(db_url: str) -> None:
    await upgrade(db_url)
    engine = make_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))

        state = await schema_state(engine)
        assert (state.current, state.ahead, state.behind) == ("0999", True, False)
        with pytest.raises(SchemaAhead, match=r"newer Mio \(revision 0999\)\. Upgrade Mio"):
            await require_current_schema(engine)
        # Old code must not try to "upgrade" a newer schema either.
        with pytest.raises(SchemaAhead):
            await upgrade(db_url)
        assert (await schema_state(engine)).current == "0999"
    finally:
        await engine.dispose()


async def test_upgrade_is_idempotent(db_url: str) -> None:
    assert await upgrade(db_url) == (None, HEAD)
    assert await upgrade(db_url) == (HEAD, HEAD)

    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_diffs) == []
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_queue_instead_of_colliding(db_url: str) -> None:
    results = await asyncio.gather(upgrade(db_url), upgrade(db_url))
    assert sorted(results, key=lambda r: r[0] is not None) == [(None, HEAD), (HEAD, HEAD)]


async def test_downgrade_to_base_removes_every_table(db_url: str) -> None:
    await upgrade(db_url)

    def downgrade(connection: Connection) -> list[str]:
        config = alembic_config(db_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return inspect(connection).get_table_names()

    assert await run_migrations(db_url, downgrade) == ["alembic_version"]
    assert await upgrade(db_url) == (None, HEAD)


async def test_upgrade_works_from_any_working_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert await upgrade(db_url) == (None, HEAD)


async def test_alembic_command_line_path_migrates_the_same_way(db_url: str) -> None:
    """env.py without a connection (the `alembic` CLI) opens its own, from the URL."""
    await asyncio.to_thread(command.upgrade, alembic_config(db_url), "head")

    engine = make_engine(db_url)
    try:
        assert (await schema_state(engine)).up_to_date
    finally:
        await engine.dispose()


async def test_migrated_schema_enforces_keys_and_cascades(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    async with db_sessionmaker() as session:
        person = Person(match_key="bob@example.com", email="bob@example.com", created_at=now)
        session.add(person)
        await session.flush()
        session.add_all(
            [
                Account(platform="slack", platform_user_id="U1", person_id=person.id, seen_at=now),
                Sync(
                    person_id=person.id,
                    platform="teams",
                    status="pending",
                    kind="existing",
                    primary_platform="slack",
                    requested_at=now,
                    updated_at=now,
                ),
            ]
        )
        await session.commit()

        session.add(Account(platform="zoom", platform_user_id="Z1", person_id=999, seen_at=now))
        with pytest.raises(IntegrityError):
            await session.commit()
        await session.rollback()

        await session.delete(person)
        await session.commit()
        assert (await session.scalars(select(Sync))).all() == []
        account = (await session.scalars(select(Account))).one()
        await session.refresh(account)
        assert account.person_id is None


async def test_datetimes_come_back_as_the_same_instant_in_utc(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    local = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    async with db_sessionmaker() as session:
        session.add(Person(match_key="amy@example.com", created_at=local))
        await session.commit()
    async with db_sessionmaker() as session:
        stored = (await session.scalars(select(Person.created_at))).one()
    assert stored == local
    assert stored.utcoffset() == timedelta(0)


async def test_unused_sync_dm_ref_is_sql_null(db_engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with db_engine.begin() as connection:
        person_id = await connection.scalar(
            insert(Person)
            .values(match_key="x", display_name="", primary_chosen_by_admin=False, created_at=now)
            .returning(Person.id)
        )
        await connection.execute(
            insert(Sync).values(
                person_id=person_id,
                platform="teams",
                status="synced",
                kind="represented",
                primary_platform="slack",
                requested_by="",
                requested_at=now,
                updated_at=now,
                token_used=False,
                reminders_sent=0,
                dm_ref=None,
            )
        )
        missing = await connection.scalar(text("SELECT count(*) FROM syncs WHERE dm_ref IS NULL"))
    assert missing == 1


def test_revisions_are_numbered_and_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    assert [rev.revision for rev in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    for previous, rev in zip([None, *revisions], revisions, strict=False):
        assert rev.down_revision == (previous.revision if previous else None)
        assert rev.path is not None
        assert re.fullmatch(rf"{rev.revision}_[a-z0-9_]+\.py", Path(rev.path).name), rev.path
        assert rev.doc, f"{rev.path} needs a one-line message"
    assert script.get_heads() == [HEAD]
    assert Path(script.dir).resolve() == MIGRATIONS.resolve()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://mio:pw@db:5432/mio", "postgresql+asyncpg://mio:pw@db:5432/mio"),
        ("postgresql://mio:pw@db/mio", "postgresql+asyncpg://mio:pw@db/mio"),
        ("postgresql+asyncpg://mio@db/mio", "postgresql+asyncpg://mio@db/mio"),
        ("postgres://mio:p%40ss%25@db/mio", "postgresql+asyncpg://mio:p%40ss%25@db/mio"),
        ("postgres://mio@db/mio?sslmode=require", "postgresql+asyncpg://mio@db/mio?ssl=require"),
        ("sqlite:///var/mio.db", "sqlite+aiosqlite:///var/mio.db"),
        ("sqlite:////srv/mio/var/mio.db", "sqlite+aiosqlite:////srv/mio/var/mio.db"),
        ("sqlite+aiosqlite:///var/mio.db", "sqlite+aiosqlite:///var/mio.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ],
)
def test_pasted_urls_are_rewritten_to_the_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


async def test_make_engine_accepts_pasted_postgres_url() -> None:
    engine = make_engine("postgres://mio@db.invalid/mio")  # never connects
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "asyncpg")
        # Renewed before load balancers drop them, not pinged before every use.
        assert engine.pool._recycle == POOL_RECYCLE_S
        assert not engine.pool._pre_ping
    finally:
        await engine.dispose()


def test_default_database_is_a_sqlite_file_under_var(tmp_path: Path) -> None:
    assert database_url_default(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/var/mio.db"
    assert (tmp_path / "var").is_dir()


async def test_sqlite_engine_enforces_keys_waits_for_locks_and_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/mio.db")
    try:
        async with engine.connect() as connection:
            pragmas = [
                (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert pragmas == [1, "wal", 15_000]
