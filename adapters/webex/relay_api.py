"""The relay's Webex REST calls: aiohttp with a person's token (or the bot's), errors mapped.

The rest of the adapter runs webexpythonsdk in worker threads; the relay does not, because it
is the hot path (every relayed message is a webhook, a GET and a POST, issue 10's throughput
figures) and because it needs `Unanswered`: `adapters/http.py` raises it when a POST was sent
and no answer came (relay-apis §7 surprise 22), which a `requests` timeout inside the SDK does
not tell apart from a refused connection. Errors (relay-apis §3.5, platform-apis §G, §F.3):
a person's token refused (401) is `TokenRefused`; 429 and 5xx are `RetryLater` with the
Retry-After Webex sent (15 s when it sent none, webexpythonsdk's own default); a 401 on the
bot's token or on the client credentials is the admin's to fix (`AdminMustFix`); 404 is
`NotFound`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.http import Http, Json
from adapters.paging import AdminMustFix
from adapters.retry import parse_retry_after
from adapters.webex.errors import (
    CREDENTIALS_RETRY,
    NETWORK_RETRY,
    PLATFORM,
    RATE_LIMIT_RETRY,
    SERVER_ERROR_RETRY,
    SHORTEST_RETRY,
    NotFound,
)
from bot.types import PermanentFailure, PlatformError, RetryLater, TokenRefused

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _reason(status: int, body: Any) -> str:
    """`{message, errors, trackingId}` (Webex's error body) in a sentence, without text."""
    if isinstance(body, Mapping):
        message = str(body.get("message") or "").strip()
        tracking = body.get("trackingId")
        if tracking:
            message += f" (trackingId {tracking})"
        return f"{status} {message}".strip()
    return str(status)


def _after(headers: Mapping[str, str], default: float) -> float:
    after = parse_retry_after(headers.get("Retry-After"))
    return default if after is None else max(SHORTEST_RETRY, after)


def to_relay_error(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    exc: BaseException | None = None,
    user_token: bool = False,
) -> PlatformError:
    """One failed relay call (an answer, or `exc` when none came) as bot.types."""
    headers = headers or {}
    if exc is not None or status is None:
        return RetryLater(PLATFORM, f"Webex unreachable: {type(exc).__name__}", after=NETWORK_RETRY)
    reason = _reason(status, body)
    if status == 429:
        return RetryLater(
            PLATFORM, f"429 rate limited: {reason}", after=_after(headers, RATE_LIMIT_RETRY)
        )
    if status >= 500 or status == 423:
        return RetryLater(
            PLATFORM, f"Webex server error: {reason}", after=_after(headers, SERVER_ERROR_RETRY)
        )
    if status == 401 and user_token:
        return TokenRefused(PLATFORM, f"the person's token was refused: {reason}")
    if status == 401:
        return AdminMustFix(PLATFORM, f"{reason} (check WEBEX_BOT_TOKEN)", after=CREDENTIALS_RETRY)
    if status == 404:
        return NotFound(PLATFORM, reason)
    return PermanentFailure(PLATFORM, reason)


def next_link(headers: Mapping[str, str]) -> str | None:
    """The absolute `rel="next"` URL of a paged list (RFC 5988, platform-apis §E.3)."""
    match = _NEXT.search(headers.get("Link", ""))
    return match.group(1) if match else None


class RelayApi:
    """Webex's REST API under `api_url`, called with whichever token each call names."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url  # ends with "/" (adapters.http.with_slash)
        self.http = Http("Webex", to_relay_error)

    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        user: bool,
        ok: tuple[int, ...] = (200,),
        params: Mapping[str, str] | None = None,
        json: Json = None,
    ) -> tuple[Json, Mapping[str, str]]:
        """One call with `token` (a person's when `user`); the JSON and headers of an answer
        in `ok`, else the mapped error. `path` is relative to the API, or an absolute URL."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        headers = {"Authorization": f"Bearer {token}"}
        status, answered, body = await self.http.send(
            method, url, headers=headers, params=params, json=json, user_token=user
        )
        if status not in ok:
            raise self.http.error(status, answered, body, user_token=user)
        return body, answered

    async def token(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        """POST /access_token (platform-apis §F.3). A refresh token Webex no longer accepts
        (400 `invalid_grant`, or 401 for it) is the person's `TokenRefused`; a wrong client
        secret (401 `invalid_client`) is the admin's."""
        status, headers, body = await self.http.send(
            "POST", self.api_url + "access_token", form=form
        )
        if status == 200 and isinstance(body, Mapping) and body.get("access_token"):
            return body
        text = str(body.get("message") if isinstance(body, Mapping) else body or "")
        if status == 400 or (status == 401 and "invalid_client" not in text):
            raise TokenRefused(PLATFORM, f"the refresh token was refused: {_reason(status, body)}")
        if status == 200:
            raise RetryLater(PLATFORM, "the token endpoint answered without access_token")
        raise self.http.error(status, headers, body)
