"""Reminders and expiry of pending syncs, claimed from the database when they are due.

What is due lives in `syncs.next_due_at`, and a reminder counts only if this process moved
`reminders_sent` first, so two processes never remind anyone twice. `forever` sleeps until the
earliest due time, or until this process requests a sync (`core.reminders_ready`), and at most
`poll` so it also sees rows other processes wrote; a fixed once-a-minute tick would send a
reminder due in 5 seconds a minute late, and sleep through short expiries.

The relay's subscriptions are the scheduler's other due work (`relay_forever`): repaired once
at `mio serve` start, then renewed before they expire (`bot.relay.subscriptions.renew_due`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle, messages, outbox
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.relay import subscriptions, tokens, waiting
from bot.sync import Due, Event, next_due_at, reminder_step, reminders_passed
from store.models import Sync
from store.repositories import Audit, Subscriptions, Syncs

log = logging.getLogger(__name__)

POLL = timedelta(minutes=1)  # how late a reminder another process queued may be seen
RETRY = timedelta(seconds=1)  # after a failed round, or when due rows were left (locked)
RELAY_RETRY = timedelta(seconds=5)  # after a failed renewal round
RELAY_PAGE = 500  # syncs per transaction in the start-up repair

# Waits until the event is set or the seconds pass; injectable so tests need not sleep.
Sleep = Callable[[asyncio.Event, float], Awaitable[None]]


def wake_delay(now: datetime, earliest: datetime | None, poll: timedelta) -> float:
    """Seconds to sleep: until the earliest due time, but at most `poll`, and never negative."""
    wait = poll if earliest is None else min(poll, earliest - now)
    return max(wait.total_seconds(), 0.0)


async def earliest_due(core: Core) -> datetime | None:
    """When the next pending sync needs a reminder or expires (None: nothing pending)."""
    async with core.sessions() as session:
        found = await session.scalar(
            select(func.min(Sync.next_due_at)).where(Sync.status == "pending")
        )
    return found


async def _wait(ready: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), timeout=seconds)


async def forever(core: Core, poll: timedelta = POLL, sleep: Sleep = _wait) -> None:
    """Handle due work, then sleep until more is due; runs until cancelled."""
    while True:
        core.reminders_ready.clear()  # before looking, so a request made meanwhile wakes us
        try:
            await tick(core)
            earliest = await earliest_due(core)
            now = core.clock.now()
            if earliest is not None and earliest <= now:  # left by a process holding the row
                earliest = now + RETRY
        except Exception:
            log.exception("reminder round failed; retrying")
            earliest = core.clock.now() + RETRY
        await sleep(core.reminders_ready, wake_delay(core.clock.now(), earliest, poll))


async def tick(core: Core, batch: int = 100) -> int:
    """Handle every due reminder and expiry; returns how many syncs moved."""
    moved = 0
    while True:
        async with core.transaction() as session:
            due = await Syncs(session).due(core.clock.now(), batch)
            for sync in due:
                moved += await _step(session, core, sync)
        if len(due) < batch:
            return moved


async def _step(session: AsyncSession, core: Core, sync: Sync) -> int:
    now = core.clock.now()
    policy = lifecycle.policy(core)
    step = reminder_step(sync.requested_at, sync.reminders_sent, now, policy)
    if step is Due.EXPIRE:
        return int(await lifecycle.fail_sync(session, core, sync.id, Event.EXPIRED))
    if step is Due.WAIT:
        sync.next_due_at = next_due_at(sync.requested_at, sync.reminders_sent, policy)
        return 0
    sent = sync.reminders_sent
    # After an outage, one catch-up reminder rather than every missed one back to back.
    passed = max(reminders_passed(sync.requested_at, now, policy), sent + 1)
    if not await Syncs(session).advance_reminder(
        sync, passed, next_due_at(sync.requested_at, passed, policy)
    ):
        return 0  # another process got there first
    person, accounts, _ = await lifecycle.load(session, sync.person_id)
    target = lifecycle.active_account(accounts, sync.primary_platform)
    if target is None:
        return int(await lifecycle.fail_sync(session, core, sync.id, Event.ACCOUNT_INACTIVE))
    # A fresh token for the reminder: the older DM's buttons or sign-in link stop working.
    token = new_token()
    sync.token_hash, sync.token_used = token_hash(token), False
    if sync.allowed_at is not None:  # they pressed Allow but never signed in: remind of that
        url = core.platforms[sync.platform].authorize_url(token, core.redirect_uri(sync.platform))
        message = messages.authorize_step(core.label(sync.platform), url, reminder=True)
    else:
        message = messages.consent_request(
            person.display_name,
            core.label(sync.primary_platform),
            core.label(sync.platform),
            token,
            reminder=passed,
        )
    await outbox.send_dm(
        session,
        core,
        lifecycle.as_user(target),
        message,
        key=f"remind:{sync.id}:{sync.requested_at.timestamp()}:{passed}",
        sync_id=sync.id,
    )
    Audit(session).add(
        now, "system", "sync.reminded", person.id, platform=sync.platform, reminder=passed
    )
    return 1


# --- The relay's subscriptions ---------------------------------------------------------------


async def repair_subscriptions(core: Core) -> int:
    """At `mio serve` start: every synced consent sync on a relay platform gets a subscribe
    row (made, or repaired: a Webex webhook turned inactive, a Graph subscription expired
    while Mio was down), or, when its grant lacks the relay's scopes, one re-link DM. One row
    per sync and day, so restarts do not pile them up."""
    platforms = [p for p in core.platforms if tokens.relay_adapter(core, p) is not None]
    day, after, queued = core.clock.now().date().isoformat(), 0, 0
    while platforms:
        async with core.transaction() as session:
            page = await Subscriptions(session).synced_consent(platforms, after, RELAY_PAGE)
            for sync_id, person_id, platform in page:
                if await tokens.covers_relay(session, core, person_id, platform):
                    key = f"subscribe:repair:{sync_id}:{day}"
                    await subscriptions.subscribe(session, core, person_id, platform, key)
                    queued += 1
                else:
                    sync = await Syncs(session).by_id(sync_id, lock=True)
                    if sync is not None:
                        await tokens.ask_relink(session, core, sync)
        if len(page) < RELAY_PAGE:
            break
        after = page[-1][0]
    return queued


async def relay_forever(core: Core, poll: timedelta = POLL) -> None:
    """Repair at start, then renew what comes due (a renewal is due 30 minutes or more before
    its expiry, so a poll of a minute is soon enough); runs until cancelled."""
    try:
        log.info("relay subscriptions: %d queued for repair", await repair_subscriptions(core))
    except Exception:
        log.exception("relay subscription repair failed; renewals go on")
    while True:
        try:
            await subscriptions.renew_due(core)
            await waiting.expire_waiting(core)
            async with core.sessions() as session:
                earliest = await Subscriptions(session).earliest_due()
        except Exception:
            log.exception("relay renewal round failed; retrying")
            earliest = core.clock.now() + RELAY_RETRY
        wait = (
            poll if earliest is None else min(poll, max(earliest - core.clock.now(), RELAY_RETRY))
        )
        await asyncio.sleep(wait.total_seconds())
