"""Waking this process's background loops when a transaction has queued work for them.

An `asyncio.Event` set while the transaction is still open wakes a loop that then finds nothing
(the rows are not committed yet) and goes back to sleep for its whole idle period; so the event
is set after the commit, and not at all when the transaction rolls back.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_KEY = "mio.wake_after_commit"


def after_commit(session: AsyncSession, ready: asyncio.Event) -> None:
    """Set `ready` once `session`'s current transaction commits."""
    pending: set[asyncio.Event] | None = session.info.get(_KEY)
    if pending is None:
        pending = session.info[_KEY] = set()
        sync_session = session.sync_session
        event.listen(sync_session, "after_commit", _fire)
        event.listen(sync_session, "after_rollback", _forget)
    pending.add(ready)


def _fire(session: Session) -> None:
    # SQLAlchemy runs this on the event loop's thread (inside the async session's greenlet).
    for ready in session.info.pop(_KEY, set()):
        ready.set()
    session.info[_KEY] = set()


def _forget(session: Session) -> None:
    session.info[_KEY] = set()
