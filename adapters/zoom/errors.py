"""The one place Zoom's wire errors become `RetryLater` or `PermanentFailure`.

Zoom answers in three shapes (platform-apis.md §I.27): REST `{code, message}`, the chatbot
endpoints' own codes (7001–7010), and the token endpoint's `{reason, error}`. Its 429s carry no
`Retry-After` for the per-second limit and a date-time for the daily one (§I.24), so the header is
parsed, never `int()`-ed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.paging import AdminMustFix
from adapters.retry import parse_retry_after
from bot.types import PermanentFailure, Platform, PlatformError, RetryLater, TokenRefused

PLATFORM = Platform("zoom")

PER_SECOND_RETRY = 1.0  # a per-second 429 has no Retry-After: the next second is fine
SERVER_ERROR_RETRY = 10.0  # 5xx without Retry-After
NETWORK_RETRY = 5.0  # connection refused, reset, timeout
USER_TOKEN_CODES = (124, 4711)  # REST: invalid/expired token, token lacks scopes (§I.27)
CREDENTIALS_RETRY = 60.0  # the admin has to fix the app's credentials; do not hammer Zoom meanwhile


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float:
    """How long a 429 asks us to wait, in seconds."""
    now = now or datetime.now(UTC)
    parsed = parse_retry_after(headers.get("Retry-After"), now)
    if parsed is not None:
        return parsed
    if headers.get("X-RateLimit-Type", "").lower().startswith("daily"):
        # Zoom's daily quotas reset at midnight UTC; without a date, wait until then.
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return max(1.0, (midnight - now).total_seconds())
    return PER_SECOND_RETRY


def _describe(status: int, body: Any) -> str:
    if isinstance(body, Mapping):
        if "code" in body or "message" in body:
            return f"{body.get('code', status)} {body.get('message', '')}".strip()
        if "error" in body or "reason" in body:
            return f"{body.get('error', status)} {body.get('reason', '')}".strip()
    return f"HTTP {status}"


def to_platform_error(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    exc: BaseException | None = None,
    user_token: bool = False,
    now: datetime | None = None,
) -> PlatformError:
    """Map one failed Zoom call (an HTTP answer, or `exc` when there was none) to bot.types.

    `user_token` marks calls made with a person's OAuth token: a 401 there is that person's
    problem (PermanentFailure), while a 401 with the app's own token means credentials the
    admin must fix, so the outbox should keep the work and try again later.
    """
    headers = headers or {}
    if exc is not None or status is None:
        return RetryLater(
            PLATFORM, f"Zoom unreachable: {type(exc).__name__}: {exc}", after=NETWORK_RETRY
        )
    reason = _describe(status, body)
    if status == 429:
        kind = headers.get("X-RateLimit-Type", "QPS")
        return RetryLater(
            PLATFORM, f"429 rate limited ({kind}): {reason}", after=retry_after(headers, now)
        )
    if status >= 500:
        after = parse_retry_after(headers.get("Retry-After"), now)
        wait = SERVER_ERROR_RETRY if after is None else after
        return RetryLater(PLATFORM, f"{status} Zoom server error: {reason}", after=wait)
    app_credentials = isinstance(body, Mapping) and body.get("error") == "invalid_client"
    code = body.get("code") if isinstance(body, Mapping) else None
    if user_token and not app_credentials and (status == 401 or code in USER_TOKEN_CODES):
        # A person's token Zoom no longer takes (124 invalid or expired), or one without the
        # scopes the call needs (4711): only their signing in again helps (relay-apis §4.2).
        return TokenRefused(PLATFORM, reason)
    if app_credentials or (status == 401 and not user_token):
        return AdminMustFix(
            PLATFORM,
            f"{reason} (check the ZOOM_* app credentials)",
            after=CREDENTIALS_RETRY,
        )
    return PermanentFailure(PLATFORM, reason)
