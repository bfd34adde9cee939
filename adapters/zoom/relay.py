"""The relay on Zoom Team Chat: reading and posting 1:1 messages as a person, or as the chatbot.

As a person, with their login-app token (relay-apis §4.2, §4.3; `me` stands for the token's
owner in user-level apps): `POST /chat/users/me/messages` with `to_contact` (201 `{"id"}`),
`GET /chat/users/me/messages/{id}?to_contact=`, `GET /chat/users/me/messages?to_contact=&from=`,
and `GET /chat/users/me/sessions?type=1:1&from=` for the 1:1s with news. As the bot: the chatbot
`POST /im/chat/messages` (relay-apis §4.7, platform-apis §B.4) with a bold head naming the sender.

A Zoom 1:1 has no id of its own that both members see, so the relay's conversation id is the two
members' user ids sorted and joined with ":" (RELAY_PLAN "Ids"); the chatbot's 1:1 is named by
the person's JID. Messages longer than 1,024 characters are split in order, one POST per part
(surprise 19). A send that got no answer raises `Unanswered` (adapters/http.py); `find_post` then
looks for it, since Zoom has no idempotency key (surprise 22).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.zoom.client import AppToken, ZoomHttp
from adapters.zoom.directory import user_jid
from adapters.zoom.errors import to_platform_error
from adapters.zoom.login import covers_relay
from adapters.zoom.relay_text import MESSAGE_LIMIT, ZoomText, parse, split
from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    PermanentFailure,
    Platform,
    PlatformUserId,
    Post,
    Sender,
    Subscription,
    TokenGrant,
)

log = logging.getLogger(__name__)

DM_EVENT = "team_chat.dm_message_posted"  # the one event family we subscribe to (surprise 21)
PAGE_SIZE = "50"  # the list calls' maximum (OpenAPI `page_size.maximum`)


def conversation_id(first: str, second: str) -> str:
    """The same string for both members' view of one Zoom 1:1."""
    return ":".join(sorted((first, second)))


def zoom_time(moment: datetime) -> str:
    """The list calls' `from`/`to` format, `yyyy-MM-dd'T'HH:mm:ss'Z'`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sent_at(item: Mapping[str, Any]) -> datetime | None:
    stamp = item.get("timestamp")
    return datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int) else None


class ZoomRelay:
    """The `RelayPlatform` half of `ZoomPlatform` (a mixin over the adapter's clients)."""

    bot_threads: ClassVar[bool] = False  # the chatbot's 1:1 has one current correspondent
    message_limit: ClassVar[int] = MESSAGE_LIMIT
    name: ClassVar[Platform]
    account_id: str
    bot_jid: str
    _http: ZoomHttp
    _chatbot: AppToken
    _relay_key: bytes | None

    def use_relay_key(self, key: bytes) -> None:
        """Kept for the interface: Zoom echoes no per-person secret (user events are signed
        with the login app's one secret token, platform-apis §A.4), so nothing derives from it."""
        self._relay_key = key

    # -- person's calls ----------------------------------------------------------------------
    async def _as_user(
        self,
        grant: TokenGrant,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """One call with the person's token; 401/124/4711 → TokenRefused, 429/5xx → RetryLater."""
        status, headers, body = await self._http.send(
            method,
            self._http.api(path),
            headers={"Authorization": f"Bearer {grant.access_token}"},
            params=params,
            json=json,
            user_token=True,
        )
        if status not in ok:
            raise self._http.error(status, headers, body, user_token=True)
        return body

    async def _pages(
        self, grant: TokenGrant, path: str, params: Mapping[str, str], key: str
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (`next_page_token`, empty when done)."""
        items: list[dict[str, Any]] = []
        page_token = ""
        while True:
            query = dict(params) | ({"next_page_token": page_token} if page_token else {})
            body = await self._as_user(grant, "GET", path, params=query)
            if not isinstance(body, dict):
                raise to_platform_error(502, {}, {"message": f"{path} is not a JSON object"})
            items += [item for item in body.get(key) or [] if isinstance(item, dict)]
            page_token = str(body.get("next_page_token") or "")
            if not page_token:
                return items

    async def _messages(
        self, grant: TokenGrant, contact: str, since: datetime
    ) -> list[dict[str, Any]]:
        """The 1:1 with `contact` since `since`, oldest first (the order is not documented)."""
        params = {"to_contact": contact, "from": zoom_time(since), "page_size": PAGE_SIZE}
        items = await self._pages(grant, "chat/users/me/messages", params, "messages")
        return sorted(items, key=lambda item: item.get("timestamp") or 0)

    # -- subscriptions -----------------------------------------------------------------------
    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        """Nothing to create per person: the login app has one event subscription (its Event
        notification endpoint `/zoom/events`, `team_chat.dm_message_posted`), and a user-managed
        app gets events for every user who installed it (relay-apis §4.1) — installing it is
        the sign-in that made `grant`. So the subscription is the grant itself."""
        if not covers_relay(grant.scope):
            raise PermanentFailure(self.name, "the grant lacks the relay scopes: link again")
        return existing or Subscription("")

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        """Nothing expires but the token, which `refresh_grant` renews."""
        return subscription

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        """Events stop when the person's authorization ends (the core revokes the token right
        after this call, platform-apis §F.4), so there is nothing to delete here."""
        log.debug("zoom: nothing per person to unsubscribe for %s", grant.identity.user_id)

    # -- reading -----------------------------------------------------------------------------
    def _seen(
        self, owner: str, contact: str, sender: str, item: Mapping[str, Any], message_id: str
    ) -> DmSeen:
        return DmSeen(
            platform=self.name,
            delivery_id=f"{DM_EVENT}:{message_id}",
            owner_id=PlatformUserId(owner),
            conversation_id=conversation_id(owner, contact),
            message_id=message_id,
            sender_id=PlatformUserId(sender),
            other_id=PlatformUserId(contact if sender == owner else owner),
            prose=parse(
                str(item.get("message") or ""), item.get("rich_text"), item.get("at_items")
            ),
            sent_at=_sent_at(item),
        )

    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        """GET the message with the owner's token (relay-apis §4.3). Zoom events carry the text
        and both members already, so this only completes a `DmSeen` from elsewhere."""
        owner = grant.identity.user_id
        contact = seen.other_id if seen.sender_id == owner else seen.sender_id
        if not contact:
            return None
        path = "chat/users/me/messages/" + urllib.parse.quote(seen.message_id, safe="")
        status, headers, body = await self._http.send(
            "GET",
            self._http.api(path),
            headers={"Authorization": f"Bearer {grant.access_token}"},
            params={"to_contact": contact},
            user_token=True,
        )
        code = body.get("code") if isinstance(body, dict) else None
        if status == 404 or (status == 400 and code == 300):
            return None  # 300 "Message does not exist" (relay-apis §4.3 GET and PUT pages)
        if status != 200 or not isinstance(body, dict):
            raise self._http.error(status, headers, body, user_token=True)
        found = self._seen(owner, contact, seen.sender_id, body, seen.message_id)
        return replace(found, delivery_id=seen.delivery_id, received_at=seen.received_at)

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        """The owner's 1:1 sessions with news since `since`, then each one's messages."""
        owner, owner_email = grant.identity.user_id, (grant.identity.email or "").lower()
        sessions = await self._pages(
            grant,
            "chat/users/me/sessions",
            {"type": "1:1", "from": zoom_time(since), "page_size": PAGE_SIZE},
            "sessions",
        )
        seen: list[DmSeen] = []
        for session in sessions:
            peer = str(session.get("peer_contact_user_id") or "")
            if not peer:
                continue  # an external contact: not a 1:1 between two people of the account
            # The list names senders by email only (§4.3): whose is each message?
            senders = {
                owner_email: owner,
                str(session.get("peer_contact_email") or "").lower(): peer,
            }
            senders.pop("", None)
            for item in await self._messages(grant, peer, since):
                sender = senders.get(str(item.get("sender") or "").lower())
                if not item.get("id") or sender is None or (_sent_at(item) or since) < since:
                    continue  # a sender we cannot tell is not guessed at
                seen.append(self._seen(owner, peer, sender, item, str(item["id"])))
        return sorted(seen, key=lambda s: s.sent_at or since)

    # -- posting -----------------------------------------------------------------------------
    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        """One `POST /chat/users/me/messages` per ≤1,024-character part, in order (§4.2)."""
        conversation = conversation_id(grant.identity.user_id, to.user_id)
        posts: list[Post] = []
        for part in split(prose, self.message_limit):
            body = part.body() | {"to_contact": to.user_id}
            answer = await self._as_user(
                grant, "POST", "chat/users/me/messages", json=body, ok=(201,)
            )
            if not isinstance(answer, dict) or not answer.get("id"):
                raise to_platform_error(502, {}, {"message": "send answered without id"})
            posts.append(Post(conversation, str(answer["id"])))
        return posts

    def _bot_body(self, jid: str, sender: Sender, part: ZoomText) -> dict[str, Any]:
        """A chatbot card: the head names the sender in bold, the body is the text as typed.
        The body is plain (no `is_markdown_support`): Zoom's chatbot markdown has no escape for
        `*`, `_` or `~` (render.py), so styles are dropped rather than risk text becoming
        markup; links and mentions stay readable as text."""
        # `head.style.bold`: the chatbot card's header style [mem: Zoom's chatbot message
        # formatting guide; the header shows bold by default, so the style is belt and braces].
        head = {"text": f"{sender.name} ({sender.platform_label})", "style": {"bold": True}}
        return {
            "robot_jid": self.bot_jid,
            "to_jid": jid,
            "user_jid": jid,
            "account_id": self.account_id,
            "content": {"head": head, "body": [{"type": "message", "text": part.message}]},
        }

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        """The chatbot's 1:1 with `to` (§4.7); Zoom's bot 1:1 keeps no threads here."""
        jid = str(to.extra.get("jid") or user_jid(to.user_id))
        posts: list[Post] = []
        for part in split(prose, self.message_limit):
            answer = await self._chatbot.expect(
                "POST",
                self._http.api("im/chat/messages"),
                json=self._bot_body(jid, sender, part),
                ok=(200, 201),
            )
            if not isinstance(answer, dict) or not answer.get("message_id"):
                raise to_platform_error(502, {}, {"message": "send answered without message_id"})
            posts.append(Post(jid, str(answer["message_id"])))
        return posts

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        """The parts of `prose` the grant's owner posted to `to` since `since`, in order, or
        None. Zoom's chatbot API has no read call (platform-apis §B.4 lists send, edit and
        delete only), so a bot post cannot be looked for: None, and the core counts it."""
        if grant is None:
            return None
        wanted = [part.message for part in split(prose, self.message_limit)]
        owner_email = (grant.identity.email or "").lower()
        found: list[Post] = []
        conversation = conversation_id(grant.identity.user_id, to.user_id)
        for item in await self._messages(grant, to.user_id, since):
            sender = str(item.get("sender") or "").lower()
            mine = sender == owner_email if owner_email else sender != (to.email or "").lower()
            if mine and len(found) < len(wanted) and item.get("message") == wanted[len(found)]:
                found.append(Post(conversation, str(item["id"])))
        return found if wanted and len(found) == len(wanted) else None
