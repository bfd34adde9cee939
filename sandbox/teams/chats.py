"""What the Teams stand-in keeps of people's 1:1 chats and their Graph subscriptions, and how it
tells subscribers about new messages (relay-apis §2.1-§2.3, §2.7).

One chat per pair of people, id `19:{a}_{b}@unq.gbl.spaces` (§2.3); a message Graph returns
with `from.user` (typed, or posted with a delegated token: nothing marks the app, §2.7). When a
message is created, every live subscription of a member receives a change notification with
the ids only and its stored `clientState` (§2.1 "basic" notification). Delivery can be paused
(a gap, as after `reauthorizationRequired`: Graph drops what happens meanwhile, surprise 10)
and lifecycle notifications sent on demand.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

VALIDATION_TIMEOUT = 10.0  # Graph waits 10 s for the handshake's answer (§2.1)
DELIVERY_TIMEOUT = 3.0  # and 3 s for a notification's (§2.1)
TENANT_RESOURCE = "/chats/getAllMessages"  # every chat of the tenant (application only)
_TYPED_AT = re.compile(r"<at>(.*?)</at>", re.DOTALL)


def iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass
class GraphMessage:
    id: str
    chat_id: str
    sender_id: str
    content: str  # HTML, as Teams stores a typed message
    created: float
    mentions: list[dict[str, Any]] = field(default_factory=list)
    by_app: bool = False  # posted through the API with a person's token


@dataclass
class GraphChat:
    id: str
    members: tuple[str, str]
    created: float
    messages: list[GraphMessage] = field(default_factory=list)


@dataclass
class GraphSubscription:
    id: str
    owner_id: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires_at: float
    paused: bool = False  # after reauthorizationRequired, until renewed or reauthorized

    def resource_json(self, sandbox: TeamsSandbox) -> dict[str, Any]:
        return {
            "@odata.context": f"{sandbox.url}/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": sandbox.app_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso(self.expires_at),
            "creatorId": self.owner_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass
class Notification:
    """One POST the stand-in made to a subscriber, and what it answered."""

    url: str
    body: dict[str, Any]
    status: int = 0
    retried: bool = False


class Chats:
    """The tenant's 1:1 chats and subscriptions; `service.TeamsSandbox.chats` holds one."""

    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox
        self.chats: dict[str, GraphChat] = {}
        self.subscriptions: dict[str, GraphSubscription] = {}
        self.notifications: list[Notification] = []
        self.paused = False  # test knob: notifications are lost, as in a gap
        self.lifetime_cap: float | None = None  # seconds Graph grants at most (surprise 9)
        self.validation_timeout = VALIDATION_TIMEOUT  # test knob: how long an answer may take
        self._ids = itertools.count(int(time.time() * 1000))
        self._tasks: set[asyncio.Task[None]] = set()

    # -- chats and messages -------------------------------------------------------------------
    def chat_between(self, a: str, b: str) -> GraphChat:
        """The one 1:1 chat of two people, created on first use (§2.3)."""
        first, second = sorted((a, b))
        chat_id = f"19:{first}_{second}@unq.gbl.spaces"
        if chat_id not in self.chats:
            self.chats[chat_id] = GraphChat(chat_id, (first, second), time.time())
        return self.chats[chat_id]

    def of(self, user_id: str) -> Iterator[GraphChat]:
        return (c for c in self.chats.values() if user_id in c.members)

    def add(
        self,
        chat: GraphChat,
        sender_id: str,
        content: str,
        mentions: list[dict[str, Any]],
        *,
        by_app: bool,
    ) -> GraphMessage:
        message = GraphMessage(
            str(next(self._ids)), chat.id, sender_id, content, time.time(), mentions, by_app
        )
        chat.messages.append(message)
        return message

    async def typed(self, sender_id: str, recipient_id: str, text: str) -> GraphMessage:
        """`sender_id` types `text` (Teams HTML; `<at>Name</at>` mentions a person by display
        name) in their 1:1 with `recipient_id`; subscribers are told before this returns."""
        mentions: list[dict[str, Any]] = []

        def mention(match: re.Match[str]) -> str:
            name = match.group(1)
            user = next((u for u in self._s.users.values() if u.display_name == name), None)
            if user is None:
                return name
            mentions.append(
                {
                    "id": len(mentions),
                    "mentionText": name,
                    "mentioned": {
                        "user": {
                            "id": user.id,
                            "displayName": user.display_name,
                            "userIdentityType": "aadUser",
                        }
                    },
                }
            )
            return f'<at id="{len(mentions) - 1}">{name}</at>'

        content = _TYPED_AT.sub(mention, text)
        chat = self.chat_between(sender_id, recipient_id)
        message = self.add(chat, sender_id, content, mentions, by_app=False)
        await self.created(message)
        return message

    def message_json(self, message: GraphMessage) -> dict[str, Any]:
        """A chatMessage as Graph returns it (§2.2 field table)."""
        return {
            "@odata.context": f"{self._s.url}/v1.0/$metadata#chats('{message.chat_id}')"
            "/messages/$entity",
            "id": message.id,
            "replyToId": None,
            "etag": message.id,
            "messageType": "message",
            "createdDateTime": iso(message.created),
            "lastModifiedDateTime": iso(message.created),
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": None,
            "summary": None,
            "chatId": message.chat_id,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": None,
            "channelIdentity": None,
            "policyViolation": None,
            "eventDetail": None,
            "from": self._from(message.sender_id),
            "body": {"contentType": "html", "content": message.content},
            "attachments": [],
            "mentions": message.mentions,
            "reactions": [],
        }

    def _from(self, sender_id: str) -> dict[str, Any]:
        """`from.user` for a person; a bot's post has `from.application` and no user (§2.7)."""
        user = self._s.users.get(sender_id)
        if user is None:
            application = {
                "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                "id": sender_id,
                "displayName": self._s.bot_name,
                "applicationIdentityType": "bot",
            }
            return {"application": application, "device": None, "user": None}
        identity = {
            "@odata.type": "#microsoft.graph.teamworkUserIdentity",
            "id": sender_id,
            "displayName": user.display_name,
            "userIdentityType": "aadUser",
            "tenantId": self._s.tenant_id,
        }
        return {"application": None, "device": None, "user": identity}

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(
        self, owner_id: str, body: dict[str, Any], expires_at: float
    ) -> GraphSubscription:
        subscription = GraphSubscription(
            id=str(uuid.uuid4()),
            owner_id=owner_id,
            resource=str(body["resource"]),
            change_type=str(body["changeType"]),
            notification_url=str(body["notificationUrl"]),
            lifecycle_url=body.get("lifecycleNotificationUrl"),
            client_state=body.get("clientState"),
            expires_at=expires_at,
        )
        self.subscriptions[subscription.id] = subscription
        return subscription

    def granted(self, asked: float) -> float:
        """The expiry Graph grants: what was asked, or less under the test cap."""
        if self.lifetime_cap is None:
            return asked
        return min(asked, time.time() + self.lifetime_cap)

    def live(self, user_id: str) -> list[GraphSubscription]:
        now = time.time()
        return [
            s
            for s in self.subscriptions.values()
            if s.owner_id == user_id and s.expires_at > now and "created" in s.change_type
        ]

    def watching(self, chat: GraphChat) -> list[GraphSubscription]:
        """Live subscriptions that see `chat`: its members' own, and the tenant-wide one."""
        now = time.time()
        return [
            s
            for s in self.subscriptions.values()
            if s.expires_at > now
            and "created" in s.change_type
            and (s.resource == TENANT_RESOURCE or s.owner_id in chat.members)
        ]

    async def validate(self, url: str) -> bool:
        """The handshake (§2.1): POST `?validationToken=` as text/plain; the answer must be
        200, text/plain, the decoded token, within 10 s."""
        token = "Validation: Testing client application reachability for subscription "
        token += f"Request-Id: {uuid.uuid4()}"
        session = self._s.session()
        try:
            async with session.post(
                url,
                params={"validationToken": token},
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self.validation_timeout),
            ) as answer:
                text = await answer.text()
                return (
                    answer.status == 200 and answer.content_type == "text/plain" and text == token
                )
        except (aiohttp.ClientError, TimeoutError):
            return False

    # -- notifying subscribers ----------------------------------------------------------------
    def change_body(self, subscription: GraphSubscription, message: GraphMessage) -> dict[str, Any]:
        resource = f"chats('{message.chat_id}')/messages('{message.id}')"
        return {
            "value": [
                {
                    "subscriptionId": subscription.id,
                    "changeType": "created",
                    "tenantId": self._s.tenant_id,
                    "clientState": subscription.client_state,
                    "subscriptionExpirationDateTime": iso(subscription.expires_at),
                    "resource": resource,
                    "resourceData": {
                        "id": message.id,
                        "@odata.type": "#Microsoft.Graph.chatMessage",
                        "@odata.id": resource,
                    },
                }
            ]
        }

    async def post(self, url: str, body: dict[str, Any]) -> Notification:
        sent = Notification(url, body)
        self.notifications.append(sent)
        try:
            async with self._s.session().post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT * 10)
            ) as answer:
                sent.status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            sent.status = 0
        return sent

    async def created(self, message: GraphMessage) -> list[Notification]:
        """Tell each member's live subscription about `message` (none while paused)."""
        sent: list[Notification] = []
        for subscription in self.watching(self.chats[message.chat_id]):
            if self.paused or subscription.paused:
                continue
            body = self.change_body(subscription, message)
            sent.append(await self.post(subscription.notification_url, body))
        return sent

    async def retry_failed(self) -> list[Notification]:
        """Deliver again each notification the subscriber did not accept (Graph retries a
        non-2xx answer for up to 4 h, §2.1); returns the new attempts."""
        failed = [n for n in self.notifications if not 200 <= n.status < 300 and not n.retried]
        for notification in failed:
            notification.retried = True
        return [await self.post(n.url, n.body) for n in failed]

    def created_later(self, message: GraphMessage) -> None:
        """Notify in the background, as Graph does after answering the post."""
        task = asyncio.get_running_loop().create_task(self._quietly(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, message: GraphMessage) -> None:
        await self.created(message)

    async def settle(self) -> None:
        """Wait for the notifications sent in the background."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def lifecycle(self, subscription: GraphSubscription, event: str) -> Notification:
        """A lifecycle notification (§2.1): reauthorizationRequired pauses delivery until the
        subscription is renewed; subscriptionRemoved deletes it."""
        if event == "reauthorizationRequired":
            subscription.paused = True
        if event == "subscriptionRemoved":
            self.subscriptions.pop(subscription.id, None)
        body = {
            "value": [
                {
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": iso(subscription.expires_at),
                    "tenantId": self._s.tenant_id,
                    "clientState": subscription.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        url = subscription.lifecycle_url or subscription.notification_url
        return await self.post(url, body)
