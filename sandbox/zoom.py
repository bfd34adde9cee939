"""A stand-in for Zoom: OAuth, the users directory, chatbot messages and signed webhook delivery.

It behaves like the parts of Zoom the bot uses (platform-apis.md §A.4, B.4, C.4, D.4, E.4, F.4,
§I.24–I.28): two kinds of app token that really expire and are not interchangeable, single-use
codes and refresh tokens, Zoom's three error shapes, 201 on sends, and edits applied in place.
It also acts as the people in the org: it signs and delivers slash commands and button presses
to the bot exactly as Zoom would, so tests exercise the bot's real verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.base import FakeService
from sandbox.org import Org, OrgAccount

JID_DOMAIN = "@xmpp.zoom.us"
BOT_NAME = "Mio User Sync"

INVALID_CLIENT = {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
CHATBOT_UNAUTHORIZED = {"code": 7010, "message": "Invalid authorization token."}
BAD_BODY = {"code": 7001, "message": "Invalid request body format."}


_e = html.escape


def _jid(user_id: str) -> str:
    return user_id.lower() + JID_DOMAIN


@dataclass
class SandboxUser:
    """One Zoom user of the seeded account."""

    id: str
    email: str | None
    first_name: str
    last_name: str
    display_name: str
    role_id: str
    status: str  # "active" | "inactive"

    @property
    def jid(self) -> str:
        return _jid(self.id)

    def listing(self) -> dict[str, Any]:
        """The user as `GET /users` shows it: no `jid` there (§I.25)."""
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "display_name": self.display_name,
            "email": self.email,
            "type": 2,
            "status": self.status,
            "role_id": self.role_id,
            "verified": 1,
            "timezone": "Europe/London",
            "dept": "",
            "language": "en-US",
            "user_created_at": "2024-01-02T03:04:05Z",
        }


@dataclass
class SandboxMessage:
    """A chatbot message as it sits in a user's chat; edits replace `content` in place."""

    message_id: str
    to_jid: str
    user_jid: str
    content: dict[str, Any]
    sent_time: str
    edited: int = 0

    @property
    def text(self) -> str:
        """Header and message items as one text, for assertions and the inbox page."""
        parts = [str(self.content.get("head", {}).get("text", ""))]
        parts += [
            str(item.get("text", ""))
            for item in self.content.get("body", [])
            if item.get("type") == "message"
        ]
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[dict[str, str]]:
        """The action items (`text`, `value`, `style`) of every actions block."""
        return [
            dict(item)
            for block in self.content.get("body", [])
            if block.get("type") == "actions"
            for item in block.get("items", [])
        ]


@dataclass
class _Token:
    kind: str  # "chatbot" | "s2s" | "user"
    expires_at: float
    scope: str
    user_id: str = ""
    refresh_token: str = ""


@dataclass
class _Delivery:
    body: bytes
    statuses: list[int] = field(default_factory=list)


class ZoomSandbox(FakeService):
    """Zoom for one account: `env()` points the bot here; `bot_url` points us at the bot."""

    name = "zoom"

    def __init__(self, org: Org) -> None:
        super().__init__()
        workspace = org.workspaces["zoom"]
        self.account_id = workspace["id"]
        self.account_name = workspace["name"]
        self.client_id = "zcb" + secrets.token_hex(8)
        self.client_secret = secrets.token_urlsafe(24)
        self.s2s_client_id = "zs2s" + secrets.token_hex(8)
        self.s2s_client_secret = secrets.token_urlsafe(24)
        self.bot_jid = f"v1{secrets.token_hex(10)}{JID_DOMAIN}"
        self.webhook_secret = secrets.token_urlsafe(16)
        self.bot_url = ""  # the bot's base URL; deliveries go to f"{bot_url}/zoom/events"
        # Token lifetimes in seconds; tests shorten them to watch tokens really expire.
        self.chatbot_token_lifetime = 3600
        self.s2s_token_lifetime = 3599
        self.user_token_lifetime = 3599
        self.max_page_size = 300  # tests lower it to see paging with a small org
        self.users: dict[str, SandboxUser] = {}
        for account in org.on("zoom"):
            self.add_user(account)
        self.revoked: list[str] = []  # access tokens revoked through /oauth/revoke
        self.deliveries: list[_Delivery] = []
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[
            str, tuple[str, str, float]
        ] = {}  # code → (user id, redirect_uri, expiry)
        self._refresh: dict[str, str] = {}  # refresh token → user id
        self._pages: dict[str, tuple[str, int]] = {}  # next_page_token → (status, offset)
        self._messages: dict[str, SandboxMessage] = {}
        self._session: aiohttp.ClientSession | None = None

    def add_user(self, account: OrgAccount) -> SandboxUser:
        first, _, last = account.name.partition(" ")
        owner_taken = any(u.role_id == "0" for u in self.users.values())
        role = ("1" if owner_taken else "0") if account.is_admin else "2"
        user = SandboxUser(
            id=account.user_id,
            email=account.email,
            first_name=first,
            last_name=last,
            display_name=account.name,
            role_id=role,
            status="active" if account.active else "inactive",
        )
        self.users[user.id] = user
        return user

    def env(self) -> dict[str, str]:
        return {
            "ZOOM_ACCOUNT_ID": self.account_id,
            "ZOOM_CLIENT_ID": self.client_id,
            "ZOOM_CLIENT_SECRET": self.client_secret,
            "ZOOM_BOT_JID": self.bot_jid,
            "ZOOM_WEBHOOK_SECRET": self.webhook_secret,
            "ZOOM_S2S_CLIENT_ID": self.s2s_client_id,
            "ZOOM_S2S_CLIENT_SECRET": self.s2s_client_secret,
            "ZOOM_API_URL": f"{self.url}/v2/",
            "ZOOM_OAUTH_URL": f"{self.url}/oauth/",
        }

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        url = await super().start(host, port)
        self._session = aiohttp.ClientSession()
        return url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/oauth/authorize", self._authorize_page)
        app.router.add_post("/oauth/authorize", self._authorize_decision)
        app.router.add_post("/oauth/revoke", self._revoke)
        app.router.add_get("/v2/users", self._list_users)
        app.router.add_get("/v2/users/me", self._me)
        app.router.add_get("/v2/users/{user_id}", self._get_user)
        app.router.add_post("/v2/im/chat/messages", self._send)
        app.router.add_put("/v2/im/chat/messages/{message_id}", self._edit)
        app.router.add_delete("/v2/im/chat/messages/{message_id}", self._delete)
        app.router.add_get("/inbox/{user_id}", self._inbox_page)
        app.router.add_post("/inbox/{user_id}/press", self._inbox_press)

    # -- test controls -----------------------------------------------------------------------
    def fault_body(self, status: int, path: str) -> Any:
        if path.startswith("/oauth/"):
            return {
                "reason": f"HTTP {status}",
                "error": "server_error" if status >= 500 else "invalid_request",
            }
        if status == 429:
            return {
                "code": 429,
                "message": "You have reached the maximum per-second rate limit for this API. "
                "Try again later.",
            }
        return {"code": status, "message": "Internal Error" if status >= 500 else f"HTTP {status}"}

    def rate_limit(
        self, path: str, *, daily: bool = False, times: int = 1, skip: int = 0
    ) -> datetime | None:
        """Make `path` answer 429 like Zoom: per-second (no Retry-After) or daily (a date-time),
        after `skip` requests were served (§I.24)."""
        if not daily:
            self.fail(
                path,
                429,
                times=times,
                skip=skip,
                headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Category": "Medium"},
            )
            return None
        reset = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.fail(
            path,
            429,
            times=times,
            skip=skip,
            headers={
                "X-RateLimit-Type": "Daily-limit",
                "X-RateLimit-Category": "Medium",
                "X-RateLimit-Limit": "2000",
                "X-RateLimit-Remaining": "0",
                "Retry-After": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            body={
                "code": 429,
                "message": "You have reached the maximum daily rate limit for this API.",
            },
        )
        return reset

    def expire_tokens(self, kind: str | None = None) -> None:
        """Make issued tokens (of one kind, or all) expire now, as if Zoom rotated them."""
        for token in self._tokens.values():
            if kind is None or token.kind == kind:
                token.expires_at = 0.0

    def user(self, user_id: str) -> SandboxUser:
        return self.users[user_id]

    def inbox(self, user_id: str) -> list[SandboxMessage]:
        jid = self.users[user_id].jid
        return [m for m in self._messages.values() if m.to_jid == jid]

    # -- OAuth -------------------------------------------------------------------------------
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
        """Which app is calling: "chatbot", "s2s", or None for bad credentials."""
        creds = self._basic(request)
        if creds == (self.client_id, self.client_secret):
            return "chatbot"
        if creds == (self.s2s_client_id, self.s2s_client_secret):
            return "s2s"
        return None

    def _issue(self, kind: str, lifetime: int, scope: str, user_id: str = "") -> tuple[str, _Token]:
        token = f"{kind}-{secrets.token_urlsafe(24)}"
        record = _Token(kind, time.time() + lifetime, scope, user_id)
        self._tokens[token] = record
        return token, record

    def _user_tokens(self, user_id: str) -> dict[str, Any]:
        access, record = self._issue("user", self.user_token_lifetime, "user:read", user_id)
        refresh = secrets.token_urlsafe(32)
        record.refresh_token = refresh
        self._refresh[refresh] = user_id
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": self.user_token_lifetime,
            "scope": "user:read",
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
        if grant == "authorization_code" and app == "chatbot":
            code = args.get("code", "")
            entry = self._codes.pop(code, None)  # single use, even when the rest is wrong
            if entry is None or entry[2] < time.time():
                return web.json_response(
                    {"reason": f"Invalid authorization code {code}", "error": "invalid_grant"},
                    status=400,
                )
            user_id, redirect_uri, _ = entry
            if args.get("redirect_uri") != redirect_uri:
                return web.json_response(
                    {"reason": "Redirect URI mismatch.", "error": "invalid_request"}, status=400
                )
            return web.json_response(self._user_tokens(user_id))
        if grant == "refresh_token" and app == "chatbot":
            user_id = self._refresh.pop(args.get("refresh_token", ""), "")
            if not user_id:
                return web.json_response(
                    {"reason": "Invalid Token!", "error": "invalid_request"}, status=400
                )
            return web.json_response(self._user_tokens(user_id))
        return web.json_response(
            {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, status=400
        )

    async def _authorize_page(self, request: web.Request) -> web.Response:
        q = request.query
        if (
            q.get("client_id") != self.client_id
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
            client_id != self.client_id
            or not redirect_uri
            or user is None
            or user.status != "active"
        ):
            return web.Response(status=400, text="Invalid authorization request.")
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(24)
            self._codes[code] = (user_id, redirect_uri, time.time() + 600)
            params = {"code": code, "state": state}
        else:
            params = {"error": "access_denied", "state": state}
        separator = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        location = redirect_uri + separator + urllib.parse.urlencode(params)
        return web.Response(status=302, headers={"Location": location})

    async def _revoke(self, request: web.Request) -> web.Response:
        if self._app(request) != "chatbot":
            return web.json_response(INVALID_CLIENT, status=401)
        form = await request.post()
        token = str(form.get("token") or request.query.get("token", ""))
        record = self._tokens.get(token)
        if record is None or record.kind != "user":
            return web.json_response(
                {"reason": "Invalid Token!", "error": "invalid_request"}, status=400
            )
        del self._tokens[token]
        self._refresh.pop(record.refresh_token, None)
        self.revoked.append(token)
        return web.json_response({"status": "success"})

    # -- REST --------------------------------------------------------------------------------
    def _bearer(self, request: web.Request) -> tuple[str, _Token] | web.Response:
        """The valid token on the request, or Zoom's REST 401 (code 124)."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        record = self._tokens.get(token)
        if record is None:
            return web.json_response({"code": 124, "message": "Invalid access token."}, status=401)
        if record.expires_at <= time.time():
            return web.json_response(
                {"code": 124, "message": "Access token is expired."}, status=401
            )
        return token, record

    @staticmethod
    def _missing_scope(scopes: str) -> web.Response:
        return web.json_response(
            {"code": 4711, "message": f"Invalid access token, does not contain scopes:[{scopes}]."},
            status=400,
        )

    async def _list_users(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        if auth[1].kind != "s2s":
            return self._missing_scope("user:read:admin, user:read:list_users:admin")
        status = request.query.get("status", "active")
        if status not in ("active", "inactive", "pending"):
            return web.json_response(
                {"code": 300, "message": f"Invalid status: {status}"}, status=400
            )
        try:
            page_size = min(int(request.query.get("page_size", "30")), 300, self.max_page_size)
        except ValueError:
            return web.json_response({"code": 300, "message": "Invalid page_size"}, status=400)
        page_size = max(page_size, 1)
        offset = 0
        if next_token := request.query.get("next_page_token", ""):
            entry = self._pages.pop(next_token, None)
            if entry is None or entry[0] != status:
                return web.json_response(
                    {"code": 300, "message": "Invalid next_page_token"}, status=400
                )
            offset = entry[1]
        # Pending users never have an id (§E.4); the seeded org has none.
        matching = [u for u in self.users.values() if u.status == status]
        page = matching[offset : offset + page_size]
        following = ""
        if offset + page_size < len(matching):
            following = secrets.token_urlsafe(24)
            self._pages[following] = (status, offset + page_size)
        return web.json_response(
            {
                "page_count": max(1, -(-len(matching) // page_size)),
                "page_number": offset // page_size + 1,
                "page_size": page_size,
                "total_records": len(matching),
                "next_page_token": following,
                "users": [u.listing() for u in page],
            }
        )

    def _profile(self, user: SandboxUser) -> dict[str, Any]:
        role_names = {"0": "Owner", "1": "Admin", "2": "Member"}
        return {
            **user.listing(),
            "jid": user.jid,
            "account_id": self.account_id,
            "role_name": role_names.get(user.role_id, "Member"),
        }

    async def _me(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        if auth[1].kind != "user":
            return self._missing_scope("user:read, user:read:user")
        return web.json_response(self._profile(self.users[auth[1].user_id]))

    async def _get_user(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        wanted = request.match_info["user_id"]
        user = self.users.get(wanted) or next(
            (u for u in self.users.values() if u.email and u.email.lower() == wanted.lower()), None
        )
        if auth[1].kind == "chatbot" or (
            auth[1].kind == "user" and (user is None or user.id != auth[1].user_id)
        ):
            return self._missing_scope("user:read:admin")
        if user is None:
            return web.json_response(
                {"code": 1001, "message": f"User does not exist: {wanted}."}, status=404
            )
        return web.json_response(self._profile(user))

    # -- chatbot messages --------------------------------------------------------------------
    async def _chatbot_body(
        self, request: web.Request, required: tuple[str, ...]
    ) -> dict[str, Any] | web.Response:
        """The validated JSON body of a chatbot call, or the error Zoom would answer."""
        auth = self._bearer(request)
        if isinstance(auth, web.Response) or auth[1].kind != "chatbot":
            return web.json_response(CHATBOT_UNAUTHORIZED, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(BAD_BODY, status=400)
        if not isinstance(body, dict) or any(not body.get(k) for k in required):
            return web.json_response(BAD_BODY, status=400)
        if not isinstance(body["content"], dict) or not (
            body["content"].get("head") or body["content"].get("body")
        ):
            return web.json_response(BAD_BODY, status=400)
        robot = str(body["robot_jid"])
        if "@" not in robot:
            return web.json_response(
                {"code": 7002, "message": "Invalid robot_jid value specified in the Request Body."},
                status=404,
            )
        if robot != self.bot_jid:
            return web.json_response(
                {
                    "code": 7003,
                    "message": "No Chatbot can be found with the given robot_jid value.",
                },
                status=403,
            )
        if body["account_id"] != self.account_id:
            return web.json_response({"code": 7004, "message": "Not authorized."}, status=403)
        return body

    def _active_jid(self, jid: str) -> bool:
        return any(u.jid == jid and u.status == "active" for u in self.users.values())

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._chatbot_body(
            request, ("robot_jid", "to_jid", "account_id", "content", "user_jid")
        )
        if isinstance(body, web.Response):
            return body
        if not self._active_jid(body["to_jid"]):
            return web.json_response(
                {
                    "code": 7004,
                    "message": "No channel or user can be found with the given to_jid value.",
                },
                status=403,
            )
        message = SandboxMessage(
            message_id=str(uuid.uuid4()).upper(),
            to_jid=body["to_jid"],
            user_jid=body["user_jid"],
            content=body["content"],
            sent_time=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
        self._messages[message.message_id] = message
        return web.json_response(
            {
                "message_id": message.message_id,
                "robot_jid": self.bot_jid,
                "to_jid": message.to_jid,
                "sent_time": message.sent_time,
                "user_jid": message.user_jid,
            },
            status=201,
        )

    def _message_answer(self, message: SandboxMessage) -> web.Response:
        return web.json_response(
            {
                "message_id": message.message_id,
                "robot_jid": self.bot_jid,
                "sent_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000"),
                "to_jid": message.to_jid,
                "user_jid": message.user_jid,
            }
        )

    async def _edit(self, request: web.Request) -> web.Response:
        body = await self._chatbot_body(request, ("robot_jid", "account_id", "content"))
        if isinstance(body, web.Response):
            return body
        message = self._messages.get(request.match_info["message_id"])
        if message is None:
            return web.json_response(
                {"code": 8001, "message": "Invalid message_id value."}, status=404
            )
        message.content = body["content"]
        message.edited += 1
        return self._message_answer(message)

    async def _delete(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response) or auth[1].kind != "chatbot":
            return web.json_response(CHATBOT_UNAUTHORIZED, status=401)
        q = request.query
        if q.get("robot_jid") != self.bot_jid or q.get("account_id") != self.account_id:
            return web.json_response({"code": 7004, "message": "Not authorized."}, status=403)
        message = self._messages.pop(request.match_info["message_id"], None)
        if message is None:
            return web.json_response({"code": 8001, "message": "Invalid message_id."}, status=404)
        return self._message_answer(message)

    # -- acting as Zoom towards the bot --------------------------------------------------------
    def sign(self, body: bytes, ts: int | None = None) -> dict[str, str]:
        """The headers Zoom sends with a webhook body (§A.4)."""
        timestamp = str(int(time.time()) if ts is None else ts)
        digest = hmac.new(
            self.webhook_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
        )
        return {
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": "v0=" + digest.hexdigest(),
            "x-zm-request-id": str(uuid.uuid4()),
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Zoom Marketplace/1.0a",
        }

    async def _post_event(self, delivery: _Delivery, headers: dict[str, str]) -> tuple[int, str]:
        if not self.bot_url:
            raise RuntimeError("ZoomSandbox.bot_url is not set: where does the bot listen?")
        if self._session is None:
            raise RuntimeError("ZoomSandbox.start() must run before delivering events")
        url = self.bot_url.rstrip("/") + "/zoom/events"
        async with self._session.post(url, data=delivery.body, headers=headers) as response:
            delivery.statuses.append(response.status)
            return response.status, await response.text()

    async def deliver(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST raw bytes to the bot's /zoom/events, signed unless `headers` are given."""
        delivery = _Delivery(body)
        self.deliveries.append(delivery)
        return await self._post_event(delivery, headers or self.sign(body))

    async def redeliver(self, last: bool = True) -> tuple[int, str]:
        """Zoom's retry: the same body byte for byte, freshly signed (the newest, or the first)."""
        if not self.deliveries:
            raise LookupError("nothing was delivered yet")
        delivery = self.deliveries[-1 if last else 0]
        return await self._post_event(delivery, self.sign(delivery.body))

    @staticmethod
    def _compact(event: dict[str, Any]) -> bytes:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()

    async def url_validation(self) -> dict[str, Any]:
        """Zoom's endpoint check; raises unless the bot proves it holds the secret."""
        plain = secrets.token_urlsafe(16)
        body = self._compact(
            {
                "payload": {"plainToken": plain},
                "event_ts": int(time.time() * 1000),
                "event": "endpoint.url_validation",
            }
        )
        status, text = await self.deliver(body)
        answer: dict[str, Any] = json.loads(text) if status in (200, 204) and text else {}
        expected = hmac.new(
            self.webhook_secret.encode(), plain.encode(), hashlib.sha256
        ).hexdigest()
        if answer.get("plainToken") != plain or answer.get("encryptedToken") != expected:
            raise AssertionError(f"URL validation failed: HTTP {status} {text!r}")
        return answer

    async def slash_command(self, user_id: str, text: str) -> tuple[int, str]:
        """`/mio {text}` typed by `user_id` in their 1:1 chat with the bot (§D.4)."""
        user = self.users[user_id]
        now = int(time.time() * 1000)
        payload = {
            "accountId": self.account_id,
            "channelName": user.display_name,
            "cmd": text,
            "name": BOT_NAME,
            "robotJid": self.bot_jid,
            "timestamp": now,
            "toJid": user.jid,
            "userId": user.id,
            "userJid": user.jid,
            "userName": user.display_name,
        }
        return await self.deliver(
            self._compact({"event": "bot_notification", "event_ts": now, "payload": payload})
        )

    async def press(
        self, user_id: str, message: SandboxMessage, label_or_value: str
    ) -> tuple[int, str]:
        """`user_id` clicks a button of `message`, found by its text or its value (§C.4)."""
        user = self.users[user_id]
        item = next(
            (b for b in message.buttons if label_or_value in (b.get("text"), b.get("value"))), None
        )
        if item is None:
            raise LookupError(f"no button {label_or_value!r} in message {message.message_id}")
        now = int(time.time() * 1000)
        payload = {
            "accountId": self.account_id,
            "actionItem": {"text": item.get("text", ""), "value": item.get("value", "")},
            "channelName": user.display_name,
            "messageId": message.message_id,
            "original": message.content,
            "robotJid": self.bot_jid,
            "timestamp": now,
            "toJid": f"{user.jid}/robot_{self.bot_jid}",
            "userId": user.id,
            "userJid": user.jid,
            "userName": user.display_name,
        }
        event = {
            "event": "interactive_message_actions",
            "event_ts": now,
            "callback_url": f"{self.url}/v2/im/chat/callback/{secrets.token_urlsafe(16)}",
            "callback_token": secrets.token_urlsafe(32),
            "payload": payload,
        }
        return await self.deliver(self._compact(event))

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

    # -- browser view --------------------------------------------------------------------------
    async def _inbox_page(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise web.HTTPNotFound(text="no such sandbox user")
        cards = []
        for message in self.inbox(user.id):
            buttons = "".join(
                f'<button name="value" value="{_e(b.get("value", ""))}">'
                f"{_e(b.get('text', ''))}</button>"
                for b in message.buttons
            )
            form = (
                f'<form method="post" action="/inbox/{_e(user.id)}/press">'
                f'<input type="hidden" name="message_id" value="{_e(message.message_id)}">'
                f"{buttons}</form>"
            )
            edited = " (edited)" if message.edited else ""
            cards.append(
                f"<article><pre>{_e(message.text)}</pre>"
                f"<small>{message.sent_time}{edited}</small>{form}</article>"
            )
        name = _e(user.display_name)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Zoom · {name}</title></head>"
            f"<body><h1>{name}'s chat with {BOT_NAME}</h1>"
            f"{''.join(cards) or '<p>No messages.</p>'}</body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _inbox_press(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        form = await request.post()
        message = self._messages.get(str(form.get("message_id", "")))
        if user_id not in self.users or message is None:
            raise web.HTTPNotFound(text="no such message")
        await self.press(user_id, message, str(form.get("value", "")))
        return web.Response(
            status=303, headers={"Location": f"/inbox/{urllib.parse.quote(user_id)}"}
        )
