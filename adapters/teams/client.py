"""A small aiohttp client for the Bot Connector, Microsoft Graph and the token endpoint.

We call the documented REST shapes ourselves instead of using the Agents SDK: its MSAL
authority refuses `http://` (so `MS_LOGIN_URL` could never point at a sandbox, §I.2) and its
JWKS location is hard-coded (§I.1). App tokens come from client credentials against
`{MS_LOGIN_URL}{tenant}/oauth2/v2.0/token` as plain form POSTs, are cached until shortly before
`expires_in`, and are fetched again once when a service rejects one early. The session, the
exchange and the token cache are `adapters.http`'s; what is Microsoft's stays here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from adapters.http import CachedToken, Http
from adapters.teams.errors import to_platform_error

CONNECTOR_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class TeamsHttp(Http):
    """The adapter's one ClientSession, and the request/response plumbing around it."""

    def __init__(self) -> None:
        super().__init__("Teams", to_platform_error)

    async def token(self, url: str, form: Mapping[str, str], *, user_token: bool) -> dict[str, Any]:
        """POST a form to the token endpoint; a non-200 answer raises the mapped PlatformError."""
        body = await self.expect("POST", url, form=form, user_token=user_token)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise self.error(502, {}, body, user_token=user_token)  # a 200 without a token
        return body


class AppToken(CachedToken[TeamsHttp]):
    """One client-credentials token for one resource, cached until shortly before expiry.

    The cache and its lock are `CachedToken`'s, so concurrent callers share one refresh instead
    of each asking Entra for a token.
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
        super().__init__(http, clock)
        self._url = token_url
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }

    async def fetch(self) -> dict[str, Any]:
        return await self._http.token(self._url, self._form, user_token=False)
