"""People's own Zoom sign-in: which app they authorize, code exchange, refresh and revocation.

Zoom keeps user-level and admin-level scopes on different apps (issue 10 §5, relay-apis §4.1:
"user-managed" General apps are added by each user), while the chatbot app is admin-managed.
So the relay's consent sign-in goes to a second, user-managed General app — the *login app*,
`ZOOM_LOGIN_CLIENT_ID` / `ZOOM_LOGIN_CLIENT_SECRET` — whose scopes are the user-level Team Chat
ones. Without it the chatbot app's own OAuth still links an account (scope `user:read`), but
that grant cannot carry the relay (`grant_covers_relay` is False).

Zoom's authorize URL takes no `scope` parameter: an app's scopes are what its Marketplace page
lists (platform-apis §F.4; manifests/zoom/login-app.json). Access tokens last one hour and a
refresh token is single use (§F.4, §I.27), so every refresh returns a new refresh token.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp

from adapters.env import setting
from adapters.zoom.client import ZoomHttp
from adapters.zoom.errors import PLATFORM, to_platform_error
from bot.types import Identity, PlatformError, PlatformUserId, TokenGrant, TokenRefused

# Granular user-level scopes (relay-apis §4.1–4.3; the OpenAPI `x-granular-scopes` of each call):
# the DM event and GET one message, the send, the list of a 1:1's messages, the list of 1:1
# sessions (backfill), and who signed in (`GET /users/me`).
RELAY_SCOPES = frozenset(
    {
        "team_chat:read:user_message",
        "team_chat:write:user_message",
        "team_chat:read:list_user_messages",
        "team_chat:read:list_user_sessions",
        "user:read:user",
        "user:read:email",
    }
)
# The same powers as classic scopes, for login apps created before granular scopes (the event
# `chat:read`, messages `chat_message:read`/`:write`, `GET /users/me` `user:read`).
CLASSIC_RELAY_SCOPES = frozenset(
    {"chat:read", "chat_message:read", "chat_message:write", "user:read"}
)


@dataclass(frozen=True)
class LoginApp:
    """The user-managed General app people sign in to for the relay."""

    client_id: str
    basic: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoginApp | None:
        """None without ZOOM_LOGIN_CLIENT_ID; ValueError naming a missing companion."""
        client_id = setting(env, "ZOOM_LOGIN_CLIENT_ID")
        if not client_id:
            return None
        for key in ("ZOOM_LOGIN_CLIENT_SECRET", "ZOOM_LOGIN_WEBHOOK_SECRET"):
            if not setting(env, key):
                raise ValueError(f"{key} is required when ZOOM_LOGIN_CLIENT_ID is set")
        basic = aiohttp.encode_basic_auth(client_id, setting(env, "ZOOM_LOGIN_CLIENT_SECRET"))
        return cls(client_id, basic, setting(env, "ZOOM_LOGIN_WEBHOOK_SECRET"))


def covers_relay(scope: str) -> bool:
    granted = set(scope.replace(",", " ").split())
    return RELAY_SCOPES <= granted or CLASSIC_RELAY_SCOPES <= granted


def _grant(body: Mapping[str, Any], identity: Identity) -> TokenGrant:
    expires_in = body.get("expires_in")  # 3599 for user tokens: read, never assumed (§I.27)
    return TokenGrant(
        identity=identity,
        access_token=str(body["access_token"]),
        refresh_token=body.get("refresh_token") or None,
        expires_at=datetime.now(UTC) + timedelta(seconds=float(expires_in)) if expires_in else None,
        scope=str(body.get("scope") or ""),
    )


class ZoomLogin:
    """The user-OAuth half of `ZoomPlatform` (a mixin: it uses the adapter's client)."""

    relay_scopes: ClassVar[frozenset[str]] = RELAY_SCOPES
    client_id: str
    _http: ZoomHttp
    _app_basic: str
    _login: LoginApp | None

    def _sign_in_app(self) -> tuple[str, str]:
        """(client id, Basic credentials) of the app people sign in to: the login app if set."""
        if self._login is not None:
            return self._login.client_id, self._login.basic
        return self.client_id, self._app_basic

    def _issuer(self, grant: TokenGrant) -> str:
        """The Basic credentials of the app that issued `grant` (refresh and revoke need them):
        a relay grant comes from the login app, any other from the chatbot app."""
        if self._login is not None and covers_relay(grant.scope):
            return self._login.basic
        return self._app_basic

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        return self._login is not None and covers_relay(grant.scope)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        client_id, _ = self._sign_in_app()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self._http.oauth_url}authorize?{urllib.parse.urlencode(query)}"

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        _, basic = self._sign_in_app()
        body = await self._http.oauth(
            "token",
            basic=basic,
            form={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            user_token=True,
        )
        access_token = str(body.get("access_token") or "")
        if not access_token:
            raise to_platform_error(
                502, {}, {"message": "code exchange answered without access_token"}
            )
        status, headers, me = await self._http.send(
            "GET",
            self._http.api("users/me"),
            headers={"Authorization": f"Bearer {access_token}"},
            user_token=True,
        )
        if status != 200 or not isinstance(me, dict) or not me.get("id"):
            raise to_platform_error(status, headers, me, user_token=True)
        return _grant(body, Identity(PlatformUserId(str(me["id"])), me.get("email") or None))

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        """`grant_type=refresh_token` at the issuing app (§F.4). The token endpoint refuses a
        used, revoked or expired refresh token with 400/401 `{reason, error}` (§I.27)."""
        if not grant.refresh_token:
            if grant.expires_at is None:
                return grant
            raise TokenRefused(PLATFORM, "the grant has no refresh token")
        status, headers, body = await self._http.send(
            "POST",
            self._http.oauth_url + "token",
            headers={"Authorization": self._issuer(grant)},
            form={"grant_type": "refresh_token", "refresh_token": grant.refresh_token},
            user_token=True,
        )
        if status == 200 and isinstance(body, dict) and body.get("access_token"):
            return _grant(body, grant.identity)
        raise _refresh_error(status, headers, body)

    async def revoke(self, grant: TokenGrant) -> str:
        status, headers, body = await self._http.send(
            "POST",
            self._http.oauth_url + "revoke",
            headers={"Authorization": self._issuer(grant)},
            form={"token": grant.access_token},
            user_token=True,
        )
        if status == 200:
            return "Zoom user token revoked (oauth/revoke)"
        token_rejected = isinstance(body, dict) and body.get("error") not in (
            None,
            "invalid_client",
        )
        if status in (400, 401) and token_rejected:
            return "Zoom user token was already invalid"
        raise to_platform_error(status, headers, body, user_token=True)


def _refresh_error(status: int, headers: Mapping[str, str], body: Any) -> PlatformError:
    error = body.get("error") if isinstance(body, dict) else None
    if status in (400, 401) and error not in (None, "invalid_client"):
        reason = f"{error} {body.get('reason', '')}".strip() if isinstance(body, dict) else ""
        return TokenRefused(PLATFORM, f"refresh refused: {reason}")
    return to_platform_error(status, headers, body, user_token=True)
