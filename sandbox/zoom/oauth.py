"""Zoom's OAuth for the stand-in: app tokens of two kinds, the consent page, codes, revocation.

Tokens really expire and are not interchangeable; codes and refresh tokens are single use
(platform-apis.md §F.4, §I.26).
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import time
import urllib.parse
from typing import Any

from aiohttp import web

from sandbox.zoom.model import (
    BOT_NAME,
    INVALID_CLIENT,
    LOGIN_SCOPES,
    IssuedToken,
)
from sandbox.zoom.state import ZoomState

_e = html.escape


class ZoomOAuth(ZoomState):
    """`/oauth/*`, and a person's browser clicking Allow or Decline on the consent page."""

    def _basic(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, secret

    def _app(self, request: web.Request) -> str | None:
        """Which app is calling: "chatbot", "s2s", "login", or None for bad credentials."""
        creds = self._basic(request)
        if creds == (self.login_client_id, self.login_client_secret):
            return "login"
        if creds == (self.client_id, self.client_secret):
            return "chatbot"
        if creds == (self.s2s_client_id, self.s2s_client_secret):
            return "s2s"
        return None

    def _issue(
        self, kind: str, lifetime: int, scope: str, user_id: str = ""
    ) -> tuple[str, IssuedToken]:
        token = f"{kind}-{secrets.token_urlsafe(24)}"
        record = IssuedToken(kind, time.time() + lifetime, scope, user_id)
        self._tokens[token] = record
        return token, record

    def _user_tokens(self, user_id: str, app: str) -> dict[str, Any]:
        """A user token of the app the person authorized: the chatbot app's reads who they are
        (`user:read`), the login app's carries its user-level Team Chat scopes."""
        scope = LOGIN_SCOPES if app == "login" else "user:read"
        access, record = self._issue("user", self.user_token_lifetime, scope, user_id)
        record.app = app
        refresh = secrets.token_urlsafe(32)
        record.refresh_token = refresh
        self._refresh[refresh] = (user_id, app)
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": self.user_token_lifetime,
            "scope": scope,
        }

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        args = {**request.query, **{k: str(v) for k, v in form.items()}}
        app = self._app(request)
        if app is None:
            return web.json_response(INVALID_CLIENT, status=401)
        grant = args.get("grant_type", "")
        if grant == "client_credentials" and app == "chatbot":
            token, _ = self._issue("chatbot", self.chatbot_token_lifetime, "imchat:bot")
            return web.json_response(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": self.chatbot_token_lifetime,
                    "scope": "imchat:bot",
                }
            )
        if grant == "account_credentials" and app == "s2s":
            if args.get("account_id") != self.account_id:
                return web.json_response(
                    {"reason": "Invalid account_id", "error": "invalid_request"}, status=400
                )
            scope = "user:read:admin user:read:list_users:admin"
            token, _ = self._issue("s2s", self.s2s_token_lifetime, scope)
            return web.json_response(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": self.s2s_token_lifetime,
                    "scope": scope,
                    "api_url": self.url,
                }
            )
        if grant == "authorization_code" and app in ("chatbot", "login"):
            code = args.get("code", "")
            entry = self._codes.pop(code, None)  # single use, even when the rest is wrong
            if entry is None or entry[2] < time.time() or entry[3] != app:
                return web.json_response(
                    {"reason": f"Invalid authorization code {code}", "error": "invalid_grant"},
                    status=400,
                )
            user_id, redirect_uri, _, _ = entry
            if args.get("redirect_uri") != redirect_uri:
                return web.json_response(
                    {"reason": "Redirect URI mismatch.", "error": "invalid_request"}, status=400
                )
            return web.json_response(self._user_tokens(user_id, app))
        if grant == "refresh_token" and app in ("chatbot", "login"):
            user_id, issuer = self._refresh.pop(args.get("refresh_token", ""), ("", ""))
            if not user_id or issuer != app:
                return web.json_response(
                    {"reason": "Invalid Token!", "error": "invalid_request"}, status=400
                )
            return web.json_response(self._user_tokens(user_id, app))
        return web.json_response(
            {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, status=400
        )

    async def _authorize_page(self, request: web.Request) -> web.Response:
        q = request.query
        if (
            q.get("client_id") not in (self.client_id, self.login_client_id)
            or q.get("response_type") != "code"
            or not q.get("redirect_uri")
        ):
            return web.Response(
                status=400, text="Invalid client_id, response_type or redirect_uri."
            )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{_e(q.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "state")
        )
        chosen = self._signed_in(q.get("login_hint", ""))
        options = "".join(
            f'<option value="{_e(u.id)}"{" selected" if u.id == chosen else ""}>'
            f"{_e(u.display_name)} ({_e(u.email or '')})</option>"
            for u in self.users.values()
            if u.status == "active"
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Zoom sandbox · Authorize</title></head><body>
<h1>{BOT_NAME} would like to access your Zoom account</h1>
<p>Account: {_e(self.account_name)}. It will see your name, email and user id.</p>
<form method="post" action="/oauth/authorize">{hidden}
<label>Signed in as <select name="user_id">{options}</select></label>
<button name="decision" value="allow">Allow</button>
<button name="decision" value="deny">Decline</button></form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    def _signed_in(self, hint: str) -> str:
        """Who the page shows as signed in: on zoom.us, whoever is signed in in that browser
        (the authorize request carries no user, platform-apis.md §F.4). The stand-in has no
        browser session, so the sandbox's inbox view says whose browser it is with
        `login_hint` (an email or user id, as OpenID Connect names it); otherwise the first."""
        wanted = hint.strip().lower()
        for u in self.users.values():
            if (
                wanted
                and u.status == "active"
                and wanted in {u.id.lower(), (u.email or "").lower()}
            ):
                return u.id
        return ""

    async def _authorize_decision(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, redirect_uri = str(form.get("client_id", "")), str(form.get("redirect_uri", ""))
        state, user_id = str(form.get("state", "")), str(form.get("user_id", ""))
        user = self.users.get(user_id)
        if (
            client_id not in (self.client_id, self.login_client_id)
            or not redirect_uri
            or user is None
            or user.status != "active"
        ):
            return web.Response(status=400, text="Invalid authorization request.")
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(24)
            app = "login" if client_id == self.login_client_id else "chatbot"
            self._codes[code] = (user_id, redirect_uri, time.time() + 600, app)
            if app == "login":  # a user-managed app is installed by the person's consent
                self.installed.add(user_id)
            params = {"code": code, "state": state}
        else:
            params = {"error": "access_denied", "state": state}
        separator = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        location = redirect_uri + separator + urllib.parse.urlencode(params)
        return web.Response(status=302, headers={"Location": location})

    async def _revoke(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if app not in ("chatbot", "login"):
            return web.json_response(INVALID_CLIENT, status=401)
        form = await request.post()
        token = str(form.get("token") or request.query.get("token", ""))
        record = self._tokens.get(token)
        if record is None or record.kind != "user" or record.app != app:
            return web.json_response(
                {"reason": "Invalid Token!", "error": "invalid_request"}, status=400
            )
        del self._tokens[token]
        self._refresh.pop(record.refresh_token, None)
        self.revoked.append(token)
        if app == "login" and not self._user_tokens_left(record.user_id):
            self.installed.discard(record.user_id)
        return web.json_response({"status": "success"})

    def _user_tokens_left(self, user_id: str) -> bool:
        return any(
            t.kind == "user" and t.app == "login" and t.user_id == user_id
            for t in self._tokens.values()
        )

    async def authorize(self, authorize_url: str, user_id: str, approve: bool = True) -> str:
        """`user_id` opens the bot's authorize link and clicks Allow or Decline.

        Returns the redirect's Location (the bot's callback URL with code or error) unfollowed.
        """
        if not authorize_url.startswith(self.url + "/oauth/authorize") or self._session is None:
            raise ValueError(f"{authorize_url} is not this sandbox's authorize page")
        async with self._session.get(authorize_url) as page:
            if page.status != 200:
                raise AssertionError(f"authorize page answered {page.status}: {await page.text()}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize_url).query)
        form = {k: query.get(k, [""])[0] for k in ("client_id", "redirect_uri", "state")}
        form |= {"user_id": user_id, "decision": "allow" if approve else "deny"}
        async with self._session.post(
            f"{self.url}/oauth/authorize", data=form, allow_redirects=False
        ) as answer:
            if answer.status != 302:
                raise AssertionError(
                    f"authorize decision answered {answer.status}: {await answer.text()}"
                )
            return answer.headers["Location"]
