"""Paging through a platform's directory at the pace it documents, patiently.

A directory import makes one call a page, for minutes at a large organisation, so two things
matter that a single call does not: staying under the method's documented rate (Slack's Tier 2
is about 20 calls a minute, platform-apis.md §G) instead of hammering until refused, and
surviving the 429s and 5xx that come anyway by waiting them out and asking for the *same* page
again (`adapters.retry.patiently`), never restarting from the first page.

The pace is a token bucket: `Pace(calls, per)` allows a burst of `calls` and then one call every
`per / calls` seconds. A small organisation (the demo, the tests) fits in the burst and never
waits; only real volumes are slowed down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.retry import Sleep, patiently
from bot.types import RetryLater

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pace:
    """At most `calls` calls in any `per` seconds (a bucket of `calls`, refilled evenly)."""

    calls: float
    per: float

    def __post_init__(self) -> None:
        if self.calls <= 0 or self.per <= 0:
            raise ValueError("a pace needs a positive number of calls and a positive period")


class Pacer:
    """The token bucket behind one `Pace`; `clock` and `sleep` are injectable for tests."""

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
        self._tokens = pace.calls
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        rate = self.pace.calls / self.pace.per
        self._tokens = min(self.pace.calls, self._tokens + (now - self._at) * rate)
        self._at = now

    def delay(self) -> float:
        """Seconds to wait before the next call may go (0 while the burst lasts)."""
        self._refill()
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) * self.pace.per / self.pace.calls

    async def take(self) -> None:
        """Wait for a token, then spend it."""
        wait = self.delay()
        if wait > 0:
            await self._sleep(wait)
            self._refill()
        self._tokens -= 1


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
        return await fetch()

    return await patiently(paced, sleep=sleep, on_wait=_log_wait(label))
