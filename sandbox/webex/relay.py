"""What the Webex stand-in adds for the relay: listing a person's 1:1s, and people typing.

Routes (relay-apis §3.1, §3.4): `GET /v1/messages/direct?personId=|personEmail=` (the 1:1 with
someone, newest first), `GET /v1/messages?roomId=` (a room's messages, newest first, paged with
`beforeMessage`), `GET /v1/rooms?type=direct&sortBy=lastactivity` (with `spark:rooms_read`).
A person's token needs `spark:messages_read` to read messages; a message is only visible to a
member of its room. `WebexRelayStandIn` is the sandbox's `RelayStandIn`: people type to each
other natively, which fires every matching webhook, the members' own relay webhooks included,
their own sends too (§7 surprise 16), signed with each webhook's secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sandbox.base import NativeDm
from sandbox.webex.messages import MessagesApi
from sandbox.webex.model import Person, Room, SandboxMessage, State, Token, error
from sandbox.webex.oauth import WebexOAuth
from sandbox.webex.webhooks import WebhookRegistry

DEFAULT_MAX = 50
LARGEST_MAX = 1000


def _size(request: web.Request) -> int | web.Response:
    try:
        size = int(request.query.get("max", str(DEFAULT_MAX)))
    except ValueError:
        return error(400, "max must be a number.")
    return size if 1 <= size <= LARGEST_MAX else error(400, f"max must be 1 to {LARGEST_MAX}.")


class RelayLists:
    """The list calls a person's integration token makes for the relay."""

    def __init__(self, state: State, base_url: Any) -> None:
        self._state = state
        self._base_url = base_url  # () -> the stand-in's URL, for absolute Link headers

    def add_routes(self, app: web.Application) -> None:
        """Before MessagesApi's, or `/messages/{id}` would take `/messages/direct`."""
        app.router.add_get("/v1/messages/direct", self._direct)
        app.router.add_get("/v1/messages", self._list)
        app.router.add_get("/v1/rooms", self._rooms)

    def _room_of(self, one: str, other: str) -> Room | None:
        return next(
            (
                r
                for r in self._state.rooms.values()
                if r.type == "direct" and r.members == {one, other}
            ),
            None,
        )

    def _listing(self, request: web.Request, scope: str) -> tuple[Token, int] | web.Response:
        """A list call's caller (a token with `scope`) and page size, or Webex's refusal."""
        token = self._state.scoped(request, scope)
        if isinstance(token, web.Response):
            return token
        size = _size(request)
        if isinstance(size, web.Response):
            return size
        return token, size

    def _newest_first(self, room: Room) -> list[SandboxMessage]:
        found = [m for m in self._state.messages.values() if m.room_id == room.id]
        return [m for m in reversed(found) if not m.deleted]

    async def _direct(self, request: web.Request) -> web.Response:
        checked = self._listing(request, "spark:messages_read")
        if isinstance(checked, web.Response):
            return checked
        token, size = checked
        other: Person | None = None
        if person_id := request.query.get("personId"):
            other = self._state.person(person_id)
        elif email := request.query.get("personEmail"):
            other = self._state.by_email(email)
        else:
            return error(400, "personId or personEmail is required.")
        room = self._room_of(token.person_id, other.id) if other else None
        items = self._newest_first(room)[:size] if room else []
        return web.json_response({"items": [m.public() for m in items]})

    async def _list(self, request: web.Request) -> web.Response:
        checked = self._listing(request, "spark:messages_read")
        if isinstance(checked, web.Response):
            return checked
        token, size = checked
        room = self._state.rooms.get(request.query.get("roomId", ""))
        if room is None or token.person_id not in room.members:
            return error(404, "Could not find a room with the provided ID.")
        messages = self._newest_first(room)
        if before := request.query.get("beforeMessage"):
            ids = [m.id for m in messages]
            messages = messages[ids.index(before) + 1 :] if before in ids else []
        return web.json_response({"items": [m.public() for m in messages[:size]]})

    def _room(self, room: Room, token: Token) -> dict[str, Any]:
        latest = self._newest_first(room)
        others = [self._state.person(p) for p in room.members if p != token.person_id]
        title = room.title or ", ".join(p.display_name for p in others if p is not None)
        created = latest[-1].created if latest else "2024-01-02T03:04:05.000Z"
        return {
            "id": room.id,
            "title": title,
            "type": room.type,
            "isLocked": False,
            "lastActivity": latest[0].created if latest else created,
            "creatorId": token.person_id,
            "created": created,
        }

    async def _rooms(self, request: web.Request) -> web.Response:
        checked = self._listing(request, "spark:rooms_read")
        if isinstance(checked, web.Response):
            return checked
        token, size = checked
        kind = request.query.get("type")
        rooms = [
            self._room(r, token)
            for r in self._state.rooms.values()
            if token.person_id in r.members and (not kind or r.type == kind)
        ]
        if request.query.get("sortBy") == "lastactivity":
            rooms.sort(key=lambda r: str(r["lastActivity"]), reverse=True)
        offset = int(request.query.get("cursor", "0") or 0)
        headers = {}
        if offset + size < len(rooms):
            query = {k: v for k, v in request.query.items() if k != "cursor"}
            query["cursor"] = str(offset + size)
            headers["Link"] = f'<{self._base_url()}/v1/rooms?{urlencode(query)}>; rel="next"'
        page = rooms[offset : offset + size]
        return web.json_response({"items": page}, headers=headers)


class WebexRelayStandIn:
    """People on the stand-in typing to each other and to the bot (`sandbox.base.RelayStandIn`)."""

    state: State
    hooks: WebhookRegistry
    messages: MessagesApi
    oauth: WebexOAuth

    def _typed(self, sender_id: str, room: Room, text: str, parent_id: str = "") -> SandboxMessage:
        """A message typed in a Webex client: markdown as typed, and the same as `text`."""
        sender = self.state.people[sender_id]
        return self.messages.post(sender, room, text=text, markdown=text, parent_id=parent_id)

    async def user_dm(self, sender_id: str, recipient_id: str, text: str) -> str:
        room = self.state.pair_room(sender_id, recipient_id)
        message = self._typed(sender_id, room, text)
        await self.hooks.fire("messages", MessagesApi.event_data(message), room, sender_id)
        return message.id

    async def user_to_bot(self, sender_id: str, text: str, thread_id: str | None = None) -> str:
        room = self.state.direct_room(sender_id)
        message = self._typed(sender_id, room, text, thread_id or "")
        await self.hooks.fire("messages", MessagesApi.event_data(message), room, sender_id)
        return message.id

    def conversation(self, user_id: str, other_id: str) -> list[NativeDm]:
        room = next(
            (
                r
                for r in self.state.rooms.values()
                if r.type == "direct" and r.members == {user_id, other_id}
            ),
            None,
        )
        if room is None:
            return []
        return [
            NativeDm(m.id, m.person_id, m.markdown or m.text, m.parent_id or None, m.by_app)
            for m in self.state.messages.values()
            if m.room_id == room.id and not m.deleted
        ]

    def user_token(self, person_id: str, scopes: frozenset[str]) -> dict[str, Any]:
        """A grant of Mio's integration by `person_id` (the token endpoint's answer), as if
        they had gone through the consent page."""
        return self.oauth.issue(person_id, self.oauth.integration, scopes)

    def revoke_user_token(self, user_id: str) -> None:
        """Every grant of Mio's integration by `user_id` ends: their tokens answer 401 and
        their refresh tokens are refused."""
        for authorization in list(self.state.authorizations.values()):
            if authorization.person_id == user_id and authorization.integration is (
                self.oauth.integration
            ):
                self.oauth.revoke(authorization)
        client = self.oauth.integration.client_id
        for value, token in list(self.state.tokens.items()):
            if token.person_id == user_id and token.kind == "user" and token.client_id == client:
                del self.state.tokens[value]
