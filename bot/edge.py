"""The one inbound edge: every adapter's neutral event is de-duplicated, handled and committed
here, and the adapter is told how to answer the delivery (`Outcome`).

Adapters only verify the signature, translate the body into an `InboundEvent` and render the
`Outcome` natively; nothing is acknowledged before the commit, because the adapter answers only
after `handle` returns. The failure policy lives here once, in `on_failure`:

- an event the platform redelivers (a message typed to the bot) that fails before the commit
  is refused with a 5xx (`Redeliver`): nothing was changed, and the redelivery runs it again;
- an interactive one (a slash command, a button press: nobody retries those usefully) gets a
  sentence with a reference, saying that nothing was changed.

A repeated delivery finds its id already recorded and changes nothing (`Answered(None)`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot import consent, messages
from bot.commands import run
from bot.core import Core
from bot.platform import EventHandler
from bot.relay import capture, subscriptions, tokens
from bot.types import (
    AccessRevoked,
    Answered,
    ButtonPress,
    DmSeen,
    InboundCommand,
    InboundEvent,
    Message,
    Outcome,
    Redeliver,
    SubscriptionNotice,
)
from store.repositories import Events

log = logging.getLogger(__name__)


# What runs an event inside the edge's transaction: its answer, or None for no answer.
Route = Callable[[AsyncSession, Core, InboundEvent], Awaitable[Message | None]]


def make_handler(core: Core, route: Route | None = None) -> EventHandler:
    """The core's `EventHandler`: one transaction per event, holding its delivery id.

    The processed-id row is written first, in the same transaction as whatever the event
    changes, so both commit or neither does: a failure leaves no trace, and its redelivery runs
    as if it were the first. The row is written even for events that turn out to change
    nothing (`/mio help`): the edge cannot know that before running the handler, and running a
    repeat first to find out would repeat what a handler does outside the database (asking the
    platform who an unknown caller is, starting an import), and answer a retried DM twice.
    `route` runs the event (the commands and presses below unless a test gives its own).
    """
    run_event = route or _route

    async def handle(event: InboundEvent) -> Outcome:
        try:
            async with core.transaction() as session:
                if not _reads_only(event) and not await Events(session).first_time(
                    event.platform, event.delivery_id, core.clock.now()
                ):
                    log.info("repeat delivery %s ignored", event.delivery_id)
                    return Answered(None)
                answer = await run_event(session, core, event)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("handling %s failed (ref: %s)", event.delivery_id, ref)
            return on_failure(event, ref)
        return Answered(answer)  # the transaction has committed

    return handle


def _reads_only(event: InboundEvent) -> bool:
    """An interactive request that changes nothing (help): answered again if replayed."""
    return isinstance(event, InboundCommand) and run.reads_only(event)


def on_failure(event: InboundEvent, ref: str) -> Outcome:
    """How to answer an event whose handling failed before the commit (nothing was changed)."""
    if event.redeliverable:
        return Redeliver(ref)
    return Answered(messages.note(f"Something went wrong (ref: {ref}). Nothing was changed."))


async def _route(session: AsyncSession, core: Core, event: InboundEvent) -> Message | None:
    if isinstance(event, InboundCommand):
        return await run.run(session, core, event)
    if isinstance(event, ButtonPress):
        return await _press(session, core, event)
    await _relay(session, core, event)
    return None  # a relayed message is answered by delivering it, not by the bot


async def _relay(
    session: AsyncSession, core: Core, event: DmSeen | SubscriptionNotice | AccessRevoked
) -> None:
    """The relay's events: a message seen through someone's subscription, and notices about
    subscriptions and tokens."""
    if isinstance(event, DmSeen):
        await capture.seen(session, core, event)
        return
    if isinstance(event, SubscriptionNotice):
        await subscriptions.notice(session, core, event)
    else:
        await tokens.access_revoked(session, core, event)


async def _press(session: AsyncSession, core: Core, event: ButtonPress) -> Message | None:
    if event.action_id in (messages.ALLOW, messages.DECLINE):
        return await consent.press(session, core, event)
    if event.action_id in (messages.CONFIRM, messages.CANCEL):
        return await run.confirm(session, core, event)
    return messages.note("That button is no longer in use.")
