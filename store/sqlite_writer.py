"""One SQLite writer at a time per process (`SqliteWriteGate`), so writers queue in arrival
order instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import in_greenlet

try:  # SQLAlchemy 2.1 renamed await_only, which 2.0 has
    from sqlalchemy.util.concurrency import await_
except ImportError:  # pragma: no cover - SQLAlchemy 2.0
    from sqlalchemy.util.concurrency import await_only as await_

# Statements that make pysqlite open a transaction (and SQLite take its one write lock).
_SQLITE_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS_WRITE_LOCK = "mio_sqlite_write_lock"


class SqliteWriteGate:
    """One write transaction at a time in this process, queued on an asyncio lock.

    SQLite has one write lock per database. Left to SQLite, writers that find it taken sleep in
    its busy handler (1, 2, 5 … up to 100 ms between tries), so with 16 webhooks at once one
    request in a hundred waited over a second. Here a connection takes the process's lock just
    before its first write statement (when pysqlite opens the transaction) and gives it back
    once its COMMIT or ROLLBACK has returned, so the next writer starts at once, in arrival
    order, and never meets SQLite's lock. Writers in other processes (a `mio` command beside
    `mio serve`) still meet there, and wait out the busy timeout as before.

    A writer that waits longer than `timeout` fails as SQLite would ("database is locked"), so
    a transaction that waits for itself through a second session fails instead of hanging.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def attach(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        # The lock is given back once COMMIT or ROLLBACK has returned, not when it is about to
        # run (the "commit" event): the next writer would find SQLite's lock still held.
        dialect = sync_engine.dialect
        dialect.do_commit = _then_release(dialect.do_commit)  # type: ignore[method-assign,assignment]
        dialect.do_rollback = _then_release(dialect.do_rollback)  # type: ignore[method-assign,assignment]
        # Backstops: a connection invalidated or returned mid-transaction gives the lock back.
        for name in ("checkin", "invalidate", "close"):
            event.listen(sync_engine.pool, name, self._release_record)

    def _lock(self) -> asyncio.Lock:
        # One lock per event loop: tests run several loops, and a lock belongs to one.
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: ExecutionContext | None,
        _executemany: bool,
    ) -> None:
        if _HOLDS_WRITE_LOCK in conn.info or not in_greenlet():
            return
        if not statement.lstrip()[:8].upper().startswith(_SQLITE_WRITES):
            return
        lock = self._lock()
        try:
            # Uncontended (the usual case with one process): no timeout to arm.
            await_(lock.acquire() if not lock.locked() else self._wait(lock))
        except TimeoutError:
            raise exc.OperationalError(
                statement, None, Exception(f"database is locked (waited {self.timeout:g} s)")
            ) from None
        conn.info[_HOLDS_WRITE_LOCK] = lock

    async def _wait(self, lock: asyncio.Lock) -> bool:
        return await asyncio.wait_for(lock.acquire(), self.timeout)

    @staticmethod
    def _release_record(_dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
        _release(record.info)


def _then_release(end: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap the dialect's COMMIT or ROLLBACK so the write lock is given back right after it.

    SQLAlchemy passes the pool's connection (whose `info` holds the lock) from a Connection and
    from the pool's reset alike.
    """

    def run(dbapi_connection: Any) -> None:
        try:
            end(dbapi_connection)
        finally:
            try:
                info = dbapi_connection.info
            except (AttributeError, NotImplementedError):  # the dialect's first-connect probe
                info = None
            if info is not None:
                _release(info)

    return run


def _release(info: dict[Any, Any]) -> None:
    lock = info.pop(_HOLDS_WRITE_LOCK, None)
    if lock is not None:
        lock.release()
