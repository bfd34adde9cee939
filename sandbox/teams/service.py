"""The Teams stand-in: Bot Connector, Microsoft Graph and Microsoft login on one loopback server.

It serves one Microsoft 365 tenant seeded from the org's Teams accounts (ids are Entra object
ids) and acts as its people: it signs each delivery to the bot's `/api/messages` with its own
published keys, exactly as the Bot Connector would, so tests exercise the bot's real JWT check.
Login is in `login.py`, Graph in `graph.py`, the connector in `connector.py`, the demo's browser
view in `inbox_view.py`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.base import FakeService, NativeDm
from sandbox.org import Org, OrgAccount
from sandbox.teams.chats import Chats
from sandbox.teams.chats_api import ChatsApi
from sandbox.teams.connector import ConnectorApi
from sandbox.teams.graph import GRAPH_APP_PERMISSIONS, GraphApi
from sandbox.teams.inbox_view import InboxView
from sandbox.teams.keys import SigningKeys, connector_claims
from sandbox.teams.login import MicrosoftLogin
from sandbox.teams.state import (
    AuthCode,
    ChatActivity,
    Delivery,
    EntraUser,
    IssuedToken,
    PermissionGrant,
)

BOT_NAME = "Mio User Sync"
MESSAGES_PATH = "/api/messages"
_AT = re.compile(r"<at>(.*?)</at>", re.DOTALL)


class TeamsSandbox(FakeService):
    """Teams for one tenant: `env()` points the bot here; `bot_url` points us at the bot."""

    name = "teams"

    def __init__(self, org: Org) -> None:
        super().__init__()
        workspace = org.workspaces["teams"]
        self.tenant_id, self.org_name = workspace["id"], workspace["name"]
        slug = "".join(c for c in self.org_name.lower() if c.isalnum()) or "sandbox"
        self.domain = f"{slug}.onmicrosoft.com"
        self.app_id = str(uuid.uuid4())
        self.app_password = secrets.token_urlsafe(30)
        self.service_principal_id = str(uuid.uuid4())  # our app's, in this tenant
        self.graph_principal_id = str(uuid.uuid4())  # Microsoft Graph's, the grants' resource
        self.catalog_id = str(uuid.uuid4())  # the org catalog's id for our app (§I.21)
        self.bot_name = BOT_NAME
        self.region = "amer"
        # Knobs tests turn.
        self.app_in_catalog = True
        self.app_permissions: set[str] = set(GRAPH_APP_PERMISSIONS)
        self.app_token_lifetime = 3599
        self.user_token_lifetime = 3599
        self.max_page_size = 999
        self.users: dict[str, EntraUser] = {}
        for account in org.on("teams"):
            self.add_user(account)
        self.installed: set[str] = set()  # who has the app in personal scope
        self.installs: list[str] = []  # installs made through Graph, in order
        self.blocked: dict[str, str] = {}  # user id → "writes" | "conversation"
        self.grants: dict[str, PermissionGrant] = {}
        self.deleted_grants: list[PermissionGrant] = []
        admin_consent = PermissionGrant(
            id=secrets.token_urlsafe(32),
            client_id=self.service_principal_id,
            consent_type="AllPrincipals",
            principal_id=None,
            resource_id=self.graph_principal_id,
            scope="openid profile",
        )
        self.grants[admin_consent.id] = admin_consent
        self.tokens: dict[str, IssuedToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token → (user id, scope)
        self.conversations: dict[str, str] = {}  # user id → 1:1 conversation id
        self.activities: dict[str, ChatActivity] = {}  # by id, oldest first
        self.deliveries: list[Delivery] = []
        self.keys = SigningKeys()
        self.chats = Chats(self)  # people's 1:1 chats and Graph subscriptions (the relay)
        self._seq = itertools.count(int(time.time() * 1000))

    def add_user(self, account: OrgAccount) -> EntraUser:
        email = account.email.strip() if account.email else None
        upn = (email or f"{account.user_id}@{self.domain}").lower()
        if account.is_guest and email:
            upn = f"{email.replace('@', '_').lower()}#EXT#@{self.domain}"
        user = EntraUser(
            id=account.user_id,
            display_name=account.name,
            mail=email,
            user_principal_name=upn,
            account_enabled=account.active,
            user_type="Guest" if account.is_guest else "Member",
            is_admin=account.is_admin,
        )
        self.users[user.id] = user
        return user

    @property
    def service_url(self) -> str:
        """The regional connector URL activities carry (§B.2)."""
        return f"{self.url}/{self.region}/"

    def env(self) -> dict[str, str]:
        return {
            "TEAMS_APP_ID": self.app_id,
            "TEAMS_APP_PASSWORD": self.app_password,
            "TEAMS_TENANT_ID": self.tenant_id,
            "GRAPH_API_URL": f"{self.url}/v1.0/",
            "MS_LOGIN_URL": f"{self.url}/",
            "TEAMS_SERVICE_URL": self.service_url,
            "TEAMS_OPENID_URL": f"{self.url}/v1/.well-known/openidconfiguration",
        }

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        await self.keys.generate()
        return await super().start(host, port)

    def setup_routes(self, app: web.Application) -> None:
        MicrosoftLogin(self).add_routes(app)
        GraphApi(self).add_routes(app)
        ConnectorApi(self).add_routes(app)
        ChatsApi(self).add_routes(app)
        InboxView(self).add_routes(app)

    def fault_body(self, status: int, path: str) -> Any:
        """Each surface's own error shape for an injected fault."""
        if "/oauth2/" in path:
            error = "temporarily_unavailable" if status >= 429 else "invalid_request"
            return {"error": error, "error_description": f"AADSTS50196: HTTP {status}"}
        if path.startswith("/v1.0/"):
            codes = {429: "TooManyRequests", 503: "ServiceUnavailable"}
            code = codes.get(status, "generalException")
            return {"error": {"code": code, "message": f"HTTP {status}", "innerError": {}}}
        code = {429: "Throttled", 412: "PreconditionFailed"}.get(status, "ServiceError")
        return {"error": {"code": code, "message": "Too many requests." if status == 429 else ""}}

    def session(self) -> aiohttp.ClientSession:
        """The stand-in's own client (handshakes and notifications to the bot)."""
        if self._session is None:
            raise RuntimeError("start() the sandbox first")
        return self._session

    async def stop(self) -> None:
        await self.chats.settle()
        await super().stop()

    # -- the relay (sandbox.base.RelayStandIn) --------------------------------------------------
    async def user_dm(self, sender_id: str, recipient_id: str, text: str) -> str:
        return (await self.chats.typed(sender_id, recipient_id, text)).id

    async def user_to_bot(self, sender_id: str, text: str, thread_id: str | None = None) -> str:
        """Teams 1:1 chats have no threads: `thread_id` is ignored (relay-apis §2.5)."""
        await self.send_text(sender_id, text)
        return next(m.id for m in reversed(self.chat(sender_id)) if not m.from_bot)

    def conversation(self, user_id: str, other_id: str) -> list[NativeDm]:
        chat = self.chats.chat_between(user_id, other_id)
        return [NativeDm(m.id, m.sender_id, m.content, by_app=m.by_app) for m in chat.messages]

    def revoke_user_token(self, user_id: str) -> None:
        """Access and refresh tokens stop working (an admin revoked the sessions, §F.2)."""
        for token, record in list(self.tokens.items()):
            if record.kind == "user" and record.user_id == user_id:
                del self.tokens[token]
        for refresh, (owner, _) in list(self.refresh_tokens.items()):
            if owner == user_id:
                del self.refresh_tokens[refresh]

    # -- test controls -----------------------------------------------------------------------
    def rate_limit(self, path: str, retry_after: int = 3, *, times: int = 1, skip: int = 0) -> None:
        """Make `path` answer 429 with Retry-After seconds, as the connector and Graph do
        (https://learn.microsoft.com/graph/throttling, platform-apis.md §G), after `skip`."""
        self.fail(path, 429, times=times, headers={"Retry-After": str(retry_after)}, skip=skip)

    def block(self, user_id: str, how: str = "writes") -> None:
        """The person blocks the bot: "writes" (MessageWritesBlocked) or "conversation"."""
        if how not in ("writes", "conversation"):
            raise ValueError("how is 'writes' or 'conversation'")
        self.blocked[user_id] = how

    def expire_tokens(self, kind: str | None = None) -> None:
        for token in self.tokens.values():
            if kind is None or token.kind == kind:
                token.expires_at = 0.0

    def principal_grant(self, user_id: str) -> PermissionGrant | None:
        """The person's own delegated grant for our app, if they consented."""
        for grant in self.grants.values():
            if grant.consent_type == "Principal" and grant.principal_id == user_id:
                return grant
        return None

    def inbox(self, user_id: str) -> list[ChatActivity]:
        """The bot's messages in its 1:1 chat with `user_id`, oldest first, edits applied."""
        return [m for m in self.chat(user_id) if m.from_bot]

    def chat(self, user_id: str) -> list[ChatActivity]:
        return [m for m in self.activities.values() if m.user_id == user_id]

    # -- tokens -------------------------------------------------------------------------------
    def issue(
        self, kind: str, scope: str, lifetime: int, user_id: str = ""
    ) -> tuple[str, IssuedToken]:
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)  # opaque to the bot
        record = IssuedToken(kind, time.time() + lifetime, scope, user_id)
        self.tokens[token] = record
        return token, record

    def bearer(self, request: web.Request) -> IssuedToken | str:
        """The caller's valid token, or the reason it has none."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Access token is empty."
        record = self.tokens.get(token)
        if record is None:
            return "IDX14100: JWT is not well formed."
        if record.expires_at < time.time():
            return "Lifetime validation failed, the token is expired."
        return record

    # -- chats --------------------------------------------------------------------------------
    def member_id(self, user_id: str) -> str:
        """The person's per-bot `29:` id, the one Teams shows the bot (§B.2)."""
        digest = hashlib.sha256(f"{self.app_id}:{user_id}".encode()).digest()
        return "29:1" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def resolve_member(self, member: str) -> str | None:
        if member in self.users:
            return member
        return next((u for u in self.users if self.member_id(u) == member), None)

    def conversation_for(self, user_id: str) -> str:
        if user_id not in self.conversations:
            self.conversations[user_id] = "a:1" + secrets.token_urlsafe(60)
        return self.conversations[user_id]

    def conversation_user(self, conversation_id: str) -> str | None:
        return next((u for u, c in self.conversations.items() if c == conversation_id), None)

    def new_activity_id(self) -> str:
        return str(next(self._seq))

    @staticmethod
    def timestamp() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # -- acting as Teams towards the bot ------------------------------------------------------
    def make_token(self, *, signing: str = "connector", **claims: Any) -> str:
        """A Bot Connector JWT for a delivery; `claims` override (None removes one), and
        `signing` picks the key: connector, other-channels (not msteams), forged, unknown-kid."""
        merged = connector_claims(self.app_id, self.service_url) | claims
        return self.keys.sign({k: v for k, v in merged.items() if v is not None}, signing)

    def activity_for(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """A message activity from `user_id` in their 1:1 chat, as the connector sends it."""
        user = self.users[user_id]
        activity: dict[str, Any] = {
            "type": "message",
            "id": self.new_activity_id(),
            "timestamp": self.timestamp(),
            "localTimestamp": self.timestamp(),
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {
                "id": self.member_id(user_id),
                "name": user.display_name,
                "aadObjectId": user_id,
            },
            "conversation": {
                "conversationType": "personal",
                "tenantId": self.tenant_id,
                "id": self.conversation_for(user_id),
            },
            "recipient": {"id": f"28:{self.app_id}", "name": self.bot_name},
            "channelData": {"tenant": {"id": self.tenant_id}},
            "locale": "en-US",
        }
        return activity | fields

    async def deliver(
        self, activity: dict[str, Any], *, token: str | None = None
    ) -> tuple[int, str]:
        """POST `activity` to the bot's /api/messages, signed unless `token` is given ("" for
        no Authorization header at all)."""
        if not self.bot_url or self._session is None:
            raise RuntimeError("start() the sandbox and set bot_url before delivering")
        token = self.make_token() if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        delivery = Delivery(activity)
        self.deliveries.append(delivery)
        url = self.bot_url.rstrip("/") + MESSAGES_PATH
        async with self._session.post(url, json=activity, headers=headers) as response:
            delivery.status, delivery.body = response.status, await response.text()
        return delivery.status, delivery.body

    def _mentions(self, text: str) -> list[dict[str, Any]]:
        entities = []
        for match in _AT.finditer(text):
            name = match.group(1)
            if name == self.bot_name:
                mentioned = {"id": f"28:{self.app_id}", "name": name}
            else:
                user = next((u for u in self.users.values() if u.display_name == name), None)
                member = self.member_id(user.id if user else name)
                mentioned = {"id": member, "name": name}
            entities.append({"type": "mention", "text": match.group(0), "mentioned": mentioned})
        return entities

    async def send_text(self, user_id: str, text: str) -> tuple[int, str]:
        """`user_id` types `text` in their chat with the bot (`<at>Name</at>` mentions)."""
        self.installed.add(user_id)  # chatting with the bot means having it
        activity = self.activity_for(user_id, text=text, textFormat="plain")
        if entities := self._mentions(text):
            activity["entities"] = entities
        self.activities[activity["id"]] = ChatActivity(
            id=activity["id"],
            conversation_id=activity["conversation"]["id"],
            user_id=user_id,
            from_bot=False,
            timestamp=activity["timestamp"],
            text=text,
        )
        return await self.deliver(activity)

    async def press(self, user_id: str, message: ChatActivity, action_id: str) -> tuple[int, str]:
        """`user_id` clicks the Action.Submit of `message` whose data names `action_id`."""
        data = message.submit_data(action_id)
        activity = self.activity_for(user_id, replyToId=message.id, value=data)
        activity["channelData"]["source"] = {"name": "message"}
        return await self.deliver(activity)

    async def execute(self, user_id: str, message: ChatActivity, action_id: str) -> tuple[int, str]:
        """The same click sent as a Universal Action (`adaptiveCard/action` invoke, §C.2)."""
        data = message.submit_data(action_id)
        value = {
            "action": {"type": "Action.Execute", "verb": action_id, "id": "btn", "data": data},
            "trigger": "manual",
        }
        activity = self.activity_for(
            user_id, type="invoke", name="adaptiveCard/action", replyToId=message.id, value=value
        )
        return await self.deliver(activity)

    async def authorize(self, url: str, user_id: str, approve: bool = True) -> str:
        """`user_id` opens the bot's sign-in link and clicks Accept or Cancel; returns the
        redirect's Location (the bot's callback with code or error), unfollowed."""
        if not url.startswith(self.url + "/") or self._session is None:
            raise ValueError(f"{url} is not this sandbox's authorize page")
        async with self._session.get(url) as page:
            if page.status != 200:
                raise AssertionError(f"authorize page answered {page.status}: {await page.text()}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        form = {k: query.get(k, [""])[0] for k in ("client_id", "redirect_uri", "scope", "state")}
        form |= {"user_id": user_id, "decision": "allow" if approve else "deny"}
        async with self._session.post(
            url.split("?", 1)[0], data=form, allow_redirects=False
        ) as answer:
            if answer.status != 302:
                raise AssertionError(f"authorize answered {answer.status}: {await answer.text()}")
            return answer.headers["Location"]
