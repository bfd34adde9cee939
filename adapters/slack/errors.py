"""The one place where Slack's failures become `RetryLater` or `PermanentFailure`.

The outbox retries `RetryLater` and gives up on `PermanentFailure`, so the split decides whether
a consent DM is ever delivered: anything the admin can fix (a revoked or under-scoped bot token)
or that passes by itself (429, 5xx, network) must stay retryable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from adapters.paging import AdminMustFix
from adapters.retry import parse_retry_after
from bot.types import (
    PermanentFailure,
    Platform,
    PlatformError,
    RetryLater,
    TokenRefused,
    Unanswered,
)

SLACK = Platform("slack")

# The bot's own credentials are wrong: nothing is wrong with the message, so keep it until the
# admin fixes the configuration. `account_inactive` is documented as "authentication token is for
# a deleted user or workspace", i.e. the caller's token, so it belongs here and not with the
# recipient problems.
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "no_permission",
    }
)
RATE_LIMIT_CODES = frozenset({"ratelimited", "rate_limited"})
# Slack's own documentation calls these transient ("likely due to a transient issue on our end").
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CREDENTIAL_RETRY_AFTER = 60.0
# On a person's user token the same codes mean the person's grant no longer works (revoked,
# deactivated, or granted before the relay's scopes existed): only their consenting again
# helps, so the relay fails their sync `token_revoked` and asks them (issue 10 §6).
USER_TOKEN_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "invalid_refresh_token",
    }
)


def from_sdk_error(
    exc: SlackApiError | aiohttp.ClientError | TimeoutError,
) -> PlatformError:
    """Classify a failed slack_sdk call; the reason is Slack's error code where it sent one."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = _status(response)
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, Mapping) else ""
        return _classify(status, code, getattr(response, "headers", None))
    return RetryLater(SLACK, f"unreachable: {type(exc).__name__}: {exc}".rstrip(": "))


def to_platform_error(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    exc: BaseException | None = None,
    user_token: bool = False,
) -> PlatformError:
    """The error mapper `adapters.http` takes, shaped like Teams' and Zoom's: a plain HTTP
    answer (a `response_url`), or none at all.

    A response_url answers outside the Web API's `{ok, error}` envelope, so only its status
    and Retry-After count; whose token was used does not change what Slack's codes mean.
    """
    if status is None or isinstance(exc, (aiohttp.ClientError, TimeoutError)):
        return RetryLater(SLACK, f"unreachable: {type(exc).__name__}: {exc}".rstrip(": "))
    return _classify(status, "", headers)


async def slack_call[T](call: Awaitable[T]) -> T:
    """Await a slack_sdk or aiohttp call, raising only `PlatformError` subclasses."""
    try:
        return await call
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        raise from_sdk_error(exc) from exc


async def relay_call[T](call: Awaitable[T], *, user_token: bool, sends: bool = False) -> T:
    """`slack_call` for the relay: a refused user token is `TokenRefused`, and a send that got
    no answer is `Unanswered` (it may have been posted: relay-apis §7 surprise 22), not a
    plain `RetryLater` that would post it again blindly."""
    try:
        return await call
    except SlackApiError as exc:
        error = from_sdk_error(exc)
        # Slack answers its codes with HTTP 200; a bare 401 (a proxy, an edge) means the same.
        if user_token and (error.reason in USER_TOKEN_REFUSED or _status(exc.response) == 401):
            raise TokenRefused(SLACK, error.reason) from exc
        raise error from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        if sends and not isinstance(exc, aiohttp.ClientConnectorError):
            raise Unanswered(SLACK, f"no answer: {type(exc).__name__}") from exc
        raise from_sdk_error(exc) from exc


def _classify(status: int, code: str, headers: Mapping[str, str] | None) -> PlatformError:
    if status == 429:
        # Slack's 429 names whole seconds; without one, the caller backs off (§G).
        after = parse_retry_after((headers or {}).get("Retry-After"))
        return RetryLater(SLACK, code or "ratelimited", after=after)
    if status >= 500:
        return RetryLater(SLACK, code or f"http_{status}")
    if code in RATE_LIMIT_CODES:  # a 200 that says "ratelimited" (older SDKs, response_url)
        return RetryLater(SLACK, code, after=CREDENTIAL_RETRY_AFTER)
    if code in CREDENTIAL_ERRORS:
        return AdminMustFix(SLACK, code, after=CREDENTIAL_RETRY_AFTER)
    if code in TRANSIENT_ERRORS:
        return RetryLater(SLACK, code)
    return PermanentFailure(SLACK, code or f"http_{status}")


def _status(response: Any) -> int:
    # slack_sdk hands over its own response object, except for a non-JSON body, where it passes
    # the raw aiohttp response (`status` instead of `status_code`).
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if status else 0
