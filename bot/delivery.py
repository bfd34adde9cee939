"""At-least-once delivery of the outbox rows that `bot.outbox` queues.

Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL) plus a claim lease, so several
processes share the work; each platform is paced to its published rate and paused when it
answers 429, through the core's rate gate, so every process keeps one pace and sees one pause.
Only a PermanentFailure ends a row as failed; everything else is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from bot import codec, lifecycle, outbox
from bot.core import Core
from bot.platform import Pace
from bot.sync import Event
from bot.types import Identity, PermanentFailure, PlatformUserId, RetryLater, TokenGrant
from store.repositories import Audit, Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
SEND_BURST = 10
MAX_BACKOFF = timedelta(hours=1)


def send_key(platform: str) -> str:
    """The gate of a platform's sends (its directory pages have their own)."""
    return f"{platform}:send"


def send_pace(rate_per_second: float) -> Pace:
    """The adapter's published rate, with the burst of SEND_BURST calls it tolerates."""
    return Pace(SEND_BURST, SEND_BURST / rate_per_second)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


class Worker:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.claim_id = uuid.uuid4().hex
        # Pauses as this worker last saw them, kept up to date with its own 429s in a batch.
        self._paused: dict[str, datetime | None] = {}

    async def run_once(self, limit: int = 50) -> int:
        """Deliver what is due now; returns how many rows were attempted."""
        now = self.core.clock.now()
        self._paused = {p: await self._paused_until(p, now) for p in self.core.platforms}
        ready = [p for p, until in self._paused.items() if until is None]
        if not ready:
            return 0
        claim = f"{self.claim_id}:{uuid.uuid4().hex[:8]}"
        async with self.core.transaction() as session:
            items = await Outbox(session).claim(now, now + LEASE, claim, limit, ready)
            batch = [
                (i.id, i.platform, i.kind, dict(i.payload), i.secret, i.sync_id, i.attempts)
                for i in items
            ]
        for item_id, platform, kind, payload, secret, sync_id, attempts in batch:
            await self._deliver(claim, item_id, platform, kind, payload, secret, sync_id, attempts)
        return len(batch)

    async def _deliver(
        self,
        claim: str,
        item_id: int,
        platform: str,
        kind: str,
        payload: dict[str, Any],
        secret: str | None,
        sync_id: int | None,
        attempts: int,
    ) -> None:
        adapter = self.core.platforms[platform]
        now = self.core.clock.now()
        paused = self._paused.get(platform)
        if paused is not None and paused > now:  # a 429 earlier in this batch
            async with self.core.transaction() as session:
                await Outbox(session).finish(item_id, claim, next_attempt_at=paused)
            return
        await self.core.rate_gate.take(send_key(platform), send_pace(adapter.rate_per_second))
        result: dict[str, Any] = {}
        try:
            payload = self._unseal(platform, kind, payload, secret)
            if kind == "send_dm":
                ref = await adapter.send_dm(
                    codec.load_user(payload["user"]), codec.load_message(payload["message"])
                )
                result["ref"] = codec.dump(ref)
            elif kind == "update_dm":
                await adapter.update_message(
                    codec.load_ref(payload["ref"]), codec.load_message(payload["message"])
                )
            elif kind == "reply":
                await adapter.reply(
                    codec.load_target(payload["target"]), codec.load_message(payload["message"])
                )
            elif kind == "revoke":
                result["outcome"] = await adapter.revoke(self._grant(secret))
            else:
                raise PermanentFailure(platform, f"unknown outbox kind {kind!r}")
        except RetryLater as exc:
            await self._retry(claim, item_id, platform, attempts, exc.reason, exc.after)
        except PermanentFailure as exc:
            await self._failed(claim, item_id, kind, sync_id, exc.reason, payload)
        except Exception as exc:  # a bug or an unexpected answer: keep the row, retry later
            ref = uuid.uuid4().hex[:8]
            log.exception("outbox row %s failed unexpectedly (ref: %s)", item_id, ref)
            await self._retry(claim, item_id, platform, attempts, f"{exc!r} (ref: {ref})", None)
        else:
            await self._done(claim, item_id, kind, sync_id, payload, result)

    async def _paused_until(self, platform: str, now: datetime) -> datetime | None:
        until = await self.core.rate_gate.paused_until(send_key(platform))
        return until if until is not None and until > now else None

    def _unseal(
        self, platform: str, kind: str, payload: dict[str, Any], secret: str | None
    ) -> dict[str, Any]:
        try:
            return outbox.unseal(self.core, kind, payload, secret)
        except ValueError as exc:  # sealed with another MIO_SECRET_KEY: no retry can help
            raise PermanentFailure(platform, str(exc)) from None

    def _grant(self, secret: str | None) -> TokenGrant:
        if secret is None:
            raise PermanentFailure("outbox", "revoke row without tokens")
        data = self.core.vault.open(secret)
        return TokenGrant(
            identity=Identity(PlatformUserId(data["user_id"]), data.get("email")),
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope", ""),
        )

    async def _retry(
        self,
        claim: str,
        item_id: int,
        platform: str,
        attempts: int,
        reason: str,
        after: float | None,
    ) -> None:
        now = self.core.clock.now()
        wait = max(timedelta(seconds=after or 0), backoff(attempts))
        if after is not None:
            until = now + timedelta(seconds=after)
            self._paused[platform] = max(self._paused.get(platform) or until, until)
            await self.core.rate_gate.pause(send_key(platform), until)
        async with self.core.transaction() as session:
            await Outbox(session).finish(
                item_id, claim, attempts=attempts + 1, next_attempt_at=now + wait, last_error=reason
            )

    async def _failed(
        self,
        claim: str,
        item_id: int,
        kind: str,
        sync_id: int | None,
        reason: str,
        payload: dict[str, Any],
    ) -> None:
        now = self.core.clock.now()
        async with self.core.transaction() as session:
            await Outbox(session).finish(
                item_id, claim, state="failed", attempts=1, last_error=reason, done_at=now
            )
            Audit(session).add(
                now,
                "system",
                f"outbox.{kind}.failed",
                payload.get("person_id"),
                reason=reason,
                outbox_id=item_id,
            )
            if kind == "send_dm" and sync_id is not None:
                await lifecycle.fail_sync(
                    session, self.core, sync_id, Event.UNDELIVERABLE, detail=reason, notify=False
                )

    async def _done(
        self,
        claim: str,
        item_id: int,
        kind: str,
        sync_id: int | None,
        payload: dict[str, Any],
        result: dict[str, Any],
    ) -> None:
        now = self.core.clock.now()
        async with self.core.transaction() as session:
            # Delivered: the sealed part (message text, tokens to revoke) is no longer needed.
            await Outbox(session).finish(item_id, claim, state="done", done_at=now, secret=None)
            if kind == "send_dm" and sync_id is not None:
                await lifecycle.remember_dm(session, sync_id, result["ref"])
            if kind == "revoke":
                Audit(session).add(
                    now,
                    "system",
                    "grant.revoked",
                    payload.get("person_id"),
                    outcome=result.get("outcome"),
                )

    async def drain(self, max_rounds: int = 50, limit: int = 50) -> None:
        """Deliver until nothing is due (tests and the CLI; the app runs `forever`)."""
        for _ in range(max_rounds):
            if await self.run_once(limit) == 0:
                return

    async def forever(self, idle: float = 1.0) -> None:
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
