"""Subscription and access notices, recorded until the lifecycle handles them.

`SubscriptionNotice` (renew, recreate, backfill) and `AccessRevoked` (tokens or the app
removed) belong to the lifecycle (`bot.relay.subscriptions.notice`,
`bot.relay.tokens.access_revoked`); until those are merged the edge records each one here in
the audit log (ids only), so it is acknowledged after a commit and can be acted on later.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.types import AccessRevoked, SubscriptionNotice
from store.repositories import Audit


async def record(
    session: AsyncSession, core: Core, event: SubscriptionNotice | AccessRevoked
) -> None:
    now = core.clock.now()
    if isinstance(event, SubscriptionNotice):
        Audit(session).add(
            now,
            f"{event.platform}:{event.owner_id}",
            "relay.subscription_notice",
            None,
            what=event.what,
            subscription_id=event.subscription_id,
        )
        return
    Audit(session).add(
        now,
        event.platform,
        "relay.access_revoked",
        None,
        users=len(event.user_ids),
        app_removed=event.app_removed,
    )
