"""Reading and writing people's 1:1 chats as them, through Graph (relay-apis §2.2, §2.3).

A change notification carries only ids (no `includeResourceData`: that needs an encryption
certificate, §2.1), so each message is read with the owner's token; the 1:1's members come from
its id where Teams writes both in it (`19:{a}_{b}@unq.gbl.spaces`, §2.3) and from
`GET /chats/{id}?$expand=members` otherwise. Bot posts (`from.user` null, §2.7), system events
and messages outside a `oneOnOne` chat are not relayed. Sending creates or gets the 1:1 with
`POST /chats` — idempotent for 1:1 (§2.3, surprise 22) — then posts an HTML body.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from adapters.teams.delegated import Delegated, graph_time, parse_time
from adapters.teams.errors import PLATFORM
from adapters.teams.relay_text import parse, render
from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    PlatformUserId,
    Post,
    RetryLater,
    TokenGrant,
    Unanswered,
)

# Graph's per-page maximum for chat messages (chat-list-messages: "Maximum allowed $top value
# is 50"), and how far a backfill or a look-up reads before it stops.
PAGE_SIZE = 50
MAX_PAGES = 20
ONE_ON_ONE_ID = re.compile(r"^19:([0-9a-f-]{36})_([0-9a-f-]{36})@unq\.gbl\.spaces$", re.I)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _user_bind(graph_url: str, user_id: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"],
        "user@odata.bind": f"{graph_url}users('{user_id}')",
    }


def _sender(message: Mapping[str, Any]) -> str | None:
    """The person who wrote it; None for bots and system events (§2.7)."""
    if message.get("messageType", "message") != "message" or message.get("deletedDateTime"):
        return None
    origin = message.get("from")
    user = origin.get("user") if isinstance(origin, Mapping) else None
    return str(user["id"]) if isinstance(user, Mapping) and user.get("id") else None


class ChatRelay:
    """The Graph side of the relay for one tenant, always acting as a person."""

    def __init__(self, graph: Delegated) -> None:
        self._graph = graph

    async def members(self, grant: TokenGrant, chat_id: str) -> tuple[str, str] | None:
        """The two people of a 1:1 chat; None for any other chat, or one gone or not theirs."""
        match = ONE_ON_ONE_ID.match(chat_id)
        if match:
            return match.group(1).lower(), match.group(2).lower()
        status, chat = await self._graph.call(
            grant, "GET", f"chats/{_quote(chat_id)}", ok=(200, 404), params={"$expand": "members"}
        )
        if status == 404 or not isinstance(chat, Mapping) or chat.get("chatType") != "oneOnOne":
            return None
        ids = [
            str(m.get("userId")).lower()
            for m in chat.get("members") or []
            if isinstance(m, Mapping) and m.get("userId")
        ]
        return (ids[0], ids[1]) if len(ids) == 2 else None

    def _seen(
        self, seen: DmSeen, message: Mapping[str, Any], pair: tuple[str, str]
    ) -> DmSeen | None:
        sender = _sender(message)
        if sender is None or sender.lower() not in pair:
            return None
        other = pair[1] if sender.lower() == pair[0] else pair[0]
        return DmSeen(
            platform=seen.platform,
            delivery_id=seen.delivery_id,
            owner_id=seen.owner_id,
            conversation_id=seen.conversation_id,
            message_id=str(message.get("id") or seen.message_id),
            sender_id=PlatformUserId(sender),
            other_id=PlatformUserId(other),
            prose=parse(message.get("body"), message.get("mentions")),
            sent_at=parse_time(message.get("createdDateTime")),
            fetch=seen.fetch,
            received_at=seen.received_at,
        )

    async def fetch(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        """`GET /chats/{chat}/messages/{id}` as the owner (§2.2); None when gone or not a DM."""
        pair = await self.members(grant, seen.conversation_id)
        if pair is None:
            return None
        path = f"chats/{_quote(seen.conversation_id)}/messages/{_quote(seen.message_id)}"
        status, message = await self._graph.call(grant, "GET", path, ok=(200, 404))
        if status == 404 or not isinstance(message, Mapping):
            return None
        return self._seen(seen, message, pair)

    async def _messages(
        self, grant: TokenGrant, chat_id: str, since: datetime
    ) -> list[Mapping[str, Any]]:
        """The chat's messages modified after `since`, newest first: `$filter` on
        `lastModifiedDateTime gt` works only with `$orderby` on the same property, descending
        (chat-list-messages, delegated `Chat.Read`/`Chat.ReadWrite`)."""
        found: list[Mapping[str, Any]] = []
        path: str | None = f"chats/{_quote(chat_id)}/messages"
        params: dict[str, str] | None = {
            "$top": str(PAGE_SIZE),
            "$orderby": "lastModifiedDateTime desc",
            "$filter": f"lastModifiedDateTime gt {graph_time(since)}",
        }
        for _ in range(MAX_PAGES):
            if path is None:
                break
            _, page = await self._graph.call(grant, "GET", path, params=params)
            values = page.get("value") if isinstance(page, Mapping) else None
            found += [m for m in values or [] if isinstance(m, Mapping)]
            link = page.get("@odata.nextLink") if isinstance(page, Mapping) else None
            path, params = (link, None) if isinstance(link, str) and link else (None, None)
        return found

    async def _recent_chats(self, grant: TokenGrant, since: datetime) -> list[str]:
        """The owner's 1:1 chats with a message after `since` (`GET /me/chats`, last message
        preview expanded); a chat without a preview is read rather than skipped."""
        chats: list[str] = []
        path: str | None = "me/chats"
        params: dict[str, str] | None = {"$expand": "lastMessagePreview", "$top": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            if path is None:
                break
            _, page = await self._graph.call(grant, "GET", path, params=params)
            for chat in (page.get("value") if isinstance(page, Mapping) else None) or []:
                if not isinstance(chat, Mapping) or chat.get("chatType") != "oneOnOne":
                    continue
                preview = chat.get("lastMessagePreview")
                last = parse_time(preview.get("createdDateTime")) if preview else None
                if last is None or last > since:
                    chats.append(str(chat.get("id")))
            link = page.get("@odata.nextLink") if isinstance(page, Mapping) else None
            path, params = (link, None) if isinstance(link, str) and link else (None, None)
        return chats

    async def since(self, grant: TokenGrant, template: DmSeen, since: datetime) -> list[DmSeen]:
        """Every 1:1 message created after `since` in the owner's chats, oldest first.

        `/users/{id}/chats/getAllMessages` would be one call, but Graph offers it with
        application permissions only (the export API, §2.6), so a delegated backfill walks the
        recently active chats instead.
        """
        # Graph dates have millisecond precision: start one millisecond early (the core
        # de-duplicates a message seen twice; one missed would be lost).
        since = since.replace(microsecond=since.microsecond // 1000 * 1000)
        since -= timedelta(milliseconds=1)
        found: list[DmSeen] = []
        for chat_id in await self._recent_chats(grant, since):
            pair = await self.members(grant, chat_id)
            if pair is None:
                continue
            for message in await self._messages(grant, chat_id, since):
                created = parse_time(message.get("createdDateTime"))
                if created is None or created <= since:
                    continue  # an older message that a reaction or an edit touched
                seen = DmSeen(
                    platform=template.platform,
                    delivery_id=f"backfill:{chat_id}:{message.get('id')}",
                    owner_id=template.owner_id,
                    conversation_id=chat_id,
                    message_id=str(message.get("id")),
                    sender_id=PlatformUserId(""),
                    other_id=None,
                    prose=None,
                    received_at=template.received_at,
                )
                complete = self._seen(seen, message, pair)
                if complete is not None:
                    found.append(complete)
        found.sort(key=lambda s: (s.sent_at or since, s.message_id))
        return found

    async def chat_with(self, grant: TokenGrant, to: DirectoryUser) -> str:
        """`POST /chats` oneOnOne with both members bound: the existing 1:1 comes back if there
        is one (§2.3). Being idempotent, a create without an answer is simply asked again."""
        body = {
            "chatType": "oneOnOne",
            "members": [
                _user_bind(self._graph.graph_url, grant.identity.user_id),
                _user_bind(self._graph.graph_url, to.user_id),
            ],
        }
        for attempt in range(2):
            try:
                _, chat = await self._graph.call(grant, "POST", "chats", ok=(200, 201), json=body)
            except Unanswered as exc:
                if attempt:
                    raise RetryLater(PLATFORM, "no answer creating the 1:1 chat") from exc
                continue
            if isinstance(chat, Mapping) and chat.get("id"):
                return str(chat["id"])
            raise RetryLater(PLATFORM, "Graph answered a chat without an id", after=10.0)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def post(self, grant: TokenGrant, chat_id: str, part: Prose) -> Post:
        """`POST /chats/{id}/messages` with an HTML body and its mentions (§2.3)."""
        content, mentions = render(part)
        body: dict[str, Any] = {"body": {"contentType": "html", "content": content}}
        if mentions:
            body["mentions"] = mentions
        path = f"chats/{_quote(chat_id)}/messages"
        _, message = await self._graph.call(grant, "POST", path, ok=(201,), json=body)
        if not isinstance(message, Mapping) or not message.get("id"):
            raise RetryLater(PLATFORM, "Graph answered a message without an id", after=10.0)
        return Post(chat_id, str(message["id"]))

    async def find(
        self, grant: TokenGrant, to: DirectoryUser, parts: list[Prose], since: datetime
    ) -> list[Post] | None:
        """The owner's messages since `since` in the 1:1 with `to` whose text is a part's."""
        chat_id = await self.chat_with(grant, to)
        mine = [
            m
            for m in await self._messages(grant, chat_id, since)
            if (_sender(m) or "").lower() == grant.identity.user_id.lower()
        ]
        mine.sort(key=lambda m: str(m.get("createdDateTime") or ""))
        posts: list[Post] = []
        for part in parts:
            wanted = part.plain()
            for message in mine:
                post = Post(chat_id, str(message.get("id")))
                text = parse(message.get("body"), message.get("mentions")).plain()
                if text == wanted and post not in posts:
                    posts.append(post)
                    break
        return posts or None
