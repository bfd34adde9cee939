"""Graph calls made as a person, with the delegated token Mio holds for them (consent syncs).

The relay reads and writes people's 1:1 chats only through their own tokens (Graph cannot send
a chat message with application permissions, relay-apis §2.3, §7 surprise 6), so every such
call shares one error mapping: a token Graph refuses (401), or a refresh token the identity
platform refuses (`invalid_grant`, `interaction_required`), means the person must consent
again — `TokenRefused`, which fails their sync as `token_revoked` (issue 10 §6); 429 and 5xx
stay `RetryLater` with Retry-After (errors.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.http import Json
from adapters.teams.client import TeamsHttp
from adapters.teams.errors import PLATFORM, error_code, to_platform_error
from bot.types import PlatformError, TokenGrant, TokenRefused

# The delegated scopes the relay needs (issue 10 §5); the consent sign-in asks for them.
RELAY_SCOPES = frozenset({"offline_access", "User.Read", "Chat.ReadWrite", "ChatMessage.Send"})
# Token endpoint errors that mean the person's grant is gone (revoked, consent withdrawn,
# password reset, MFA now required): only a new sign-in helps.
REFUSED_GRANT_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})


def refused_or(status: int, headers: Mapping[str, str], body: Any) -> PlatformError:
    """The error for a failed delegated call: 401 is the person's token, the rest as usual."""
    code, _ = error_code(body)
    if status == 401 or code in REFUSED_GRANT_ERRORS:
        return TokenRefused(PLATFORM, f"Microsoft refused the person's token ({status} {code})")
    return to_platform_error(status, headers, body, user_token=True)


def graph_time(when: datetime) -> str:
    """An ISO 8601 UTC time as Graph writes it (`2026-12-03T16:05:00.000Z`)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: Any) -> datetime | None:
    """Graph's date-times (`…Z`, up to 7 fraction digits); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Delegated:
    """Graph as one person: their access token on each call, and the refresh of their grant."""

    def __init__(
        self, http: TeamsHttp, graph_url: str, token_url: str, app_id: str, app_password: str
    ) -> None:
        self._http = http
        self.graph_url = graph_url
        self._token_url = token_url
        self._app_id = app_id
        self._password = app_password

    async def call(
        self,
        grant: TokenGrant,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        json: Json = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Json]:
        """One Graph call as `grant`'s owner; a status outside `ok` raises the mapped error.

        `path` is relative to the Graph base URL, or an absolute `@odata.nextLink`.
        """
        url = path if path.startswith(("http://", "https://")) else self.graph_url + path
        status, headers, body = await self._http.send(
            method,
            url,
            headers={"Authorization": f"Bearer {grant.access_token}"},
            params=params,
            json=json,
            user_token=True,
        )
        if status not in ok:
            raise refused_or(status, headers, body)
        return status, body

    async def refresh(self, grant: TokenGrant) -> TokenGrant:
        """The refresh_token grant on the v2.0 token endpoint (platform-apis §F.2, §I.2).

        Entra rotates refresh tokens, so the answer's replaces the old one when it sends one.
        A grant without a refresh token (no `offline_access`) cannot be renewed: TokenRefused.
        """
        if not grant.refresh_token:
            raise TokenRefused(PLATFORM, "the grant has no refresh token (sign in again)")
        form = {
            "grant_type": "refresh_token",
            "client_id": self._app_id,
            "client_secret": self._password,
            "refresh_token": grant.refresh_token,
            "scope": " ".join(sorted(RELAY_SCOPES)),
        }
        status, headers, body = await self._http.send(
            "POST", self._token_url, form=form, user_token=True
        )
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code, _ = error_code(body)
            if code in REFUSED_GRANT_ERRORS:
                raise TokenRefused(PLATFORM, f"Microsoft refused the refresh token ({code})")
            raise to_platform_error(status if status != 200 else 502, headers, body)
        expires_in = body.get("expires_in")
        return TokenGrant(
            identity=grant.identity,
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or grant.refresh_token),
            expires_at=datetime.now(UTC) + timedelta(seconds=float(expires_in))
            if expires_in
            else None,
            scope=str(body.get("scope") or grant.scope),
        )


def covers_relay(grant: TokenGrant) -> bool:
    """Every relay scope granted: Entra answers scopes bare or as Graph URIs, and leaves
    `offline_access` out of `scope` — the refresh token is its evidence."""
    granted = {s.rsplit("/", 1)[-1].lower() for s in grant.scope.split()}
    needed = {s.lower() for s in RELAY_SCOPES - {"offline_access"}}
    return needed <= granted and bool(grant.refresh_token)
