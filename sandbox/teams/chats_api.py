"""Graph's chat and subscription endpoints on the stand-in, called with people's delegated
tokens (relay-apis §2.1-§2.3; chat-list-messages for the paging and `$filter` rules).

Refusals are Graph's: 401 `InvalidAuthenticationToken` for a missing, unknown, expired or
revoked token; 403 `Forbidden` naming the scopes when the token lacks them; a subscription
longer than 4,320 minutes, or over 1 h without `lifecycleNotificationUrl`, is refused with the
documented message (surprise 9); one whose URLs fail the validation handshake is refused
(surprise 8); `$top` above 50 is refused; `$filter` on `lastModifiedDateTime` only applies with
`$orderby` on the same property.
"""

from __future__ import annotations

import base64
import html
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.teams.chats import TENANT_RESOURCE, GraphChat, iso
from sandbox.teams.graph import graph_error
from sandbox.teams.state import IssuedToken

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

READ = frozenset({"Chat.Read", "Chat.ReadWrite"})
APP_READ = "Chat.Read.All"  # application, protected (relay-apis §2.1): not granted by default
CREATE = frozenset({"Chat.Create", "Chat.ReadWrite"})
SEND = frozenset({"ChatMessage.Send", "Chat.ReadWrite"})
MAX_MINUTES = 4320  # Teams chatMessage subscriptions (§2.1, 2024-11 revision)
MAX_MESSAGE_BYTES = 28 * 1024  # about 28 KB, UTF-16, as Teams counts (adapter.py MESSAGE_LIMIT)
MAX_SUBSCRIPTIONS_PER_USER = 10  # "all chats a user is part of" quota (§2.1)
LIFECYCLE_REQUIRED = (
    "lifecycleNotificationUrl is a required property for subscription creation on this "
    "resource when the expirationDateTime value is set to greater than 1 hour"
)
VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK "
    "to validation request."
)
_BIND = re.compile(r"users\('([^']+)'\)")
_GT = re.compile(r"^\s*lastModifiedDateTime\s+gt\s+(\S+)\s*$")

Route = Callable[[web.Request, IssuedToken], Awaitable[web.StreamResponse]]


def _when(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class ChatsApi:
    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox
        self._c = sandbox.chats

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1.0/subscriptions", self._as_person(READ, self._subscribe, APP_READ))
        r.add_get("/v1.0/subscriptions", self._as_person(READ, self._subscriptions, APP_READ))
        one = "/v1.0/subscriptions/{sid}"
        r.add_get(one, self._as_person(READ, self._get_subscription, APP_READ))
        r.add_patch(one, self._as_person(READ, self._renew, APP_READ))
        r.add_delete(one, self._as_person(READ, self._unsubscribe, APP_READ))
        r.add_post("/v1.0/chats", self._as_person(CREATE, self._create_chat))
        r.add_get("/v1.0/me/chats", self._as_person(READ, self._my_chats))
        r.add_get("/v1.0/chats/{cid}", self._as_person(READ, self._get_chat))
        r.add_get("/v1.0/chats/{cid}/members", self._as_person(READ, self._members))
        r.add_get("/v1.0/chats/{cid}/messages", self._as_person(READ, self._list))
        r.add_post("/v1.0/chats/{cid}/messages", self._as_person(SEND, self._send))
        r.add_get("/v1.0/chats/{cid}/messages/{mid}", self._as_person(READ, self._message))

    def _as_person(
        self, scopes: frozenset[str], route: Route, app: str | None = None
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A delegated token carrying one of `scopes` (or the app's token when it holds the
        application permission `app`), or Graph's 401/403."""

        async def handler(request: web.Request) -> web.StreamResponse:
            token = self._s.bearer(request)
            if isinstance(token, str):
                return graph_error(401, "InvalidAuthenticationToken", token)
            if token.kind == "graph" and app is not None:
                if app not in self._s.app_permissions:  # protected: needs approval (§2.1)
                    return graph_error(
                        403, "Forbidden", f"Insufficient privileges: application permission {app}."
                    )
                return await route(request, token)
            granted = set(token.scope.split())
            if token.kind != "user" or not granted & scopes:
                return graph_error(
                    403,
                    "Forbidden",
                    f"Missing scope permissions on the request. API requires one of "
                    f"'{', '.join(sorted(scopes))}'. Scopes on the request '{token.scope}'",
                )
            return await route(request, token)

        return handler

    # -- subscriptions ------------------------------------------------------------------------
    async def _subscribe(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        body = await _json(request)
        needed = ("changeType", "notificationUrl", "resource", "expirationDateTime")
        if body is None or any(not body.get(k) for k in needed):
            return graph_error(400, "BadRequest", f"Required properties: {', '.join(needed)}.")
        mine = {f"/users/{token.user_id}/chats/getAllMessages", "/me/chats/getAllMessages"}
        if token.kind == "graph":  # the tenant-wide resource is application-only (surprise 7)
            mine = {TENANT_RESOURCE}
        if "/" + str(body["resource"]).lstrip("/") not in mine:
            return graph_error(403, "Forbidden", "The resource is not the caller's to watch.")
        if len(str(body.get("clientState") or "")) > 128:
            return graph_error(400, "BadRequest", "clientState is longer than 128 characters.")
        asked, now = _when(body["expirationDateTime"]), time.time()
        if asked is None or asked <= now:
            return graph_error(400, "BadRequest", "expirationDateTime must be in the future.")
        if asked > now + MAX_MINUTES * 60:
            return graph_error(
                400,
                "BadRequest",
                f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
            )
        if asked > now + 3600 and not body.get("lifecycleNotificationUrl"):
            return graph_error(400, "ValidationError", LIFECYCLE_REQUIRED)
        if len(self._c.live(token.user_id)) >= MAX_SUBSCRIPTIONS_PER_USER:
            return graph_error(403, "ExtensionError", "Subscription quota exceeded.")
        urls = [body["notificationUrl"], body.get("lifecycleNotificationUrl")]
        for url in [str(u) for u in urls if u]:
            if not await self._c.validate(url):
                return graph_error(400, "InvalidRequest", VALIDATION_FAILED)
        created = self._c.subscribe(token.user_id, body, self._c.granted(asked))
        return web.json_response(created.resource_json(self._s), status=201)

    async def _subscriptions(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        now = time.time()
        found = [
            s.resource_json(self._s)
            for s in self._c.subscriptions.values()
            if s.owner_id == token.user_id and s.expires_at > now
        ]
        return web.json_response({"value": found})

    def _subscription(self, request: web.Request, token: IssuedToken) -> Any:
        found = self._c.subscriptions.get(request.match_info["sid"])
        if found is None or found.owner_id != token.user_id or found.expires_at <= time.time():
            return None  # Graph deletes a subscription that was not renewed in time (§2.1)
        return found

    async def _get_subscription(
        self, request: web.Request, token: IssuedToken
    ) -> web.StreamResponse:
        found = self._subscription(request, token)
        if found is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        return web.json_response(found.resource_json(self._s))

    async def _renew(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        found = self._subscription(request, token)
        if found is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        body = await _json(request)
        asked = _when((body or {}).get("expirationDateTime"))
        now = time.time()
        if asked is None or not now < asked <= now + MAX_MINUTES * 60:
            return graph_error(400, "BadRequest", "Invalid expirationDateTime.")
        if asked > now + 3600 and not found.lifecycle_url:
            return graph_error(400, "ValidationError", LIFECYCLE_REQUIRED)
        found.expires_at, found.paused = self._c.granted(asked), False  # renewed, reauthorized
        return web.json_response(found.resource_json(self._s))

    async def _unsubscribe(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        found = self._subscription(request, token)
        if found is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        del self._c.subscriptions[found.id]
        return web.Response(status=204)

    # -- chats --------------------------------------------------------------------------------
    def _chat_json(self, chat: GraphChat, members: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": chat.id,
            "topic": None,
            "createdDateTime": iso(chat.created),
            "lastUpdatedDateTime": iso(chat.created),
            "chatType": "oneOnOne",
            "webUrl": f"https://teams.microsoft.com/l/chat/{urllib.parse.quote(chat.id)}/0",
            "tenantId": self._s.tenant_id,
        }
        if members:
            out["members"] = [self._member(chat, m) for m in chat.members]
        return out

    def _member(self, chat: GraphChat, user_id: str) -> dict[str, Any]:
        user = self._s.users.get(user_id)
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": base64.urlsafe_b64encode(f"{chat.id}#{user_id}".encode()).decode(),
            "roles": ["owner"],
            "displayName": user.display_name if user else None,
            "userId": user_id,
            "email": user.mail if user else None,
            "tenantId": self._s.tenant_id,
        }

    def _mine(self, request: web.Request, token: IssuedToken) -> GraphChat | web.Response:
        chat = self._c.chats.get(request.match_info["cid"])
        if chat is None or token.user_id not in chat.members:
            return graph_error(404, "NotFound", "Chat not found or the user is not a member.")
        return chat

    async def _create_chat(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        body = await _json(request) or {}
        found = body.get("members")
        members: list[Any] = found if isinstance(found, list) else []
        ids = [m.group(1) for m in (_BIND.search(str(_bind(x))) for x in members) if m]
        if body.get("chatType") != "oneOnOne" or len(ids) != 2 or len(members) != 2:
            return graph_error(400, "BadRequest", "A oneOnOne chat needs exactly two members.")
        if token.user_id not in ids:  # every participant, the caller included (§2.3)
            return graph_error(400, "BadRequest", "The caller must be a member of the chat.")
        if any(i not in self._s.users for i in ids):
            return graph_error(404, "NotFound", "A member was not found in the tenant.")
        chat = self._c.chat_between(ids[0], ids[1])
        return web.json_response(self._chat_json(chat), status=201)

    async def _get_chat(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chat = self._mine(request, token)
        if isinstance(chat, web.Response):
            return chat
        expand = "members" in request.query.get("$expand", "")
        return web.json_response(self._chat_json(chat, members=expand))

    async def _members(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chat = self._mine(request, token)
        if isinstance(chat, web.Response):
            return chat
        return web.json_response({"value": [self._member(chat, m) for m in chat.members]})

    async def _my_chats(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chats = []
        for chat in self._c.of(token.user_id):
            shown = self._chat_json(chat)
            if "lastMessagePreview" in request.query.get("$expand", "") and chat.messages:
                last = chat.messages[-1]
                shown["lastMessagePreview"] = {
                    "id": last.id,
                    "createdDateTime": iso(last.created),
                    "isDeleted": False,
                    "messageType": "message",
                    "body": {"contentType": "html", "content": last.content},
                }
            chats.append(shown)
        return self._page(request, chats, 50, "me/chats")

    # -- messages -----------------------------------------------------------------------------
    def _page(
        self, request: web.Request, items: list[dict[str, Any]], most: int, path: str
    ) -> web.Response:
        try:
            top = int(request.query.get("$top", str(most)))
        except ValueError:
            top = 0
        if not 1 <= top <= most:
            return graph_error(400, "BadRequest", f"Maximum allowed $top value is {most}.")
        offset = int(request.query.get("$skiptoken", "0") or 0)
        body: dict[str, Any] = {"value": items[offset : offset + top]}
        if offset + top < len(items):
            query = dict(request.query) | {"$skiptoken": str(offset + top)}
            body["@odata.nextLink"] = f"{self._s.url}/v1.0/{path}?{urllib.parse.urlencode(query)}"
        return web.json_response(body)

    async def _list(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chat = self._mine(request, token)
        if isinstance(chat, web.Response):
            return chat
        messages = sorted(chat.messages, key=lambda m: m.created, reverse=True)
        raw_filter = request.query.get("$filter", "")
        order = request.query.get("$orderby", "lastModifiedDateTime desc")
        match = _GT.match(raw_filter)
        if raw_filter and match is None:
            return graph_error(400, "BadRequest", "Unsupported $filter.")
        if match and order.replace("  ", " ") == "lastModifiedDateTime desc":
            after = _when(match.group(1))
            if after is None:
                return graph_error(400, "BadRequest", "Invalid date in $filter.")
            messages = [m for m in messages if m.created > after]
        items = [self._c.message_json(m) for m in messages]
        path = f"chats/{urllib.parse.quote(chat.id, safe='')}/messages"
        return self._page(request, items, 50, path)

    async def _message(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chat = self._mine(request, token)
        if isinstance(chat, web.Response):
            return chat
        found = next((m for m in chat.messages if m.id == request.match_info["mid"]), None)
        if found is None:
            return graph_error(404, "NotFound", "The message was not found.")
        return web.json_response(self._c.message_json(found))

    async def _send(self, request: web.Request, token: IssuedToken) -> web.StreamResponse:
        chat = self._mine(request, token)
        if isinstance(chat, web.Response):
            return chat
        body = await _json(request) or {}
        given = body.get("body")
        content: dict[str, Any] = given if isinstance(given, dict) else {}
        text = str(content.get("content") or "")
        if not text:
            return graph_error(400, "BadRequest", "Message body content is required.")
        if str(content.get("contentType") or "text").lower() != "html":
            text = html.escape(text)
        if len(text.encode("utf-16-le")) > MAX_MESSAGE_BYTES:
            return graph_error(413, "RequestEntityTooLarge", "Request Entity too large.")
        mentions = [m for m in body.get("mentions") or [] if isinstance(m, dict)]
        message = self._c.add(chat, token.user_id, text, mentions, by_app=True)
        self._c.created_later(message)  # Graph notifies after it answers
        return web.json_response(self._c.message_json(message), status=201)


def _bind(member: Any) -> str:
    return str(member.get("user@odata.bind") or "") if isinstance(member, dict) else ""


async def _json(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
