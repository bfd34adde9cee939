"""Waiting out a platform's refusals: one Retry-After parser and one retry loop for all adapters.

Every platform answers 429 (Slack `ratelimited`, Graph and Webex with `Retry-After`, Zoom with
seconds, a date-time or nothing at all, platform-apis.md §G, §I.24) and the occasional 5xx to any
call, not only to sends. The outbox already turns `RetryLater` into a later attempt; calls made
while someone waits (an import page, a look-up of an unknown caller) use `patiently` instead, so
they wait out the pause in place and carry on from where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.types import RetryLater

MIN_WAIT = 1.0  # a date in the past or "0" still means "not this instant"
BACKOFF_START = 1.0  # no Retry-After (Zoom's per-second limit, a 5xx, a reset connection)
BACKOFF_CAP = 60.0
ATTEMPTS = 8  # 1+2+4+…+60 s: about three minutes of backoff before a call is given up
LONGEST_WAIT = 600.0  # a pause longer than this (Zoom's daily quota) is not waited out in place

Sleep = Callable[[float], Awaitable[None]]
OnWait = Callable[[float, RetryLater], None]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After of delta-seconds, an HTTP date or an ISO date-time (Zoom).

    None when absent or unreadable, so each caller can fall back to its platform's default.
    """
    value = (value or "").strip()
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    when: datetime | None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(MIN_WAIT, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int) -> float:
    """The wait before retry number `attempt` (0-based) when the platform named none."""
    return min(BACKOFF_CAP, BACKOFF_START * 2.0**attempt)


async def patiently[T](
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = ATTEMPTS,
    longest_wait: float = LONGEST_WAIT,
    sleep: Sleep = asyncio.sleep,
    on_wait: OnWait | None = None,
) -> T:
    """`call()` until it stops raising `RetryLater`, waiting what the platform asked each time.

    `call` must be safe to repeat (a read, or a page fetch with the same cursor). The last
    `RetryLater` is raised when the attempts run out or the platform asks for a longer pause
    than `longest_wait`; `PermanentFailure` and anything else pass through at once.
    """
    for attempt in range(attempts):
        try:
            return await call()
        except RetryLater as exc:
            wait = exc.after if exc.after is not None else backoff(attempt)
            if attempt == attempts - 1 or wait > longest_wait:
                raise
            if on_wait is not None:
                on_wait(wait, exc)
            await sleep(max(wait, 0.0))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
