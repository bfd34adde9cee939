"""The stand-in's state and what every part reads from it: users, tokens, messages, bearer checks.

The parts (OAuth, users, chatbot messages, deliveries to the bot, the inbox page) are mixins
over this class, so one `ZoomSandbox` keeps the single set of attributes tests poke at.
"""

from __future__ import annotations

import secrets
import time

import aiohttp
from aiohttp import web

from sandbox.base import FakeService
from sandbox.org import Org, OrgAccount
from sandbox.zoom.model import (
    JID_DOMAIN,
    Delivery,
    IssuedToken,
    SandboxMessage,
    SandboxUser,
    UserDm,
)


class ZoomState(FakeService):
    """One account's users, apps, tokens and messages; the mixins' handlers share them."""

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
        # The people's login app for the relay: a user-managed General app (relay-apis §4.1),
        # with its own credentials and its own event subscription's secret token.
        self.login_client_id = "zlg" + secrets.token_hex(8)
        self.login_client_secret = secrets.token_urlsafe(24)
        self.login_webhook_secret = secrets.token_urlsafe(16)
        self.installed: set[str] = set()  # users who authorized the login app
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
        self.deliveries: list[Delivery] = []
        self._tokens: dict[str, IssuedToken] = {}
        # code → (user id, redirect_uri, expiry, app it was issued for)
        self._codes: dict[str, tuple[str, str, float, str]] = {}
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token → (user id, app)
        self._pages: dict[str, tuple[str, int]] = {}  # next_page_token → (status, offset)
        self._messages: dict[str, SandboxMessage] = {}
        self.dms: dict[str, UserDm] = {}  # 1:1 messages between users, by id, in send order
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

    def user(self, user_id: str) -> SandboxUser:
        return self.users[user_id]

    def inbox(self, user_id: str) -> list[SandboxMessage]:
        jid = self.users[user_id].jid
        return [m for m in self._messages.values() if m.to_jid == jid]

    def revoke_user_token(self, user_id: str) -> None:
        """The person's user tokens stop working, as when they are revoked on Zoom's side:
        REST calls answer 124 and their refresh tokens are refused (§I.27)."""
        for token, record in list(self._tokens.items()):
            if record.kind == "user" and record.user_id == user_id:
                del self._tokens[token]
                self._refresh.pop(record.refresh_token, None)
        self.installed.discard(user_id)

    def _bearer(self, request: web.Request) -> tuple[str, IssuedToken] | web.Response:
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
