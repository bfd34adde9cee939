"""The one place webexpythonsdk's errors become `RetryLater` or `PermanentFailure`.

webexpythonsdk is synchronous (`requests`), so every call runs in a worker thread through
`call()`, with `wait_on_rate_limit=False` so the SDK never sleeps inside a 429 (platform-apis.md
§G, §I.7): a 429 comes back as `RetryLater(after=Retry-After)` and the outbox owns the wait.
Which token made the call decides what a 401 means: the bot's token is the admin's to fix in the
settings (retry later), an admin grant that stopped working needs `mio connect webex` again, and a
person's token is simply no longer valid.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal

import requests
from webexpythonsdk import (  # type: ignore[import-untyped]
    ApiError,
    MalformedResponse,
    RateLimitError,
)

from adapters.paging import AdminMustFix
from adapters.retry import parse_retry_after
from bot.types import PermanentFailure, Platform, PlatformError, RetryLater

PLATFORM = Platform("webex")

Who = Literal["bot", "admin", "user", "oauth"]

NETWORK_RETRY = 5.0  # connection refused, reset, timeout
SERVER_ERROR_RETRY = 10.0  # 5xx (or 423 Locked) without Retry-After
# A 429 without a readable Retry-After: webexpythonsdk's own default (exceptions.py:142-155,
# platform-apis.md §G), and its floor of 1 s for "Retry-After: 0".
RATE_LIMIT_RETRY = 15.0
SHORTEST_RETRY = 1.0
CREDENTIALS_RETRY = 60.0  # the bot token or the client secret is wrong: an admin must fix it

CONNECT_HINT = "run `mio connect webex`"

_HINTS: dict[tuple[Who, int], str] = {
    ("bot", 401): "check WEBEX_BOT_TOKEN",
    ("oauth", 401): "check WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET",
    ("admin", 401): f"the admin grant is no longer valid: {CONNECT_HINT}",
    ("admin", 403): f"the admin who connected Webex lacks the rights: {CONNECT_HINT}",
}


class Unauthorized(PermanentFailure):
    """A 401 on a token that may be refreshed and tried once more (the admin grant)."""


class NotFound(PermanentFailure):
    """A 404: the message, person, webhook or authorization is gone."""


def _retry_after(response: requests.Response | None) -> float | None:
    """Retry-After in seconds or as a date (the shared parser), at least a second."""
    value = response.headers.get("Retry-After") if response is not None else None
    after = parse_retry_after(value)
    return None if after is None else max(SHORTEST_RETRY, after)


def to_platform_error(exc: BaseException, *, who: Who = "bot") -> PlatformError:
    """Map one failed SDK call to bot.types; `who` is whose token the call used."""
    if isinstance(exc, RateLimitError):
        # Read Retry-After ourselves: the SDK's `int()` turns an HTTP date into its 15 s default.
        after = _retry_after(exc.response)
        return RetryLater(
            PLATFORM,
            f"429 rate limited: {exc.message or exc.status}",
            after=RATE_LIMIT_RETRY if after is None else after,
        )
    if isinstance(exc, ApiError):
        status = int(exc.status_code)
        reason = f"{status} {exc.message or exc.description or exc.status or 'error'}".strip()
        if exc.tracking_id:
            reason += f" (trackingId {exc.tracking_id})"
        if hint := _HINTS.get((who, status)):
            reason += f" ({hint})"
        if status >= 500 or status == 423:
            after = _retry_after(exc.response) or SERVER_ERROR_RETRY
            return RetryLater(PLATFORM, f"Webex server error: {reason}", after=after)
        if status == 401 and who in ("bot", "oauth"):
            return AdminMustFix(PLATFORM, reason, after=CREDENTIALS_RETRY)
        if status == 401:
            return Unauthorized(PLATFORM, reason)
        if status == 404:
            return NotFound(PLATFORM, reason)
        return PermanentFailure(PLATFORM, reason)
    if isinstance(exc, requests.RequestException):
        return RetryLater(
            PLATFORM, f"Webex unreachable: {type(exc).__name__}: {exc}", after=NETWORK_RETRY
        )
    if isinstance(exc, (MalformedResponse, json.JSONDecodeError)):
        return RetryLater(
            PLATFORM, f"Webex answered something unreadable: {exc}", after=SERVER_ERROR_RETRY
        )
    raise TypeError(f"not a Webex call failure: {exc!r}") from exc


async def call[T](fn: Callable[..., T], *args: Any, who: Who = "bot", **kwargs: Any) -> T:
    """Run one blocking SDK call in a worker thread; its failures come back mapped."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (ApiError, requests.RequestException, MalformedResponse, json.JSONDecodeError) as exc:
        raise to_platform_error(exc, who=who) from exc
