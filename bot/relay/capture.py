"""A message seen through a person's user-token subscription (`DmSeen`), taken in by the core.

The webhook path and a backfill (`messages_since`, run by the lifecycle) both call `seen`, in
the transaction that records the delivery, so nothing is acknowledged before it is committed:

1. our own post's echo (its ids are in `relay_posts`) is dropped (issue 10 "What must hold" 3);
2. a notification without the text or the other member (Graph, Webex, Slack) is completed
   outside the webhook, by a `relay_capture` outbox row that reads it with the owner's token,
   in the conversation's order, and comes back here when it has;
3. a complete one is routed and queued once (`bot.relay.pipeline`).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core import Core
from bot.relay import people, pipeline
from bot.relay.kinds import RelayCapture
from bot.types import DmSeen
from store.repositories import RelayPosts, Syncs

log = logging.getLogger(__name__)


async def seen(session: AsyncSession, core: Core, event: DmSeen) -> None:
    """Take in one message a subscription saw (ids in logs, never its text)."""
    platform = event.platform
    if await RelayPosts(session).is_echo(platform, event.conversation_id, event.message_id):
        log.info("relay: echo of our post %s:%s dropped", platform, event.message_id)
        return
    if not event.complete:
        await _complete_later(session, core, event)
        return
    assert event.prose is not None and event.other_id is not None  # `complete` says so
    sender = await people.person_of(session, platform, event.sender_id)
    recipient = await people.person_of(session, platform, event.other_id)
    if sender is None or recipient is None or sender == recipient:
        log.info("relay: %s:%s is not between two known people", platform, event.message_id)
        return
    source = pipeline.Source(platform, event.conversation_id, event.message_id)
    await pipeline.relay(session, core, source, sender, recipient, event.prose)


async def _complete_later(session: AsyncSession, core: Core, event: DmSeen) -> None:
    """Queue the read of the message with the owner's token, in its conversation's order;
    its key is the message's, so the same message seen twice is read once."""
    owner = await people.person_of(session, event.platform, event.owner_id)
    if owner is None:
        log.info("relay: %s subscription owner unknown; ignored", event.platform)
        return
    sync = await Syncs(session).get(owner, event.platform)
    await outbox.queue(
        session,
        core,
        event.platform,
        RelayCapture(owner, event),
        key=f"capture:{event.platform}:{event.conversation_id}:{event.message_id}",
        sync_id=None if sync is None else sync.id,
        ordering_key=f"capture:{event.platform}:{event.conversation_id}",
    )
