"""A small aiohttp client for the Bot Connector, Microsoft Graph and the token endpoint.

We call the documented REST shapes ourselves instead of using the Agents SDK: its MSAL
authority refuses `http://` (so `MS_LOGIN_URL` could never point at a sandbox, §I.2) and its
JWKS location is hard-coded (§I.1). App tokens come from client credentials against
`{MS_LOGIN_URL}{tenant}/oauth2/v2.0/token` as plain form POSTs, are cached until shortly before
`expires_in`, and are fetched again once when a service rejects one early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from adapters.teams.errors import to_platform_error

REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached app token is replaced
TIMEOUT = aiohttp.ClientTimeout(total=30)
CONNECTOR_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

Json = Any
Answer = tuple[int, Mapping[str, str], Json]


def with_slash(url: str) -> str:
    """Base URLs are joined by concatenation, so they must end in `/` (§H.3's lesson)."""
    return url if url.endswith("/") else url + "/"


class TeamsHttp:
    """The adapter's one ClientSession, and the request/response plumbing around it."""

    def __init__(self) -> None:
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
            raise RuntimeError("TeamsPlatform.start() must run before any Teams call")
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
            raise to_platform_error(None, exc=exc, user_token=user_token) from exc

    async def token(self, url: str, form: Mapping[str, str], *, user_token: bool) -> dict[str, Any]:
        """POST a form to the token endpoint; a non-200 answer raises the mapped PlatformError."""
        status, headers, body = await self.send("POST", url, form=form, user_token=user_token)
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            shown = status if status != 200 else 502  # a 200 without a token is a bad answer
            raise to_platform_error(shown, headers, body, user_token=user_token)
        return body


class AppToken:
    """One client-credentials token for one resource, cached until shortly before expiry.

    A lock makes concurrent callers share one refresh instead of each asking Entra for a token.
    """

    def __init__(
        self,
        http: TeamsHttp,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = token_url
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                body = await self._http.token(self._url, self._form, user_token=False)
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

    async def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Json = None,
    ) -> Answer:
        """A call with this token, whatever the status; a 401 gets one fresh token and a retry."""
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
        """Like `call`, but any status outside `ok` raises the mapped PlatformError."""
        status, headers, body = await self.call(method, url, params=params, json=json)
        if status not in ok:
            raise to_platform_error(status, headers, body)
        return body
