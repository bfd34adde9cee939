"""Reading and posting 1:1 messages for the relay (relay-apis §3.1, §3.2, §3.4, §3.7).

A webhook never carries the text (§7 surprise 16), so each message is read with
`GET /v1/messages/{id}` and the token of the person whose webhook saw it. Posts go out with
`POST /v1/messages` and `toPersonId` (the 1:1 room is created implicitly, §3.2), as the person
with their token or as the bot with a bold "Name (Platform):" line (§3.7), each part at most
7,439 bytes of markdown (§3.2, measured in bytes). Nothing here logs text.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.webex import relay_text
from adapters.webex.errors import PLATFORM, NotFound
from adapters.webex.relay_api import RelayApi, next_link
from bot.prose import Prose
from bot.types import DmSeen, PermanentFailure, PlatformUserId, Post, Sender

PAGE = 100  # messages per list call
MAX_PAGES = 20  # a backfill reads at most this many pages per room
SKEW = timedelta(minutes=1)  # clocks: ours against Webex's `created`


def when(value: Any) -> datetime | None:
    """Webex's `2025-01-01T00:00:00.000Z`, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def completed(seen: DmSeen, message: Mapping[str, Any]) -> DmSeen | None:
    """`seen` with the message's text and the other member, or None when it is not a 1:1
    message between two people. The owner is a member; when someone else sent it the owner is
    the other one. The owner's own sends are never completed here (the route drops them:
    see `relay_inbound`), since Webex names no other member without a memberships scope."""
    if message.get("roomType") != "direct" or not message.get("personId"):
        return None
    sender = PlatformUserId(str(message["personId"]))
    if sender == seen.owner_id:
        return None
    return DmSeen(
        platform=seen.platform,
        delivery_id=seen.delivery_id,
        owner_id=seen.owner_id,
        conversation_id=str(message.get("roomId") or seen.conversation_id),
        message_id=str(message.get("id") or seen.message_id),
        sender_id=sender,
        other_id=seen.owner_id,
        prose=relay_text.parse(message),
        sent_at=when(message.get("created")) or seen.sent_at,
        fetch=seen.fetch,
        received_at=seen.received_at,
    )


def header(sender: Sender) -> str:
    """The bold line that shows who wrote a message the bot relays (§3.7)."""
    who = f"{sender.name} ({sender.platform_label}):"
    return f"**{relay_text.escape(who, line_start=True)}**\n"


def parts(prose: Prose, head: str = "") -> list[str]:
    """The markdown of each message to post: `head` plus a part of at most 7,439 bytes."""
    room = relay_text.MAX_BYTES - len(head.encode())
    if room < 1:
        raise PermanentFailure(PLATFORM, "the sender's name alone exceeds Webex's limit")
    pieces = prose.split(room, relay_text.measure)
    return [head + relay_text.render(part) for part in pieces if not part.is_empty()]


class RelayMessages:
    """Message calls; `token` is a person's (`user=True`) or the bot's."""

    def __init__(self, api: RelayApi) -> None:
        self._api = api

    async def get(self, token: str, message_id: str) -> Mapping[str, Any] | None:
        try:
            body, _ = await self._api.call(
                "GET", "messages/" + urllib.parse.quote(message_id, safe=""), token, user=True
            )
        except NotFound:
            return None  # deleted before we read it, or not visible to this person
        return body if isinstance(body, Mapping) else None

    async def post(self, token: str, *, user: bool, to: str, markdown: list[str]) -> list[Post]:
        """Each part as one message in the 1:1 with person `to`; its room and id kept."""
        posts = []
        for text in markdown:
            sent, _ = await self._api.call(
                "POST", "messages", token, user=user, json={"toPersonId": to, "markdown": text}
            )
            if not isinstance(sent, Mapping) or not sent.get("id") or not sent.get("roomId"):
                # Posting again would double it: the core must not retry this one.
                raise PermanentFailure(PLATFORM, "Webex accepted the message without naming it")
            posts.append(Post(str(sent["roomId"]), str(sent["id"])))
        return posts

    async def direct(self, token: str, *, user: bool, person_id: str) -> list[Mapping[str, Any]]:
        """The newest messages of the 1:1 with `person_id` (`GET /messages/direct`, §3.4)."""
        body, _ = await self._api.call(
            "GET", "messages/direct", token, user=user, params={"personId": person_id}
        )
        items = body.get("items") if isinstance(body, Mapping) else None
        return [m for m in items or [] if isinstance(m, Mapping)]

    async def find(
        self,
        token: str,
        *,
        user: bool,
        author: str | None,
        to: str,
        wanted: list[str],
        since: datetime,
    ) -> list[Post] | None:
        """The posts whose markdown is one of `wanted`, by `author` (or, for the bot, anyone
        but `to`, after the name line), made since `since`, in the order of `wanted`; None
        when none is there."""
        found: dict[str, Post] = {}
        for message in await self.direct(token, user=user, person_id=to):
            by = str(message.get("personId") or "")
            created = when(message.get("created"))
            if by == to or (author is not None and by != author):
                continue
            if created is None or created < since - SKEW:
                continue
            text = str(message.get("markdown") or message.get("text") or "")
            for part in wanted:
                same = text == part if author is not None else text.endswith("**\n" + part)
                if same and part not in found:
                    found[part] = Post(str(message.get("roomId")), str(message.get("id")))
                    break
        posts = [found[part] for part in wanted if part in found]
        return posts or None

    async def since(self, token: str, owner: str, hook_id: str, moment: datetime) -> list[DmSeen]:
        """The owner's 1:1 messages from other people after `moment`, oldest first: the
        direct rooms active since then (`GET /rooms?type=direct`, spark:rooms_read), and each
        room's messages (`GET /messages?roomId=`, newest first, paged with `beforeMessage`)."""
        seen: list[DmSeen] = []
        for room_id in await self._rooms(token, moment):
            for message in await self._room_messages(token, room_id, moment):
                stub = DmSeen(
                    platform=PLATFORM,
                    # As the webhook would name it, so a message both delivered and
                    # backfilled is one delivery to the core's edge.
                    delivery_id=f"{hook_id}:{message.get('id')}:created",
                    owner_id=PlatformUserId(owner),
                    conversation_id=room_id,
                    message_id=str(message.get("id")),
                    sender_id=PlatformUserId(str(message.get("personId") or "")),
                    other_id=None,
                    prose=None,
                )
                if (done := completed(stub, message)) is not None:
                    seen.append(done)
        seen.sort(key=lambda s: s.sent_at or moment)
        return seen

    async def _rooms(self, token: str, moment: datetime) -> list[str]:
        url: str | None = "rooms"
        params: dict[str, str] | None = {"type": "direct", "sortBy": "lastactivity", "max": "100"}
        rooms: list[str] = []
        while url is not None:
            body, headers = await self._api.call("GET", url, token, user=True, params=params)
            params, url = None, next_link(headers)
            items = body.get("items") if isinstance(body, Mapping) else None
            for room in [r for r in items or [] if isinstance(r, Mapping) and r.get("id")]:
                active = when(room.get("lastActivity"))
                if active is not None and active < moment:
                    return rooms  # sorted by last activity: the rest are older still
                rooms.append(str(room.get("id")))
        return rooms

    async def _room_messages(
        self, token: str, room_id: str, moment: datetime
    ) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        params = {"roomId": room_id, "max": str(PAGE)}
        for _ in range(MAX_PAGES):
            body, _ = await self._api.call("GET", "messages", token, user=True, params=params)
            items = [m for m in (body.get("items") or []) if isinstance(m, Mapping)]
            for message in items:
                created = when(message.get("created"))
                if created is None or created <= moment:
                    return found
                found.append(message)
            if len(items) < PAGE:
                return found
            params = {**params, "beforeMessage": str(items[-1].get("id"))}
        return found
