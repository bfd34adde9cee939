"""The stand-in acting as Zoom towards the bot: signed webhook deliveries on the people's behalf.

It signs and delivers slash commands and button presses exactly as Zoom would (§A.4, §C.4,
§D.4), so tests exercise the bot's real verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from sandbox.zoom.model import (
    BOT_NAME,
    Delivery,
    SandboxMessage,
)
from sandbox.zoom.state import ZoomState


class ZoomEvents(ZoomState):
    """Deliveries to `{bot_url}/zoom/events`, kept for redelivery byte for byte."""

    def sign(self, body: bytes, ts: int | None = None, secret: str | None = None) -> dict[str, str]:
        """The headers Zoom sends with a webhook body (§A.4), signed with the chatbot app's
        secret token or, for the login app's events, with `secret`."""
        timestamp = str(int(time.time()) if ts is None else ts)
        key = (secret or self.webhook_secret).encode()
        digest = hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        return {
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": "v0=" + digest.hexdigest(),
            "x-zm-request-id": str(uuid.uuid4()),
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Zoom Marketplace/1.0a",
        }

    async def _post_event(self, delivery: Delivery, headers: dict[str, str]) -> tuple[int, str]:
        if not self.bot_url:
            raise RuntimeError("ZoomSandbox.bot_url is not set: where does the bot listen?")
        if self._session is None:
            raise RuntimeError("ZoomSandbox.start() must run before delivering events")
        url = self.bot_url.rstrip("/") + "/zoom/events"
        async with self._session.post(url, data=delivery.body, headers=headers) as response:
            delivery.statuses.append(response.status)
            return response.status, await response.text()

    async def deliver(
        self, body: bytes, headers: dict[str, str] | None = None, secret: str | None = None
    ) -> tuple[int, str]:
        """POST raw bytes to the bot's /zoom/events, signed (with `secret`, default the
        chatbot app's) unless `headers` are given."""
        delivery = Delivery(body, secret=secret)
        self.deliveries.append(delivery)
        return await self._post_event(delivery, headers or self.sign(body, secret=secret))

    async def redeliver(self, last: bool = True) -> tuple[int, str]:
        """Zoom's retry: the same body byte for byte, freshly signed (the newest, or the first)."""
        if not self.deliveries:
            raise LookupError("nothing was delivered yet")
        delivery = self.deliveries[-1 if last else 0]
        return await self._post_event(delivery, self.sign(delivery.body, secret=delivery.secret))

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
