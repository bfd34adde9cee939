"""Relayed messages waiting for a person to link again: released when they do, expired after.

A `TokenRefused` post or capture leaves its outbox row `waiting`, sealed, with its deadline in
`next_attempt_at` (issue 10 "What must hold" 6, at most 24 h). `release` puts a sync's rows
back to pending when the person links again (the lifecycle calls it when the sync is synced);
`expire_waiting` (run by the lifecycle's scheduler) erases what is past its deadline, marks the
message expired and tells its sender.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import wake
from bot.core import Core
from bot.relay import tell
from bot.relay.kinds import RelayPost
from store.models import OutboxItem
from store.repositories import Audit, Outbox, RelayMessages

log = logging.getLogger(__name__)

EXPIRED = "expired: the person did not link again in time"


async def release(session: AsyncSession, core: Core, sync_id: int) -> int:
    """The sync's waiting rows back to pending, due now; how many."""
    rows = await session.scalars(
        select(OutboxItem).where(OutboxItem.sync_id == sync_id, OutboxItem.state == "waiting")
    )
    message_ids = [
        int(row.payload["relay_message_id"]) for row in rows if row.kind == RelayPost.name
    ]
    released = await Outbox(session).release(sync_id, core.clock.now())
    await RelayMessages(session).set_state(message_ids, "queued")
    if released:
        wake.after_commit(session, core.outbox_ready)
        log.info("relay: %d waiting row(s) of sync %s released", released, sync_id)
    return released


async def expire_waiting(core: Core, batch: int = 100) -> int:
    """Expire every waiting row past its deadline; how many. Safe in several processes: the
    rows are locked as they are taken (SKIP LOCKED) and each is expired once."""
    expired = 0
    while True:
        async with core.transaction() as session:
            rows = await Outbox(session).expired_waiting(core.clock.now(), batch)
            for row in rows:
                await _expire(session, core, row)
            expired += len(rows)
        if len(rows) < batch:
            return expired


async def _expire(session: AsyncSession, core: Core, row: OutboxItem) -> None:
    now = core.clock.now()
    row.state, row.secret, row.done_at, row.last_error = "failed", None, now, EXPIRED
    Audit(session).add(now, "system", f"outbox.{row.kind}.expired", None, outbox_id=row.id)
    if row.kind != RelayPost.name:
        return
    payload = row.payload
    await RelayMessages(session).set_state([int(payload["relay_message_id"])], "expired")
    await tell.expired_by_id(
        session,
        core,
        int(payload["sender_id"]),
        int(payload["recipient_id"]),
        str(payload["source"]),
        row.platform,
    )
