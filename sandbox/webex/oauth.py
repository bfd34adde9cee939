"""The stand-in's Integrations OAuth (§F.3): consent page, token endpoint, Authorizations API.

Each code exchange creates a `refresh` authorization plus an `access` one per access token, as
the Authorizations API lists them. Deleting the refresh authorization ends the access tokens
minted from it; `DELETE /authorizations?clientId=…` signs everyone in the organisation out of
that client, which is why the adapter must never call it. Another integration ("Developer
Portal") holds authorizations too, so a revocation that deletes too much shows up in tests.
"""

from __future__ import annotations

import html
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from sandbox.webex.model import Authorization, Integration, State, Token, error, hydra_id

ACCESS_LIFETIME = 1_209_599  # 14 days
REFRESH_LIFETIME = 7_775_999  # 90 days
SCOPES = frozenset(
    {
        "spark:people_read",
        "spark:messages_read",
        "spark:messages_write",
        "spark:rooms_read",
        "spark:kms",
        "spark-admin:people_read",
        "spark-admin:organizations_read",
        "identity:tokens_read",
        "identity:tokens_write",
    }
)

_e = html.escape


@dataclass(frozen=True)
class _Code:
    person_id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: float


class WebexOAuth:
    """Mio's integration and the grants made to it (and to one other client)."""

    def __init__(self, state: State, app_name: str) -> None:
        self._state = state
        self.integration = Integration(app_name)
        self.other = Integration("Developer Portal")
        self.access_lifetime = ACCESS_LIFETIME  # tests shorten it
        self._codes: dict[str, _Code] = {}
        for person in state.people.values():
            if person.type == "person":
                self.issue(person.id, self.other, frozenset({"spark:all"}))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/authorize", self._page)
        app.router.add_post("/v1/authorize", self._decision)
        app.router.add_post("/v1/access_token", self._token)
        app.router.add_get("/v1/authorizations", self._list)
        app.router.add_delete("/v1/authorizations", self._delete_by_client)
        app.router.add_delete("/v1/authorizations/{authorization_id}", self._delete)

    # -- tokens ------------------------------------------------------------------------------
    def _authorization(
        self,
        person_id: str,
        client: Integration,
        kind: Literal["refresh", "access"],
        scopes: frozenset[str],
        lifetime: int,
        refresh_id: str = "",
    ) -> Authorization:
        authorization = Authorization(
            id=hydra_id("AUTHORIZATION", str(uuid.uuid4())),
            person_id=person_id,
            integration=client,
            type=kind,
            token=secrets.token_urlsafe(40),
            scopes=scopes,
            expires_at=time.time() + lifetime,
            refresh_id=refresh_id,
        )
        self._state.authorizations[authorization.id] = authorization
        return authorization

    def _access(self, refresh: Authorization) -> dict[str, Any]:
        access = self._authorization(
            refresh.person_id,
            refresh.integration,
            "access",
            refresh.scopes,
            self.access_lifetime,
            refresh.id,
        )
        self._state.tokens[access.token] = Token(
            refresh.person_id,
            "user",
            refresh.scopes,
            access.expires_at,
            refresh.integration.client_id,
            access.id,
        )
        return {
            "access_token": access.token,
            "expires_in": self.access_lifetime,
            "refresh_token": refresh.token,
            "refresh_token_expires_in": max(0, int(refresh.expires_at - time.time())),
            "token_type": "Bearer",
            "scope": " ".join(sorted(refresh.scopes)),
        }

    def issue(self, person_id: str, client: Integration, scopes: frozenset[str]) -> dict[str, Any]:
        """A new grant of `client` by `person_id`: the token endpoint's answer."""
        refresh = self._authorization(person_id, client, "refresh", scopes, REFRESH_LIFETIME)
        return self._access(refresh)

    def revoke(self, authorization: Authorization) -> None:
        """Delete an authorization; a refresh one takes its access tokens with it."""
        doomed = [authorization] + [
            a for a in self._state.authorizations.values() if a.refresh_id == authorization.id
        ]
        for item in doomed:
            self._state.authorizations.pop(item.id, None)
            self._state.tokens.pop(item.token, None)

    # -- consent page ------------------------------------------------------------------------
    def _check(self, args: Any) -> tuple[frozenset[str], str] | str:
        """The requested scopes and redirect URI, or why the request is invalid."""
        if args.get("client_id") != self.integration.client_id:
            return "invalid_client: unknown client_id"
        if args.get("response_type") != "code":
            return "unsupported_response_type"
        redirect_uri = str(args.get("redirect_uri") or "")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return "invalid_request: redirect_uri"
        scopes = frozenset(str(args.get("scope") or "").split())
        if not scopes or not scopes <= SCOPES:
            return f"invalid_scope: {' '.join(sorted(scopes - SCOPES)) or 'none requested'}"
        return scopes, redirect_uri

    async def _page(self, request: web.Request) -> web.Response:
        checked = self._check(request.query)
        if isinstance(checked, str):
            return web.Response(status=400, text=checked)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{_e(request.query.get(k, ""))}">'
            for k in ("client_id", "response_type", "redirect_uri", "scope", "state")
        )
        options = "".join(
            f'<option value="{_e(p.id)}">{_e(p.display_name)} ({_e(p.email or "")})</option>'
            for p in self._state.people.values()
            if p.active and p.type != "bot"
        )
        scopes = "".join(f"<li><code>{_e(s)}</code></li>" for s in sorted(checked[0]))
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Webex sandbox · Authorize</title></head><body>
<h1>{_e(self.integration.name)} would like to access your Webex account</h1>
<p>Organisation: {_e(self._state.org_name)}. Requested access:</p><ul>{scopes}</ul>
<form method="post" action="/v1/authorize">{hidden}
<label>Signed in as <select name="person_id">{options}</select></label>
<button name="decision" value="accept">Accept</button>
<button name="decision" value="decline">Decline</button></form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _decision(self, request: web.Request) -> web.Response:
        form = await request.post()
        checked = self._check(form)
        person = self._state.people.get(str(form.get("person_id", "")))
        if isinstance(checked, str) or person is None or not person.active:
            return web.Response(status=400, text="Invalid authorization request.")
        scopes, redirect_uri = checked
        state = str(form.get("state", ""))
        if form.get("decision") == "accept":
            code = secrets.token_urlsafe(32)
            expiry = time.time() + 300
            self._codes[code] = _Code(
                person.id, self.integration.client_id, redirect_uri, scopes, expiry
            )
            params = {"code": code, "state": state}
        else:
            params = {"error": "access_denied", "state": state}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return web.Response(
            status=302, headers={"Location": redirect_uri + separator + urlencode(params)}
        )

    # -- token endpoint ----------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = self.integration
        if (
            form.get("client_id") != client.client_id
            or form.get("client_secret") != client.client_secret
        ):
            return error(401, "invalid_client: the client_id or client_secret is wrong.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self._codes.pop(str(form.get("code", "")), None)  # single use
            if code is None or code.expires_at < time.time():
                return error(400, "invalid_grant: the authorization code is invalid or used.")
            if form.get("redirect_uri") != code.redirect_uri:
                return error(400, "invalid_grant: redirect_uri does not match the authorization.")
            return web.json_response(self.issue(code.person_id, client, code.scopes))
        if grant == "refresh_token":
            token = str(form.get("refresh_token", ""))
            refresh = next(
                (
                    a
                    for a in self._state.authorizations.values()
                    if a.type == "refresh" and a.token == token and a.integration is client
                ),
                None,
            )
            if refresh is None or refresh.expires_at < time.time():
                return error(400, "invalid_grant: the refresh token is invalid or revoked.")
            return web.json_response(self._access(refresh))
        return error(400, "unsupported_grant_type")

    # -- Authorizations API (admin only) ----------------------------------------------------
    def _admin(self, request: web.Request, scope: str) -> Token | web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        person = self._state.person(token.person_id)
        if not token.has_admin(scope) or person is None or not person.is_admin:
            return error(403, f"This API needs an administrator token with {scope}.")
        return token

    async def _list(self, request: web.Request) -> web.Response:
        token = self._admin(request, "identity:tokens_read")
        if isinstance(token, web.Response):
            return token
        person_id = request.query.get("personId", "")
        if email := request.query.get("personEmail"):
            person = self._state.by_email(email)
            person_id = person.id if person else ""
        if not person_id:
            return error(400, "personId or personEmail is required.")
        items = [
            a.public() for a in self._state.authorizations.values() if a.person_id == person_id
        ]
        return web.json_response({"items": items})

    async def _delete(self, request: web.Request) -> web.Response:
        token = self._admin(request, "identity:tokens_write")
        if isinstance(token, web.Response):
            return token
        authorization = self._state.authorizations.get(request.match_info["authorization_id"])
        if authorization is None:
            return error(404, "Authorization not found.")
        self.revoke(authorization)
        return web.Response(status=204)

    async def _delete_by_client(self, request: web.Request) -> web.Response:
        """Everyone's grants of one client, the admin's own included (the trap of §F.3)."""
        token = self._admin(request, "identity:tokens_write")
        if isinstance(token, web.Response):
            return token
        client_id = request.query.get("clientId", "")
        if not client_id:
            return error(400, "clientId is required.")
        for authorization in list(self._state.authorizations.values()):
            if authorization.integration.client_id == client_id and authorization.type == "refresh":
                self.revoke(authorization)
        return web.Response(status=204)
