"""The Microsoft login stand-in: the v2.0 token endpoint, the authorize page, and the Bot
Framework's OpenID metadata and signing keys.

It refuses what Entra refuses (platform-apis.md §I.2): a wrong secret is 401 `invalid_client`,
client credentials need a tenant-specific endpoint, JSON bodies are not read, codes are single
use and bound to their redirect URI, refresh tokens rotate and stop working once the person's
delegated grant is deleted.
"""

from __future__ import annotations

import html
import re
import secrets
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.teams.keys import ISSUER
from sandbox.teams.state import AuthCode, PermissionGrant

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

SCOPES = {
    "https://api.botframework.com/.default": "connector",
    "https://graph.microsoft.com/.default": "graph",
}
CODE_LIFETIME = 600
_AADSTS = re.compile(r"^AADSTS(\d+)")
_e = html.escape


def oauth_error(status: int, error: str, description: str) -> web.Response:
    """The token endpoint's error shape."""
    return web.json_response(
        {
            "error": error,
            "error_description": f"{description}\r\nTrace ID: {uuid.uuid4()}\r\n"
            f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ')}",
            "error_codes": [int(code) for code in _AADSTS.findall(description)[:1]],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )


class MicrosoftLogin:
    """Routes of login.microsoftonline.com and login.botframework.com, on the stand-in."""

    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/{tenant}/oauth2/v2.0/authorize", self._authorize_page)
        app.router.add_post("/{tenant}/oauth2/v2.0/authorize", self._authorize_decision)

    # -- Bot Framework OpenID -----------------------------------------------------------------
    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self._s.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        return web.json_response(self._s.keys.jwks())

    # -- token endpoint -----------------------------------------------------------------------
    def _tenant_known(self, tenant: str) -> bool:
        return tenant in (self._s.tenant_id, self._s.domain, "common", "organizations")

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return oauth_error(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: "
                "'grant_type'.",
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        tenant = request.match_info["tenant"]
        if not self._tenant_known(tenant):
            return oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("client_id") != self._s.app_id:
            return oauth_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not "
                f"found in the directory '{self._s.org_name}'.",
            )
        if form.get("client_secret") != self._s.app_password:
            return oauth_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID.",
            )
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            return self._client_credentials(tenant, form)
        if grant == "authorization_code":
            return self._authorization_code(form)
        if grant == "refresh_token":
            return self._refresh(form)
        return oauth_error(
            400, "unsupported_grant_type", f"AADSTS70003: The app requested '{grant}'."
        )

    def _client_credentials(self, tenant: str, form: dict[str, str]) -> web.Response:
        if tenant in ("common", "organizations"):
            return oauth_error(
                400,
                "invalid_request",
                "AADSTS50059: No tenant-identifying information found in either the request or "
                "implied by any provided credentials.",
            )
        kind = SCOPES.get(form.get("scope", ""))
        if kind is None:
            return oauth_error(
                400,
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {form.get('scope')} is not valid. "
                "Client credential flows must have a scope value with /.default suffixed.",
            )
        token, _ = self._s.issue(kind, form["scope"], self._s.app_token_lifetime)
        lifetime = self._s.app_token_lifetime
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            }
        )

    def _user_tokens(self, user_id: str, scope: str) -> dict[str, Any]:
        granted = " ".join(s for s in scope.split() if s != "offline_access")
        granted = f"{granted} profile openid email".strip()
        token, _ = self._s.issue("user", granted, self._s.user_token_lifetime, user_id)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": granted,
            "expires_in": self._s.user_token_lifetime,
            "ext_expires_in": self._s.user_token_lifetime,
            "access_token": token,
        }
        if "offline_access" in scope.split():
            refresh = "0.A" + secrets.token_urlsafe(48)
            self._s.refresh_tokens[refresh] = (user_id, scope)
            answer["refresh_token"] = refresh
        return answer

    def _authorization_code(self, form: dict[str, str]) -> web.Response:
        code = self._s.codes.pop(form.get("code", ""), None)  # single use, even when wrong
        if code is None or code.expires_at < time.time():
            return oauth_error(
                400,
                "invalid_grant",
                "AADSTS70000: The provided value for the 'code' parameter is not valid.",
            )
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error(
                400,
                "invalid_grant",
                "AADSTS50148: The redirect_uri does not match the one of the authorization.",
            )
        return web.json_response(self._user_tokens(code.user_id, code.scope))

    def _refresh(self, form: dict[str, str]) -> web.Response:
        entry = self._s.refresh_tokens.pop(form.get("refresh_token", ""), None)  # they rotate
        if entry is None:
            return oauth_error(
                400,
                "invalid_grant",
                "AADSTS9002313: Invalid request. Request is malformed or invalid.",
            )
        user_id, scope = entry
        if self._s.principal_grant(user_id) is None:
            return oauth_error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '{self._s.app_id}'.",
            )
        return web.json_response(self._user_tokens(user_id, scope))

    # -- the authorize page -------------------------------------------------------------------
    def _page_error(self, text: str) -> web.Response:
        return web.Response(status=400, text=text, content_type="text/plain")

    async def _authorize_page(self, request: web.Request) -> web.Response:
        q = request.query
        if not self._tenant_known(request.match_info["tenant"]):
            return self._page_error("AADSTS90002: Tenant not found.")
        if q.get("client_id") != self._s.app_id:
            return self._page_error("AADSTS700016: Application not found in the directory.")
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return self._page_error("AADSTS900144: response_type=code and redirect_uri needed.")
        if "User.Read" not in q.get("scope", "").split():
            return self._page_error("AADSTS65002: the request asks for no User.Read scope.")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{_e(q.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "scope", "state")
        )
        people = "".join(
            f'<option value="{_e(u.id)}">{_e(u.display_name)} ({_e(u.user_principal_name)})'
            "</option>"
            for u in self._s.users.values()
            if u.account_enabled
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Sign in to your account"
            f"</title></head><body><h1>{_e(self._s.org_name)}</h1>"
            f"<p><b>Mio User Sync</b> wants to: sign you in and read your profile "
            f"({_e(q.get('scope', ''))}).</p><form method='post'>{hidden}"
            f"<label>Pick an account <select name='user_id'>{people}</select></label> "
            "<button name='decision' value='allow'>Accept</button> "
            "<button name='decision' value='deny'>Cancel</button></form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _authorize_decision(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        user = self._s.users.get(form.get("user_id", ""))
        if form.get("client_id") != self._s.app_id or not redirect_uri or user is None:
            return self._page_error("AADSTS90014: a required field is missing.")
        if form.get("decision") != "allow":
            query = {
                "error": "access_denied",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
                "state": state,
            }
        else:
            self._consent(user.id, form.get("scope", ""))
            code = "1.A" + secrets.token_urlsafe(48)
            self._s.codes[code] = AuthCode(
                user.id, redirect_uri, form.get("scope", ""), time.time() + CODE_LIFETIME
            )
            query = {"code": code, "state": state, "session_state": str(uuid.uuid4())}
        separator = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        location = redirect_uri + separator + urllib.parse.urlencode(query)
        return web.Response(status=302, headers={"Location": location})

    def _consent(self, user_id: str, scope: str) -> None:
        """The person's own delegated grant for the app, created on first consent."""
        existing = self._s.principal_grant(user_id)
        if existing is not None:
            existing.scope = " ".join(dict.fromkeys([*existing.scope.split(), *scope.split()]))
            return
        grant = PermissionGrant(
            id=secrets.token_urlsafe(32),
            client_id=self._s.service_principal_id,
            consent_type="Principal",
            principal_id=user_id,
            resource_id=self._s.graph_principal_id,
            scope=scope,
        )
        self._s.grants[grant.id] = grant
