"""A person's user token that the platform refused: what the relay needs from the lifecycle.

The lifecycle branch owns this module (re-consent DM, token revocation, uninstall events); this
is the one function the relay pipeline calls, with the smallest real body: the sync fails with
the reason `token_revoked` (which `bot.relay.routing` reads to keep the person's messages
waiting), once, with an audit entry.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.relay.routing import TOKEN_REVOKED
from bot.sync import Event, Status, advance
from store.repositories import Audit, Syncs


async def token_refused(session: AsyncSession, core: Core, person_id: int, platform: str) -> None:
    """Fail the person's synced sync on `platform` as `token_revoked` (no-op when it is not
    synced any more: another row found out first)."""
    sync = await Syncs(session).get(person_id, platform, lock=True)
    if sync is None or sync.status != Status.SYNCED:
        return
    # The state machine has no event of its own for a refused token yet; synced → failed is
    # the move ACCOUNT_INACTIVE makes, and the stored reason says which it was.
    status = advance(Status.SYNCED, Event.ACCOUNT_INACTIVE)
    now = core.clock.now()
    sync.status, sync.reason, sync.updated_at = status, TOKEN_REVOKED, now
    Audit(session).add(
        now, "system", "sync.failed", person_id, platform=platform, reason=TOKEN_REVOKED
    )
