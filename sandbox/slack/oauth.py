"""Slack's OAuth v2 for the stand-in: the consent page, single-use codes, user tokens, revocation.

Its own object because it owns its own state (client credentials, pending codes); the tokens it
issues go into the stand-in's `user_tokens`, where the Web API looks them up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.payloads import Workspace
from sandbox.slack.wire import SlackError

AUTHORIZE_PATH = "/oauth/v2/authorize"
ROTATED_LIFETIME = 43200  # seconds an access token lives with token rotation on


@dataclass(frozen=True)
class _Code:
    user_id: str
    redirect_uri: str
    scope: str


class SlackOAuth:
    """The app's client credentials and what was granted with them."""

    def __init__(
        self,
        workspace: Workspace,
        people: Callable[[], list[dict[str, Any]]],
        user_tokens: dict[str, str],
    ) -> None:
        self.workspace = workspace
        self._people = people  # who can sign in on the consent page
        self._user_tokens = user_tokens  # issued token → user id, shared with the Web API
        self.client_id = f"{secrets.randbelow(10**10):010d}.{secrets.randbelow(10**12):012d}"
        self.client_secret = secrets.token_hex(16)
        self._codes: dict[str, _Code] = {}
        self.scopes: dict[str, frozenset[str]] = {}  # issued token → the user scopes granted
        # Token rotation (off, as in the manifest): tokens then expire after 12 hours and come
        # with a single-use refresh token (docs.slack.dev/authentication/using-token-rotation).
        self.rotation = False
        self._refresh: dict[str, str] = {}  # refresh token → the access token it renews

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(AUTHORIZE_PATH, self._page)
        app.router.add_post(AUTHORIZE_PATH, self._decision)

    def access(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: client credentials by HTTP Basic or form fields, a code, a token."""
        client_id, client_secret = wire.basic_auth(request) or (
            str(args.get("client_id", "")),
            str(args.get("client_secret", "")),
        )
        if client_id != self.client_id:
            raise SlackError("invalid_client_id")
        if not secrets.compare_digest(client_secret, self.client_secret):
            raise SlackError("bad_client_secret")
        if args.get("grant_type") == "refresh_token":
            return self._refreshed(str(args.get("refresh_token", "")))
        code = self._codes.pop(str(args.get("code", "")), None)  # single use, as on Slack
        if code is None:
            raise SlackError("invalid_code")
        if args.get("redirect_uri") != code.redirect_uri:
            raise SlackError("bad_redirect_uri")
        token = f"xoxp-sandbox-{secrets.token_hex(16)}"
        self._user_tokens[token] = code.user_id
        self.scopes[token] = frozenset(s for s in code.scope.split(",") if s)
        authed = {
            "id": code.user_id,
            "scope": code.scope,
            "access_token": token,
            "token_type": "user",
        }
        if self.rotation:
            authed |= self._rotating(token)
        return {
            "app_id": self.workspace.app_id,
            "authed_user": authed,
            "team": {"id": self.workspace.team_id, "name": self.workspace.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _rotating(self, token: str) -> dict[str, Any]:
        refresh = f"xoxe-1-sandbox-{secrets.token_hex(16)}"
        self._refresh[refresh] = token
        return {"refresh_token": refresh, "expires_in": ROTATED_LIFETIME}

    def _refreshed(self, refresh: str) -> dict[str, Any]:
        """A new token pair for a refresh token, answered at the top level as Slack does
        (@slack/oauth `OAuthV2TokenRefreshResponse`); the refresh token is spent."""
        old = self._refresh.pop(refresh, None)
        if old is None:
            raise SlackError("invalid_refresh_token")
        token = f"xoxe.xoxp-sandbox-{secrets.token_hex(16)}"
        self._user_tokens[token] = self._user_tokens[old]
        self.scopes[token] = self.scopes.get(old, frozenset())
        scope = ",".join(sorted(self.scopes[token]))
        return {"app_id": self.workspace.app_id, "access_token": token, "token_type": "user",
                "scope": scope, **self._rotating(token)}  # fmt: skip

    async def _page(self, request: web.Request) -> web.Response:
        problem = self._problem(request.query)
        if problem:
            return html(p.page(problem), status=400)
        scopes = [s for s in request.query.get("user_scope", "").split(",") if s]
        action = f"{AUTHORIZE_PATH}?{request.query_string}"
        return html(p.authorize_page(self.workspace, self._people(), scopes, action))

    async def _decision(self, request: web.Request) -> web.Response:
        query = request.query
        problem = self._problem(query)
        if problem:
            return html(p.page(problem), status=400)
        form = await request.post()
        user_id = str(form.get("user_id", ""))
        params: dict[str, str]
        if form.get("decision") != "allow":
            params = {"error": "access_denied"}
        elif user_id not in {u["id"] for u in self._people()}:
            return html(p.page("Choose who you are signed in as."), status=400)
        else:
            code = f"{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
            scope = query.get("user_scope", "")
            self._codes[code] = _Code(user_id, query["redirect_uri"], scope)
            params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        location = URL(query["redirect_uri"]).update_query(params)
        return web.Response(status=302, headers={"Location": str(location)})

    def _problem(self, query: MultiMapping[str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "Invalid client_id parameter"
        if not query.get("redirect_uri"):
            return "Missing redirect_uri parameter"
        return None


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")
