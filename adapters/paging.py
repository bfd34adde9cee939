"""Paging through a platform's directory at the pace it documents, patiently.

A directory import makes one call a page, for minutes at a large organisation, so two things
matter that a single call does not: staying under the method's documented rate (Slack's Tier 2
is about 20 calls a minute, platform-apis.md §G) instead of hammering until refused, and
surviving the 429s and 5xx that come anyway by waiting them out and asking for the *same* page
again (`adapters.retry.patiently`), never restarting from the first page.

The pace is a sliding window: `Pace(calls, per)` lets `calls` calls go at once and then keeps any
`per` seconds to at most `calls`. A small organisation (the demo, the tests) fits in the first
window and never waits; only real volumes are slowed down. The window is per platform, not per
process: an adapter the core runs takes its turns from the core's gate in the database
(`use_rate_gate`), so two processes paging at once still keep the platform's pace together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ClassVar, Protocol

from adapters.retry import Sleep, patiently
from bot.platform import Pace as Pace  # re-exported: adapters import their pace from here
from bot.platform import RateGate
from bot.types import PermanentFailure, Platform, RetryLater

log = logging.getLogger(__name__)


class Pacer:
    """A sliding window over the last `calls` calls; `clock` and `sleep` are injectable.

    The first `calls` calls go at once; after that a call waits until the oldest of the last
    `calls` is `per` seconds old, so no window of `per` seconds ever holds more than `calls`.
    A call counts from when its answer came back, not from when it was sent: the platform
    counts it on arrival, somewhere in between, and a slow earlier request must not make a
    later one arrive inside its window.
    """

    def __init__(
        self,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pace = pace
        self._clock = clock
        self._sleep = sleep
        self._done: deque[float] = deque(maxlen=pace.calls)

    def delay(self) -> float:
        """Seconds to wait before the next call may go (0 while the burst lasts)."""
        if len(self._done) < self.pace.calls:
            return 0.0
        return max(0.0, self._done[0] + self.pace.per - self._clock())

    async def take(self) -> None:
        """Wait until the next call may go."""
        wait = self.delay()
        if wait > 0:
            await self._sleep(wait)

    def answered(self) -> None:
        """Count a call whose answer (or refusal) just came back."""
        self._done.append(self._clock())

    async def release(self) -> None:
        self.answered()


class LocalRateGate:
    """The in-process `RateGate` of an adapter used without a core (tests, CLI look-ups)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._marks: dict[str, list[float]] = {}
        self._paused: dict[str, datetime] = {}

    async def take(self, key: str, pace: Pace) -> float:
        while (wait := pace.delay(self._marks.get(key, []), self._clock())) > 0:
            await self._sleep(wait)
        mark = self._clock()
        self._marks[key] = pace.counted(self._marks.get(key, []), mark)
        return mark

    async def answered(self, key: str, pace: Pace, mark: float) -> None:
        self._marks[key] = pace.moved(self._marks.get(key, []), mark, self._clock())

    async def pause(self, key: str, until: datetime) -> None:
        self._paused[key] = max(self._paused.get(key, until), until)

    async def paused_until(self, key: str) -> datetime | None:
        return self._paused.get(key)


class GatedPacer:
    """One caller's turns under `key`, taken from a gate that other processes may share."""

    def __init__(self, gate: RateGate, key: str, pace: Pace) -> None:
        self.pace = pace
        self._gate = gate
        self._key = key
        self._mark: float | None = None

    async def take(self) -> None:
        self._mark = await self._gate.take(self._key, self.pace)

    async def release(self) -> None:
        if self._mark is not None:
            await self._gate.answered(self._key, self.pace, self._mark)
            self._mark = None


class Pacing(Protocol):
    async def take(self) -> None: ...

    async def release(self) -> None: ...


class Gated:
    """Mixed into an adapter that pages a directory at `directory_pace`.

    Until the core hands over its gate (`use_rate_gate`, from the database) the adapter keeps
    the pace in-process, which is all a test or a one-off CLI look-up needs.
    """

    name: ClassVar[Platform]
    directory_pace: Pace
    _rate_gate: RateGate | None = None

    def use_rate_gate(self, gate: RateGate) -> None:
        self._rate_gate = gate

    def directory_pacer(self) -> GatedPacer:
        if self._rate_gate is None:
            self._rate_gate = LocalRateGate()
        return GatedPacer(self._rate_gate, f"{self.name}:directory", self.directory_pace)


class AdminMustFix(RetryLater):
    """Credentials or settings an admin must correct (a revoked bot token, a wrong secret).

    The outbox keeps such work for later, as for any `RetryLater`; an admin waiting on an import
    is told at once instead of waiting out minutes of retries that cannot succeed.
    """


async def _at_once_if_misconfigured[T](call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except AdminMustFix as exc:
        raise PermanentFailure(exc.platform, exc.reason) from exc


def _log_wait(label: str) -> Callable[[float, RetryLater], None]:
    def on_wait(seconds: float, exc: RetryLater) -> None:
        log.info("%s directory: %s; asking for the same page again in %.1f s", label, exc, seconds)

    return on_wait


async def fetch_page[T](
    fetch: Callable[[], Awaitable[T]], pacer: Pacing, label: str, sleep: Sleep = asyncio.sleep
) -> T:
    """One page: paced, and repeated with the same cursor while the platform says "later"."""

    async def paced() -> T:
        await pacer.take()
        try:
            return await _at_once_if_misconfigured(fetch)
        finally:
            await pacer.release()

    return await patiently(paced, sleep=sleep, on_wait=_log_wait(label))


async def patient[T](call: Callable[[], Awaitable[T]], label: str) -> T:
    """One call someone waits on (the workspace check before an import), retried like a page."""
    return await patiently(lambda: _at_once_if_misconfigured(call), on_wait=_log_wait(label))
