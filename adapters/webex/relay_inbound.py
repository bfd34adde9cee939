"""Deliveries of people's relay webhooks (`/webex/events?owner=<personId>`) as `DmSeen`.

Each person's webhook signs with its own secret, HMAC(relay key, owner) (relay-apis §3.1,
RELAY_PLAN "Secrets the platform echoes"), so `X-Spark-Signature` (hex HMAC-SHA1 of the raw
body, platform-apis §A.3) is checked against the owner named in the URL before anything is
parsed: a forged or re-aimed delivery is refused with a 401 and reaches nobody. The body names
the message but never its text (§7 surprise 16): the `DmSeen` goes to the core incomplete
(`prose=None`) and the core reads it with the owner's token (`fetch_dm`) outside the webhook.

The owner's own sends are dropped here. A webhook made with a person's token fires for what
they send too (§7 surprise 16), but Webex names the other member of the room only to a token
with a memberships scope, which the relay does not ask for, so such a message could never be
completed; and nothing is lost: the core relays a 1:1 message only when its recipient lives
elsewhere, and such a recipient is on Webex through a consent sync whose own webhook sees the
same message as someone else's, complete. Mio's own posts as the owner are among these, so
their echoes never reach the core either (relay-apis §3.6).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.webex.errors import PLATFORM
from adapters.webex.inbound import (
    SIGNATURE_HEADER,
    BadEvent,
    Envelope,
    TooOld,
    check_age,
    verify,
)
from adapters.webex.relay_hooks import OWNER
from bot.platform import EventHandler, redeliver_response
from bot.types import DmSeen, PlatformUserId, Redeliver

log = logging.getLogger(__name__)


def owner_secret(key: bytes, owner: str) -> str:
    """The webhook secret of `owner`'s relay webhook: hex HMAC-SHA256(relay key, owner)."""
    return hmac.new(key, owner.encode(), hashlib.sha256).hexdigest()


def _dm_seen(raw: bytes, owner: str, now: datetime) -> DmSeen | None:
    """The `DmSeen` a verified body stands for, or None for what the relay ignores."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadEvent("body is not JSON") from exc
    data: Any = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadEvent("body lacks data")
    if (body.get("resource"), body.get("event")) != ("messages", "created"):
        return None
    if data.get("roomType") != "direct":
        return None  # the filter says roomType=direct; a group message is not the relay's
    hook_id, message_id = body.get("id"), data.get("id")
    room_id, sender = data.get("roomId"), data.get("personId")
    if not all(isinstance(v, str) and v for v in (hook_id, message_id, room_id, sender)):
        raise BadEvent("body lacks id, data.id, data.roomId or data.personId")
    created = data.get("created") if isinstance(data.get("created"), str) else None
    check_age(Envelope("messages", "created", str(message_id), str(sender), created), now)
    if sender == owner:
        return None  # the owner's own send: see the module's docstring
    return DmSeen(
        platform=PLATFORM,
        delivery_id=f"{hook_id}:{message_id}:created",
        owner_id=PlatformUserId(owner),
        conversation_id=str(room_id),
        message_id=str(message_id),
        sender_id=PlatformUserId(str(sender)),
        other_id=PlatformUserId(owner),
        prose=None,
        sent_at=datetime.fromisoformat(created) if created else None,
        received_at=now,
    )


class UserHooks:
    """The aiohttp handler for deliveries whose URL names an owner."""

    def __init__(self, key: Callable[[], bytes | None], handler: EventHandler) -> None:
        self._key = key
        self._handler = handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        owner = request.query.get(OWNER, "")
        key = self._key()
        if not owner or key is None:
            log.warning("webex: refused a relay delivery: no owner or no relay key")
            return web.json_response({"error": "invalid signature"}, status=401)
        refusal = verify(owner_secret(key, owner), request.headers, raw)
        if refusal is not None:
            log.warning("webex: refused a relay delivery (%s): %s", SIGNATURE_HEADER, refusal)
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            event = _dm_seen(raw, owner, datetime.now(UTC))
        except TooOld as exc:
            log.warning("webex: refused an old relay delivery: %s", exc)
            return web.json_response({"error": "delivery too old"}, status=401)
        except BadEvent as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if event is None:
            return web.json_response({"status": "ignored"})
        outcome = await self._handler(event)
        if isinstance(outcome, Redeliver):
            return redeliver_response(outcome)
        return web.json_response({"status": "ok"})
