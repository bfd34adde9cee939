"""Paging through a platform's directory at the pace it documents, patiently.

A directory import makes one call a page, for minutes at a large organisation, so two things
matter that a single call does not: staying under the method's documented rate (Slack's Tier 2
is about 20 calls a minute, platform-apis.md §G) instead of hammering until refused, and
surviving the 429s and 5xx that come anyway by waiting them out and asking for the *same* page
again (`adapters.retry.patiently`), never restarting from the first page.

The pace is a sliding window: `Pace(calls, per)` lets `calls` calls go at once and then keeps any
`per` seconds to at most `calls`. A small organisation (the demo, the tests) fits in the first
window and never waits; only real volumes are slowed down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.retry import Sleep, patiently
from bot.types import PermanentFailure, RetryLater

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pace:
    """At most `calls` calls in any `per` seconds."""

    calls: int
    per: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.per <= 0:
            raise ValueError("a pace needs at least one call and a positive period")


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
    fetch: Callable[[], Awaitable[T]], pacer: Pacer, label: str, sleep: Sleep = asyncio.sleep
) -> T:
    """One page: paced, and repeated with the same cursor while the platform says "later"."""

    async def paced() -> T:
        await pacer.take()
        try:
            return await _at_once_if_misconfigured(fetch)
        finally:
            pacer.answered()

    return await patiently(paced, sleep=sleep, on_wait=_log_wait(label))


async def patient[T](call: Callable[[], Awaitable[T]], label: str) -> T:
    """One call someone waits on (the workspace check before an import), retried like a page."""
    return await patiently(lambda: _at_once_if_misconfigured(call), on_wait=_log_wait(label))
