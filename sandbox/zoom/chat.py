"""People's 1:1 chats on the Zoom stand-in, and the login app's events about them.

What the relay uses (relay-apis §4.1–4.3, the Team Chat OpenAPI): `POST /v2/chat/users/me/
messages` with `to_contact` (≤1,024 characters, 201 `{"id"}`), `GET …/messages?to_contact=`
(paged, `from`), `GET …/messages/{id}?to_contact=`, `GET /v2/chat/users/me/sessions?type=1:1`,
each with a login-app user token carrying the call's granular scope (else 400 code 4711, as
Zoom answers a token without the scope). Every DM involving a user who installed the login app
— typed, or sent through the API (§4.6) — fires one `team_chat.dm_message_posted`, signed with
the login app's secret token; `app_deauthorized` when someone removes an app.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.base import NativeDm
from sandbox.zoom.events import ZoomEvents
from sandbox.zoom.model import SandboxUser, UserDm

MESSAGE_LIMIT = 1024
LIST_PAGE_LIMIT = 50


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> int | None:
    """A `yyyy-MM-dd'T'HH:mm:ss'Z'` query value in milliseconds."""
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


FORMAT_TYPES = frozenset(
    {"Bold", "Italic", "Strikethrough", "BulletedList", "NumberedList", "Underline", "FontSize",
     "FontColor", "BackgroundColor", "LeftIndent", "Paragraph", "Quote", "AddLink"}
)  # fmt: skip


def _bad_ranges(message: str, body: dict[str, Any]) -> str | None:
    """Why the send's `rich_text` / `at_items` are refused, as Zoom's `format_type` rules say
    (an unknown type, positions outside the text, an `AddLink` that is not http(s) or crosses
    a line), or None."""
    for item in body.get("rich_text") or []:
        start, end = item.get("start_position"), item.get("end_position")
        if item.get("format_type") not in FORMAT_TYPES:
            return "rich_text.format_type"
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            return "rich_text position"
        if end > len(message):
            return "rich_text position"
        link = item.get("format_attr")
        if item["format_type"] == "AddLink" and (
            not str(link).startswith(("http://", "https://")) or "\n" in message[start:end]
        ):
            return "rich_text AddLink"
    for item in body.get("at_items") or []:
        start, end = item.get("start_position"), item.get("end_position")
        if item.get("at_type") == 1 and not item.get("at_contact"):
            return "at_items.at_contact"
        if not (
            isinstance(start, int) and isinstance(end, int) and 0 <= start <= end < len(message)
        ):
            return "at_items position"
    return None


class ZoomUserChat(ZoomEvents):
    """`/v2/chat/users/me/*` for user tokens, and the login app's DM events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_ms = 0
        self._pending: set[asyncio.Task[tuple[int, str]]] = set()
        self._list_pages: dict[str, int] = {}  # next_page_token → offset

    def _now_ms(self) -> int:
        """Milliseconds, strictly increasing, so messages keep their order by timestamp."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def _contact(self, wanted: str) -> SandboxUser | None:
        """`to_contact`: an email, a user id (or a member id, which the stand-in has not)."""
        lowered = wanted.strip().lower()
        return next(
            (
                u
                for u in self.users.values()
                if u.id == wanted or (u.email and u.email.lower() == lowered)
            ),
            None,
        )

    def _user_call(self, request: web.Request, scope: str) -> SandboxUser | web.Response:
        """The caller of a `me` call: a user token carrying `scope`, or Zoom's error."""
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        record = auth[1]
        if record.kind != "user" or scope not in record.scope.split():
            return self._missing_scope(scope)
        return self.users[record.user_id]

    # -- the people's side -------------------------------------------------------------------
    def _record(
        self, sender: str, contact: str, message: str, body: dict[str, Any], by_app: bool
    ) -> UserDm:
        dm = UserDm(
            message_id=str(uuid.uuid4()),
            sender_id=sender,
            contact_id=contact,
            message=message,
            timestamp=self._now_ms(),
            rich_text=list(body.get("rich_text") or []),
            at_items=list(body.get("at_items") or []),
            by_app=by_app,
        )
        self.dms[dm.message_id] = dm
        return dm

    def _dm_event(self, dm: UserDm) -> bytes:
        """`team_chat.dm_message_posted` as Zoom sends it [ZS team-chat/events]."""
        sender, contact = self.users[dm.sender_id], self.users[dm.contact_id]
        item: dict[str, Any] = {
            "message_id": dm.message_id,
            "session_id": ":".join(sorted(dm.members())),
            "date_time": _time(dm.timestamp),
            "timestamp": dm.timestamp,
            "contact_email": contact.email,
            "contact_id": contact.id,
            "contact_account_id": self.account_id,
            "contact_member_id": "m" + contact.id,
            "message": dm.message,
        }
        if dm.rich_text:
            item["rich_text"] = dm.rich_text
        payload = {
            "account_id": self.account_id,
            "operator": sender.email,
            "operator_id": sender.id,
            "operator_member_id": "m" + sender.id,
            "by_external_user": False,
            "object": item,
        }
        event = {"event": "team_chat.dm_message_posted", "event_ts": dm.timestamp}
        return self._compact(event | {"payload": payload})

    async def _announce(self, dm: UserDm) -> tuple[int, str] | None:
        """One delivery per message when either member installed the login app."""
        if not dm.members() & self.installed:
            return None
        return await self.deliver(self._dm_event(dm), secret=self.login_webhook_secret)

    async def user_dm(self, sender_id: str, recipient_id: str, text: str) -> str:
        """`sender_id` types `text` to `recipient_id` in the Zoom client (plain text: Zoom
        keeps formatting out of the text); the login app's event is delivered before this
        returns."""
        dm = self._record(sender_id, recipient_id, text, {}, by_app=False)
        await self._announce(dm)
        return dm.message_id

    async def user_to_bot(self, sender_id: str, text: str, thread_id: str | None = None) -> str:
        """`sender_id` types `text` in their 1:1 with the chatbot: a `bot_notification`
        (§D.4). Zoom gives it no message id; the adapter names it `{userId}:{timestamp}`."""
        user = self.users[sender_id]
        now = self._now_ms()
        payload = {
            "accountId": self.account_id,
            "channelName": user.display_name,
            "cmd": text,
            "name": "Mio User Sync",
            "robotJid": self.bot_jid,
            "timestamp": now,
            "toJid": user.jid,
            "userId": user.id,
            "userJid": user.jid,
            "userName": user.display_name,
        }
        body = {"event": "bot_notification", "event_ts": now, "payload": payload}
        await self.deliver(self._compact(body))
        return f"{user.id}:{now}"

    def conversation(self, user_id: str, other_id: str) -> list[NativeDm]:
        """The 1:1 between the two users, oldest first."""
        pair = frozenset((user_id, other_id))
        return [
            NativeDm(dm.message_id, dm.sender_id, dm.message, by_app=dm.by_app)
            for dm in sorted(self.dms.values(), key=lambda d: d.timestamp)
            if dm.members() == pair
        ]

    async def deauthorize(self, user_id: str, *, login_app: bool = True) -> tuple[int, str]:
        """`user_id` removes the login app (their tokens end), or an admin removes the chatbot
        app; Zoom then sends `app_deauthorized` [ZS marketplace/events]."""
        if login_app:
            self.revoke_user_token(user_id)
        payload = {
            "account_id": self.account_id,
            "user_id": user_id,
            "signature": secrets.token_hex(32),
            "deauthorization_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client_id": self.login_client_id if login_app else self.client_id,
            "event_ts": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        body = self._compact({"event": "app_deauthorized", "payload": payload})
        return await self.deliver(body, secret=self.login_webhook_secret if login_app else None)

    async def settle(self) -> None:
        """Wait for the events of API sends still on their way to the bot."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def stop(self) -> None:
        await self.settle()
        await super().stop()

    # -- the REST API ------------------------------------------------------------------------
    async def _send_dm(self, request: web.Request) -> web.Response:
        caller = self._user_call(request, "team_chat:write:user_message")
        if isinstance(caller, web.Response):
            return caller
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, 300, "Invalid request body.")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str):
            return _error(400, 300, "Validation Failed.")
        if len(message) > MESSAGE_LIMIT:
            return web.json_response(
                {
                    "code": 300,
                    "message": "Validation Failed.",
                    "errors": [{"field": "message", "message": "size must be between 0 and 1024"}],
                },
                status=400,
            )
        if (bad := _bad_ranges(message, body)) is not None:
            return _error(400, 300, f"Invalid parameter: {bad}.")
        contact = self._contact(str(body.get("to_contact") or ""))
        if contact is None or contact.status != "active":
            return _error(404, 1001, f"User does not exist: {body.get('to_contact', '')}.")
        dm = self._record(caller.id, contact.id, message, body, by_app=True)
        task = asyncio.create_task(self._announce_later(dm))  # Zoom's event comes after the 201
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return web.json_response({"id": dm.message_id}, status=201)

    async def _announce_later(self, dm: UserDm) -> tuple[int, str]:
        await asyncio.sleep(0)
        return await self._announce(dm) or (0, "")

    def _item(self, dm: UserDm) -> dict[str, Any]:
        """A message as `GET …/messages` lists it (its sender by email, §4.3)."""
        sender = self.users[dm.sender_id]
        return {
            "id": dm.message_id,
            "message": dm.message,
            "sender": sender.email,
            "sender_display_name": sender.display_name,
            "send_member_id": "m" + sender.id,
            "date_time": _time(dm.timestamp),
            "timestamp": dm.timestamp,
            "message_type": "plain_text_message",
            "rich_text": dm.rich_text,
            "at_items": dm.at_items,
        }

    async def _get_dm(self, request: web.Request) -> web.Response:
        caller = self._user_call(request, "team_chat:read:user_message")
        if isinstance(caller, web.Response):
            return caller
        contact = self._contact(request.query.get("to_contact", ""))
        if contact is None:
            return _error(400, 300, 'Must provide either "contact" or "channel" parameter.')
        dm = self.dms.get(request.match_info["message_id"])
        if dm is None or dm.members() != frozenset((caller.id, contact.id)):
            return _error(400, 300, f"Message does not exist: {request.match_info['message_id']}.")
        return web.json_response(self._item(dm))

    def _page(self, request: web.Request, items: list[dict[str, Any]], key: str) -> web.Response:
        """One page of `items` under `key`, with Zoom's `page_size` (≤50) and opaque tokens."""
        try:
            size = max(1, min(int(request.query.get("page_size", "10")), LIST_PAGE_LIMIT))
        except ValueError:
            return _error(400, 300, "Invalid page_size.")
        offset = 0
        if token := request.query.get("next_page_token", ""):
            found = self._list_pages.pop(token, None)
            if found is None:
                return _error(400, 300, "The next page token is invalid or expired.")
            offset = found
        following = ""
        if offset + size < len(items):
            following = secrets.token_urlsafe(16)
            self._list_pages[following] = offset + size
        answer = {
            "page_size": size,
            "next_page_token": following,
            key: items[offset : offset + size],
        }
        return web.json_response(answer)

    def _since(self, request: web.Request) -> int | web.Response:
        raw = request.query.get("from", "")
        if not raw:
            return 0
        parsed = _parse_time(raw)
        return _error(400, 300, "Invalid parameter: from.") if parsed is None else parsed

    async def _list_dms(self, request: web.Request) -> web.Response:
        """`GET /chat/users/me/messages?to_contact=&from=`, newest first [mem: the order is
        not documented; the adapter sorts]."""
        caller = self._user_call(request, "team_chat:read:list_user_messages")
        if isinstance(caller, web.Response):
            return caller
        contact = self._contact(request.query.get("to_contact", ""))
        if contact is None:
            return _error(400, 300, "Must provide either contact or channel parameter.")
        since = self._since(request)
        if isinstance(since, web.Response):
            return since
        pair = frozenset((caller.id, contact.id))
        found = [
            self._item(dm)
            for dm in sorted(self.dms.values(), key=lambda d: -d.timestamp)
            if dm.members() == pair and dm.timestamp >= since
        ]
        return self._page(request, found, "messages")

    async def _sessions(self, request: web.Request) -> web.Response:
        """`GET /chat/users/me/sessions?type=1:1&from=`: the caller's 1:1s with a message since."""
        caller = self._user_call(request, "team_chat:read:list_user_sessions")
        if isinstance(caller, web.Response):
            return caller
        since = self._since(request)
        if isinstance(since, web.Response):
            return since
        latest: dict[str, int] = {}
        for dm in self.dms.values():
            if caller.id in dm.members() and dm.timestamp >= since:
                (peer,) = dm.members() - {caller.id} or {caller.id}
                latest[peer] = max(latest.get(peer, 0), dm.timestamp)
        sessions = [
            {
                "type": "1:1",
                "name": self.users[peer].email,
                "peer_contact_email": self.users[peer].email,
                "peer_contact_user_id": peer,
                "last_message_sent_time": _time(at),
            }
            for peer, at in sorted(latest.items(), key=lambda kv: -kv[1])
        ]
        return self._page(request, sessions, "sessions")
