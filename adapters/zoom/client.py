"""A small aiohttp client for Zoom's REST and OAuth endpoints, with cached app tokens.

We do not use zoomus: it fetches its token with a blocking call in its constructor, never
refreshes it, and has no chatbot API (platform-apis.md §H.4). Zoom gives each app token a
lifetime in `expires_in` (3600 s for chatbot tokens, 3599 s for Server-to-Server ones, §I.27),
so tokens are cached, refreshed a little before they expire, and fetched again once when Zoom
rejects one early (a rotated secret, a token revoked by Zoom).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from adapters.zoom.errors import to_platform_error

REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached app token is replaced
TIMEOUT = aiohttp.ClientTimeout(total=30)

Json = Any


def with_slash(url: str) -> str:
    """Base URLs are joined by concatenation, so they must end in `/` (§H.3's lesson)."""
    return url if url.endswith("/") else url + "/"


class ZoomHttp:
    """The process's one ClientSession for Zoom, and the request/response plumbing around it."""

    def __init__(self, api_url: str, oauth_url: str) -> None:
        self.api_url = with_slash(api_url)
        self.oauth_url = with_slash(oauth_url)
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
            raise RuntimeError("ZoomPlatform.start() must run before any Zoom call")
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
    ) -> tuple[int, Mapping[str, str], Json]:
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
            raise to_platform_error(None, exc=exc, user_token=user_token) from exc

    async def oauth(
        self,
        path: str,
        *,
        basic: str,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        user_token: bool = False,
    ) -> dict[str, Any]:
        """POST to `{ZOOM_OAUTH_URL}{path}`; a non-200 answer raises the mapped PlatformError."""
        status, headers, body = await self.send(
            "POST",
            self.oauth_url + path,
            headers={"Authorization": basic},
            params=params,
            form=form,
            user_token=user_token,
        )
        if status != 200 or not isinstance(body, dict):
            raise to_platform_error(status, headers, body, user_token=user_token)
        return body


class AppToken:
    """One app-level access token (chatbot or Server-to-Server), cached until shortly before expiry.

    A lock makes concurrent callers share one refresh instead of each asking Zoom for a token.
    """

    def __init__(
        self,
        http: ZoomHttp,
        params: Mapping[str, str],
        basic: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._params = dict(params)
        self._basic = basic
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                body = await self._http.oauth("token", basic=self._basic, params=self._params)
                token = body.get("access_token")
                if not isinstance(token, str) or not token:
                    raise to_platform_error(
                        502, {}, {"message": "token answer without access_token"}
                    )
                try:
                    lifetime = float(body["expires_in"])
                except (KeyError, TypeError, ValueError):
                    lifetime = 0.0  # unknown lifetime: use the token for this call only
                # Short lifetimes (tests, odd proxies) keep a proportional margin rather than none.
                margin = min(REFRESH_MARGIN, lifetime / 10)
                self._token, self._refresh_at = token, self._clock() + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after Zoom rejected it, unless another caller already replaced it."""
        if self._token == token:
            self._token = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Json = None,
        ok: tuple[int, ...] = (200,),
    ) -> Json:
        """An API call with this token; a 401 (code 124 / 7010) gets one fresh token and a retry."""
        for attempt in range(2):
            token = await self.get()
            status, headers, body = await self._http.send(
                method,
                self._http.api_url + path,
                headers={"Authorization": f"Bearer {token}"},
                params=params,
                json=json,
            )
            if status == 401 and attempt == 0:
                self.invalidate(token)
                continue
            if status in ok:
                return body
            raise to_platform_error(status, headers, body)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
