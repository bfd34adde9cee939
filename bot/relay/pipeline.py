"""One captured message, from "A wrote this to B on P" to a queued post (or a sentence why not).

Both captures end here: a message seen through a subscription (`bot.relay.capture`) and one
written to the bot (`bot.relay.to_bot`). Everything happens in the caller's transaction, the
one that records the inbound delivery: the message map row is inserted first, under its unique
source ids, so the same message seen twice (through both members' subscriptions, or
redelivered) queues one post and tells nobody twice (issue 10 "What must hold" 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core import Core
from bot.prose import Prose
from bot.relay import mentions, people, tell, tokens
from bot.relay.kinds import RelayPost
from bot.relay.routing import (
    Deliver,
    NotRelayed,
    PersonView,
    Reason,
    Verdict,
    Via,
    conversation_key,
)
from bot.relay.routing import route as decide
from bot.types import Sender
from store.repositories import RelayMessages

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message was captured: the message map's captured side."""

    platform: str
    conversation_id: str
    message_id: str


async def relay(
    session: AsyncSession,
    core: Core,
    source: Source,
    sender_id: int,
    recipient_id: int,
    prose: Prose,
) -> Verdict | None:
    """Route and queue one message; None when it was handled before (or a person is gone)."""
    sender = await people.view(session, sender_id)
    recipient = await people.view(session, recipient_id)
    if sender is None or recipient is None:
        return None
    now = core.clock.now()
    verdict = decide(sender, recipient, source.platform, now)
    if (
        isinstance(verdict, Deliver)
        and verdict.via is Via.USER
        and verdict.waiting_until is None
        and not await tokens.covers_relay(session, core, sender.person_id, verdict.target)
    ):
        # Linked before the relay asked for its scopes: through the bot until they link again
        # (they were asked to, once: bot.relay.tokens.ask_relink).
        verdict = replace(verdict, via=Via.BOT, sync_id=None)
    if isinstance(verdict, NotRelayed) and verdict.reason is Reason.NOT_A_RELAY:
        return verdict  # written where the recipient lives (or our own post's echo): no trace
    message_id = await _record(session, source, sender, recipient, verdict, now)
    if message_id is None:
        log.info("relay: %s:%s seen before", source.platform, source.message_id)
        return None
    if isinstance(verdict, NotRelayed):
        await tell.not_relayed(session, core, verdict, sender, recipient, source.platform)
        return verdict
    await _queue(session, core, message_id, source, sender, recipient, verdict, prose)
    log.info("relay: message %s queued for %s via %s", message_id, verdict.target, verdict.via)
    return verdict


async def _record(
    session: AsyncSession,
    source: Source,
    sender: PersonView,
    recipient: PersonView,
    verdict: Verdict,
    now: datetime,
) -> int | None:
    deliver = verdict if isinstance(verdict, Deliver) else None
    state = (
        "refused" if deliver is None else "queued" if deliver.waiting_until is None else "waiting"
    )
    return await RelayMessages(session).add(
        {
            "source_platform": source.platform,
            "source_conversation": source.conversation_id,
            "source_message_id": source.message_id,
            "sender_person_id": sender.person_id,
            "recipient_person_id": recipient.person_id,
            "target_platform": None if deliver is None else deliver.target,
            "via": None if deliver is None else deliver.via.value,
            "state": state,
            "reason": verdict.reason.value if isinstance(verdict, NotRelayed) else None,
            "received_at": now,
        }
    )


async def _queue(
    session: AsyncSession,
    core: Core,
    message_id: int,
    source: Source,
    sender: PersonView,
    recipient: PersonView,
    deliver: Deliver,
    prose: Prose,
) -> None:
    """The post, sealed, in its conversation's order; a sender who must link again is told
    the message waits."""
    post = RelayPost(
        relay_message_id=message_id,
        sender_id=sender.person_id,
        recipient_id=recipient.person_id,
        source=source.platform,
        via=deliver.via.value,
        queued_at=core.clock.now(),
        to=await people.directory_user(session, deliver.target, deliver.to_user_id),
        sender=Sender(sender.name, core.label(source.platform)),
        prose=await mentions.mapped(session, prose, source.platform, deliver.target),
    )
    await outbox.queue(
        session,
        core,
        deliver.target,
        post,
        key=f"relay:{message_id}",
        sync_id=deliver.sync_id,
        ordering_key=conversation_key(sender.person_id, recipient.person_id),
        waiting_until=deliver.waiting_until,
    )
    if deliver.waiting_until is not None:
        await tell.waiting(session, core, sender, recipient, source.platform, deliver.target)
