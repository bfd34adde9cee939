"""INSERT … ON CONFLICT for both databases, so bulk imports are one statement a page."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT, imported on first use: a SQLite run never loads PostgreSQL's."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _insert(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return _dialect_insert(dialect)(model)


async def upsert(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows; on a key conflict update `update` columns (or leave the row alone).

    With `returning` (and `update`), the named columns of every row, inserted or updated, come
    back from the same statement: no second query to look the keys up again.
    """
    if not rows:
        return []
    # Parameters as a list, not .values(rows): the statement compiles once and is cached, and
    # SQLAlchemy batches the rows into multi-row INSERTs ("insertmanyvalues").
    stmt = _insert(session, model)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if returning:
        table = model.__table__
        result = await session.execute(stmt.returning(*(table.c[c] for c in returning)), list(rows))
        return [tuple(r) for r in result.all()]
    await session.execute(stmt, list(rows))
    return []


async def insert_ignore(
    session: AsyncSession, model: type[DeclarativeBase], row: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Insert one row unless its key exists; True when this call inserted it.

    Every webhook runs this (its delivery id), so the statement is built once per dialect,
    model and key and the row goes in as parameters: building it with `.values(row)` each time
    cost more than the database round trip (benchmarks/README.md).
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    result = await session.execute(_insert_ignoring(dialect, model, tuple(keys)), row)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@functools.cache
def _insert_ignoring(dialect: str, model: type[DeclarativeBase], keys: tuple[str, ...]) -> Any:
    insert = _dialect_insert(dialect)
    # On the table, not the mapped class: with parameters the ORM would take it for a bulk
    # insert, whose result has no rowcount.
    table = cast(Table, model.__table__)
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))
