"""Inbound events from every adapter: de-duplicated in the database, then routed."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bot import consent, messages
from bot.commands import run
from bot.core import Core
from bot.platform import EventHandler
from bot.types import ButtonPress, InboundCommand, InboundEvent, Message
from store.repositories import Events

log = logging.getLogger(__name__)


def make_handler(core: Core) -> EventHandler:
    async def handle(event: InboundEvent) -> Message | None:
        try:
            async with core.transaction() as session:
                # The processed-id row commits with the state change, or not at all.
                if not await Events(session).first_time(
                    event.platform, event.delivery_id, core.clock.now()
                ):
                    log.info("repeat delivery %s ignored", event.delivery_id)
                    return None
                if isinstance(event, InboundCommand):
                    return await run.run(session, core, event)
                return await _press(session, core, event)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("handling %s failed (ref: %s)", event.delivery_id, ref)
            return messages.note(f"Something went wrong (ref: {ref}). Nothing was changed.")

    return handle


async def _press(session: AsyncSession, core: Core, event: ButtonPress) -> Message | None:
    if event.action_id in (messages.ALLOW, messages.DECLINE):
        return await consent.press(session, core, event)
    if event.action_id in (messages.CONFIRM, messages.CANCEL):
        return await run.confirm(session, core, event)
    return messages.note("That button is no longer in use.")
