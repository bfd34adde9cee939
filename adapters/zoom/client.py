"""A small aiohttp client for Zoom's REST and OAuth endpoints, with cached app tokens.

We do not use zoomus: it fetches its token with a blocking call in its constructor, never
refreshes it, and has no chatbot API (platform-apis.md §H.4). Zoom gives each app token a
lifetime in `expires_in` (3600 s for chatbot tokens, 3599 s for Server-to-Server ones, §I.27),
so tokens are cached, refreshed a little before they expire, and fetched again once when Zoom
rejects one early (a rotated secret, a token revoked by Zoom). The session, the exchange and the
token cache are `adapters.http`'s; what is Zoom's stays here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from adapters.http import CachedToken, Http, with_slash
from adapters.zoom.errors import to_platform_error


class ZoomHttp(Http):
    """The process's one ClientSession for Zoom, and the request/response plumbing around it."""

    def __init__(self, api_url: str, oauth_url: str) -> None:
        super().__init__("Zoom", to_platform_error)
        self.api_url = with_slash(api_url)
        self.oauth_url = with_slash(oauth_url)

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
        body = await self.expect(
            "POST",
            self.oauth_url + path,
            headers={"Authorization": basic},
            params=params,
            form=form,
            user_token=user_token,
        )
        if not isinstance(body, dict):
            raise self.error(200, {}, body, user_token=user_token)
        return body

    def api(self, path: str) -> str:
        """The URL of a REST path (`users`, `im/chat/messages`) under `ZOOM_API_URL`."""
        return self.api_url + path


class AppToken(CachedToken[ZoomHttp]):
    """One app-level access token (chatbot or Server-to-Server), cached until shortly before expiry.

    The cache and its lock are `CachedToken`'s, so concurrent callers share one refresh instead
    of each asking Zoom for a token.
    """

    def __init__(
        self,
        http: ZoomHttp,
        params: Mapping[str, str],
        basic: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(http, clock)
        self._params = dict(params)
        self._basic = basic

    async def fetch(self) -> dict[str, Any]:
        body = await self._http.oauth("token", basic=self._basic, params=self._params)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise to_platform_error(502, {}, {"message": "token answer without access_token"})
        return body
