"""The one aiohttp client every adapter's `client.py` builds on.

Teams and Zoom call their platform's REST API directly (their SDKs cannot point at a sandbox or
refresh tokens, platform-apis.md §H.4, §I.2) and Slack's slack_sdk runs on an aiohttp session
it is handed, so all three need the same things: one ClientSession per process, an exchange
that turns network failures into the platform's `RetryLater`, an answer outside the expected
statuses mapped the same way (`expect`), and app tokens cached until shortly before they
expire. What an error *means* differs per platform, so each client passes its own
`errors.to_platform_error` in; how a token is fetched differs too, so each client subclasses
`CachedToken`. (Webex runs on webexpythonsdk, which brings its own `requests` session.)
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp

from bot.types import PlatformError, Unanswered

REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached app token is replaced
TIMEOUT = aiohttp.ClientTimeout(total=30)

Json = Any
Answer = tuple[int, Mapping[str, str], Json]


class ErrorMapper(Protocol):
    """The signature of each adapter's `errors.to_platform_error`."""

    def __call__(
        self,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        exc: BaseException | None = None,
        user_token: bool = False,
    ) -> PlatformError: ...


def with_slash(url: str) -> str:
    """Base URLs are joined by concatenation, so they must end in `/` (§H.3's lesson)."""
    return url if url.endswith("/") else url + "/"


class Http:
    """One platform's ClientSession, and the request/response plumbing around it.

    `label` names the platform in the error raised when a call comes before `start()`;
    `to_platform_error` maps network failures the way that platform's outbox expects.
    """

    def __init__(self, label: str, to_platform_error: ErrorMapper) -> None:
        self._label = label
        self._to_platform_error = to_platform_error
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(
                f"{self._label}Platform.start() must run before any {self._label} call"
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Json = None,
        form: Mapping[str, str] | None = None,
        user_token: bool = False,
    ) -> Answer:
        """One HTTP exchange; network failures come back as RetryLater, not aiohttp errors."""
        try:
            async with self.session.request(
                method, url, headers=headers, params=params, json=json, data=form
            ) as response:
                raw = await response.read()
                body: Json
                try:
                    body = await response.json(content_type=None) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                return response.status, response.headers, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            if method == "POST" and not isinstance(exc, aiohttp.ClientConnectorError):
                # Sent, but no answer: the post may exist (no platform has an idempotency key
                # for sends), so the caller looks for it before posting again.
                raise Unanswered(self._label.lower(), f"no answer: {exc!r}") from exc
            raise self._to_platform_error(None, exc=exc, user_token=user_token) from exc

    def error(
        self, status: int, headers: Mapping[str, str], body: Json, *, user_token: bool = False
    ) -> PlatformError:
        """The platform's `PlatformError` for an answer its caller cannot use."""
        return self._to_platform_error(status, headers, body, user_token=user_token)

    async def expect(
        self,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Json = None,
        form: Mapping[str, str] | None = None,
        user_token: bool = False,
    ) -> Json:
        """Like `send`, but a status outside `ok` raises the mapped PlatformError."""
        status, answered, body = await self.send(
            method, url, headers=headers, params=params, json=json, form=form, user_token=user_token
        )
        if status not in ok:
            raise self.error(status, answered, body, user_token=user_token)
        return body


class CachedToken[H: Http](abc.ABC):
    """One app-level access token, cached until shortly before expiry.

    A lock makes concurrent callers share one refresh instead of each asking the platform for a
    token. Subclasses say how a token is fetched (`fetch`); this class decides when.
    """

    def __init__(self, http: H, clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    @abc.abstractmethod
    async def fetch(self) -> Mapping[str, Any]:
        """The token endpoint's answer, already checked to hold a non-empty `access_token`."""

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                body = await self.fetch()
                try:
                    lifetime = float(body["expires_in"])
                except (KeyError, TypeError, ValueError):
                    lifetime = 0.0  # unknown lifetime: use the token for this call only
                # Short lifetimes (tests, odd proxies) keep a proportional margin rather than none.
                margin = min(REFRESH_MARGIN, lifetime / 10)
                self._token = str(body["access_token"])
                self._refresh_at = self._clock() + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after a service rejected it, unless another caller replaced it."""
        if self._token == token:
            self._token = None

    async def authorized(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Json = None,
    ) -> Answer:
        """A call with this token, whatever the status; a 401 gets one fresh token and a retry.

        A token can be rejected before its `expires_in` (a rotated secret, a revoked token), so
        one 401 is worth one fresh token; a second one is the caller's to map.
        """
        for attempt in range(2):
            token = await self.get()
            status, headers, body = await self._http.send(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                params=params,
                json=json,
            )
            if status == 401 and attempt == 0:
                self.invalidate(token)
                continue
            return status, headers, body
        raise AssertionError("unreachable: the loop returns")  # pragma: no cover

    async def expect(
        self,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...] = (200,),
        params: Mapping[str, str] | None = None,
        json: Json = None,
    ) -> Json:
        """Like `authorized`, but a status outside `ok` raises the mapped PlatformError."""
        status, headers, body = await self.authorized(method, url, params=params, json=json)
        if status not in ok:
            raise self._http.error(status, headers, body)
        return body
