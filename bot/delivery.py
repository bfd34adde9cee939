"""At-least-once delivery of the outbox rows that `bot.outbox` queues.

Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL) plus a claim lease, so several
processes share the work; each platform is paced to its published rate and paused when it
answers 429. Only a PermanentFailure ends a row as failed; everything else is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from bot import codec, lifecycle, outbox
from bot.core import Core
from bot.sync import Event
from bot.types import Identity, PermanentFailure, PlatformUserId, RetryLater, TokenGrant
from store.repositories import Audit, Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=1)


class Pacer:
    """Per-platform pacing (a token bucket in real time) and the pauses a 429 asks for.

    Spacing is about the real request rate the platform sees, so it uses the monotonic clock;
    a Retry-After pause is a schedule, like `next_attempt_at`, so it uses the injected clock.
    """

    def __init__(self, burst: float = 10.0) -> None:
        self.burst = burst
        self._tokens: dict[str, tuple[float, float]] = {}  # platform → (tokens, at)
        self._paused: dict[str, datetime] = {}

    async def acquire(self, platform: str, rate: float) -> None:
        while True:
            now = time.monotonic()
            tokens, at = self._tokens.get(platform, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * rate)
            if tokens >= 1:
                self._tokens[platform] = (tokens - 1, now)
                return
            self._tokens[platform] = (tokens, now)
            await asyncio.sleep((1 - tokens) / rate)

    def paused_until(self, platform: str, now: datetime) -> datetime | None:
        until = self._paused.get(platform)
        return until if until is not None and until > now else None

    def pause(self, platform: str, until: datetime) -> None:
        self._paused[platform] = max(self._paused.get(platform, until), until)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


class Worker:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.pacer = Pacer()
        self.claim_id = uuid.uuid4().hex

    async def run_once(self, limit: int = 50) -> int:
        """Deliver what is due now; returns how many rows were attempted."""
        now = self.core.clock.now()
        ready = [p for p in self.core.platforms if self.pacer.paused_until(p, now) is None]
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
        paused = self.pacer.paused_until(platform, now)
        if paused is not None:  # a 429 earlier in this batch
            async with self.core.transaction() as session:
                await Outbox(session).finish(item_id, claim, next_attempt_at=paused)
            return
        await self.pacer.acquire(platform, adapter.rate_per_second)
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
            self.pacer.pause(platform, now + timedelta(seconds=after))
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
