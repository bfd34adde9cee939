"""At-least-once delivery of the outbox rows that `bot.outbox` queues.

Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL) plus a claim lease, so several
processes share the work; each platform is paced to its published rate and paused when it
answers 429, through the core's rate gate, so every process keeps one pace and sees one pause.
Only a PermanentFailure ends a row as failed; everything else is retried. Every kind of row is
run the same way (`bot.outbox_kinds`); long ones run beside the batch and renew their lease,
so a row is taken over by another process only when the one running it died.

Relayed messages add three things. Rows with an ordering key (one conversation) are claimed
one per key at a time (`store.repositories.outbox`), so the rows of different conversations in
a batch run side by side while each conversation keeps its order. A post that got no answer
(`Unanswered`) is retried with the row marked, so the kind looks for the post before posting
again (no platform has an idempotency key for sends, relay-apis §7 surprise 22). A refused user
token (`TokenRefused`) may leave the row `waiting`, sealed, for its person to link again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import outbox
from bot.core import Core
from bot.outbox_kinds import KINDS, Kind, Queued, Result
from bot.platform import Pace
from bot.relay import subscriptions as _relay_kinds  # noqa: F401  (registers its kinds)
from bot.types import PermanentFailure, RetryLater, TokenRefused, Unanswered
from store.models import OutboxItem
from store.repositories import Audit, Disconnections, Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
RENEW_EVERY = LEASE / 4  # a running row renews its lease long before it runs out
# A long row (an import) holds a guard of its own that expires LEASE after its last renewal
# (bot.directory); its row outlives the guard, so a process that takes the row over after a
# crash finds the dead run's guard expired rather than "an import is already running".
BACKGROUND_LEASE = 2 * LEASE
MAX_BACKOFF = timedelta(hours=1)
SEND_BURST = 10
# `last_error` of a row whose last attempt was sent without an answer: the next one looks first.
UNANSWERED = "unanswered: "


def send_key(platform: str) -> str:
    """The gate of a platform's sends (its directory pages have their own)."""
    return f"{platform}:send"


def send_pace(rate_per_second: float) -> Pace:
    """The adapter's published rate, with the burst of SEND_BURST calls it tolerates."""
    return Pace(SEND_BURST, SEND_BURST / rate_per_second)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


@dataclass(frozen=True)
class Claimed:
    """A claimed row, copied out of its session: what the worker needs to run it."""

    row: Queued
    claim: str
    kind: str
    payload: dict[str, Any]
    secret: str | None
    ordering_key: str | None = None

    @classmethod
    def of(cls, item: OutboxItem, claim: str) -> Claimed:
        unanswered = (item.last_error or "").startswith(UNANSWERED)
        row = Queued(item.id, item.platform, item.sync_id, item.attempts, unanswered)
        return cls(row, claim, item.kind, dict(item.payload), item.secret, item.ordering_key)


class Worker:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.claim_id = uuid.uuid4().hex
        # Pauses as this worker last saw them, kept up to date with its own 429s in a batch.
        self._paused: dict[str, datetime | None] = {}
        self._running: set[asyncio.Task[None]] = set()  # long rows, run beside the batch

    async def run_once(self, limit: int = 50) -> int:
        """Deliver what is due now; returns how many rows were attempted."""
        now = self.core.clock.now()
        self._paused = {p: await self._paused_until(p, now) for p in self.core.platforms}
        ready = [p for p, until in self._paused.items() if until is None]
        if not ready:
            return 0
        claim = f"{self.claim_id}:{uuid.uuid4().hex[:8]}"
        async with self.core.transaction() as session:
            # A platform that removed the app takes nothing until it is connected again.
            gone = await Disconnections(session).platforms()
            ready = [p for p in ready if p not in gone]
            items = await Outbox(session).claim(now, now + LEASE, claim, limit, ready)
            batch = [Claimed.of(item, claim) for item in items]
        ordered: list[Claimed] = []
        for claimed in batch:
            kind = KINDS.get(claimed.kind)
            if kind is not None and kind.background:
                task = asyncio.create_task(self._deliver(claimed))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            elif claimed.ordering_key is not None:
                ordered.append(claimed)
            else:
                await self._deliver(claimed)
        # The claim leases at most one row per ordering key, so these are all of different
        # conversations: run together, a slow or retried one holds back none of the others.
        await asyncio.gather(*(self._deliver(claimed) for claimed in ordered))
        return len(batch)

    async def _deliver(self, claimed: Claimed) -> None:
        row = claimed.row
        now = self.core.clock.now()
        paused = self._paused.get(row.platform)
        if paused is not None and paused > now:  # a 429 earlier in this batch
            async with self.core.transaction() as session:
                await Outbox(session).finish(row.id, claimed.claim, next_attempt_at=paused)
            return
        try:
            kind = self._load(claimed)
            if kind.paced:
                await self._take_turn(row.platform)
            async with self._leased(claimed, kind.background):
                result = await kind.run(self.core, row)
        except Unanswered as exc:  # it may have been posted: the next attempt looks first
            await self._retry(claimed, UNANSWERED + exc.reason, exc.after)
        except RetryLater as exc:
            await self._retry(claimed, exc.reason, exc.after)
        except TokenRefused as exc:
            await self._refused(claimed, exc.reason)
        except PermanentFailure as exc:
            await self._failed(claimed, exc.reason)
        except Exception as exc:  # a bug or an unexpected answer: keep the row, retry later
            ref = uuid.uuid4().hex[:8]
            log.exception("outbox row %s failed unexpectedly (ref: %s)", row.id, ref)
            await self._retry(claimed, f"{exc!r} (ref: {ref})", None)
        else:
            await self._done(claimed, kind, result)

    def _load(self, claimed: Claimed) -> Kind:
        platform = claimed.row.platform
        kind = KINDS.get(claimed.kind)
        if kind is None:
            raise PermanentFailure(platform, f"unknown outbox kind {claimed.kind!r}")
        try:
            data = outbox.unseal(self.core, claimed.payload, claimed.secret)
        except ValueError as exc:  # sealed with another MIO_SECRET_KEY: no retry can help
            raise PermanentFailure(platform, str(exc)) from None
        try:
            return kind.load(data)
        except (KeyError, TypeError) as exc:
            raise PermanentFailure(platform, f"{claimed.kind} row is missing {exc}") from None

    async def _take_turn(self, platform: str) -> None:
        adapter = self.core.platforms[platform]
        await self.core.rate_gate.take(send_key(platform), send_pace(adapter.rate_per_second))

    @contextlib.asynccontextmanager
    async def _leased(self, claimed: Claimed, long: bool) -> AsyncIterator[None]:
        """Renew the row's lease while it runs, so no other process takes over a live row."""
        renewing = asyncio.create_task(self._renew(claimed, long))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, claimed: Claimed, long: bool) -> None:
        lease = BACKGROUND_LEASE if long else LEASE
        if not long:  # most rows end in well under RENEW_EVERY: no write for them
            await asyncio.sleep(RENEW_EVERY.total_seconds())
        while True:
            with contextlib.suppress(Exception):  # a missed renewal is retried; the lease is long
                async with self.core.transaction() as session:
                    until = self.core.clock.now() + lease
                    await Outbox(session).renew(claimed.row.id, claimed.claim, until)
            await asyncio.sleep(RENEW_EVERY.total_seconds())

    async def _paused_until(self, platform: str, now: datetime) -> datetime | None:
        until = await self.core.rate_gate.paused_until(send_key(platform))
        return until if until is not None and until > now else None

    async def _retry(self, claimed: Claimed, reason: str, after: float | None) -> None:
        row = claimed.row
        now = self.core.clock.now()
        wait = max(timedelta(seconds=after or 0), backoff(row.attempts))
        if after is not None:
            until = now + timedelta(seconds=after)
            self._paused[row.platform] = max(self._paused.get(row.platform) or until, until)
            await self.core.rate_gate.pause(send_key(row.platform), until)
        async with self.core.transaction() as session:
            await Outbox(session).finish(
                row.id,
                claimed.claim,
                attempts=row.attempts + 1,
                next_attempt_at=now + wait,
                last_error=reason,
            )

    async def _failed(self, claimed: Claimed, reason: str) -> None:
        row = claimed.row
        now = self.core.clock.now()
        async with self.core.transaction() as session:
            await Outbox(session).finish(
                row.id, claimed.claim, state="failed", attempts=1, last_error=reason, done_at=now
            )
            Audit(session).add(
                now,
                "system",
                f"outbox.{claimed.kind}.failed",
                claimed.payload.get("person_id"),
                reason=reason,
                outbox_id=row.id,
            )
            with contextlib.suppress(PermanentFailure):  # a row that cannot even be read
                await self._load(claimed).failed(session, self.core, row, reason)

    async def _refused(self, claimed: Claimed, reason: str) -> None:
        """A person's token was refused: the kind says until when the row waits for them (it
        stays sealed, holding back its conversation), or it fails like any refusal."""
        row = claimed.row
        async with self.core.transaction() as session:
            try:
                until = await self._load(claimed).refused(session, self.core, row, reason)
            except PermanentFailure:  # a row that cannot even be read fails below
                until = None
            if until is not None:
                await Outbox(session).finish(
                    row.id,
                    claimed.claim,
                    state="waiting",
                    next_attempt_at=until,
                    last_error=reason,
                )
        if until is None:
            await self._failed(claimed, reason)

    async def _done(self, claimed: Claimed, kind: Kind, result: Result) -> None:
        row = claimed.row
        now = self.core.clock.now()
        async with self.core.transaction() as session:
            # Delivered: the sealed part (message text, tokens to revoke) is no longer needed.
            await Outbox(session).finish(
                row.id, claimed.claim, state="done", done_at=now, secret=None
            )
            await kind.done(session, self.core, row, result)

    async def drain(self, max_rounds: int = 50, limit: int = 50) -> None:
        """Deliver until nothing is due (tests and the CLI; the app runs `forever`)."""
        for _ in range(max_rounds):
            done = await self.run_once(limit)
            if self._running:  # what they queue (an import's answer) is due next round
                await asyncio.gather(*list(self._running), return_exceptions=True)
            elif done == 0:
                return

    async def forever(self, idle: float = 1.0) -> None:
        try:
            while True:
                self.core.outbox_ready.clear()  # before looking, so a row queued meanwhile wakes us
                try:
                    done = await self.run_once()
                except Exception:
                    log.exception("outbox worker round failed; retrying")
                    done = 0
                if done == 0:
                    with contextlib.suppress(TimeoutError):  # idle: look for due rows again
                        await asyncio.wait_for(self.core.outbox_ready.wait(), timeout=idle)
        finally:  # stopping: a long row left unfinished is taken over once its lease ends
            running = list(self._running)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
