"""Zoom's objects as the stand-in keeps them: users, chatbot messages, issued tokens, deliveries.

Plain data shared by the stand-in's parts (`service.py` assembles them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JID_DOMAIN = "@xmpp.zoom.us"
BOT_NAME = "Mio User Sync"

INVALID_CLIENT = {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
CHATBOT_UNAUTHORIZED = {"code": 7010, "message": "Invalid authorization token."}
BAD_BODY = {"code": 7001, "message": "Invalid request body format."}


def _jid(user_id: str) -> str:
    return user_id.lower() + JID_DOMAIN


@dataclass
class SandboxUser:
    """One Zoom user of the seeded account."""

    id: str
    email: str | None
    first_name: str
    last_name: str
    display_name: str
    role_id: str
    status: str  # "active" | "inactive"

    @property
    def jid(self) -> str:
        return _jid(self.id)

    def listing(self) -> dict[str, Any]:
        """The user as `GET /users` shows it: no `jid` there (§I.25)."""
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "display_name": self.display_name,
            "email": self.email,
            "type": 2,
            "status": self.status,
            "role_id": self.role_id,
            "verified": 1,
            "timezone": "Europe/London",
            "dept": "",
            "language": "en-US",
            "user_created_at": "2024-01-02T03:04:05Z",
        }


@dataclass
class SandboxMessage:
    """A chatbot message as it sits in a user's chat; edits replace `content` in place."""

    message_id: str
    to_jid: str
    user_jid: str
    content: dict[str, Any]
    sent_time: str
    edited: int = 0

    @property
    def text(self) -> str:
        """Header and message items as one text, for assertions and the inbox page."""
        parts = [str(self.content.get("head", {}).get("text", ""))]
        parts += [
            str(item.get("text", ""))
            for item in self.content.get("body", [])
            if item.get("type") == "message"
        ]
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[dict[str, str]]:
        """The action items (`text`, `value`, `style`) of every actions block."""
        return [
            dict(item)
            for block in self.content.get("body", [])
            if block.get("type") == "actions"
            for item in block.get("items", [])
        ]


@dataclass
class IssuedToken:
    kind: str  # "chatbot" | "s2s" | "user"
    expires_at: float
    scope: str
    user_id: str = ""
    refresh_token: str = ""
    app: str = ""  # for user tokens: the app the person authorized, "chatbot" | "login"


@dataclass
class Delivery:
    body: bytes
    statuses: list[int] = field(default_factory=list)
    secret: str | None = None  # the login app's secret token for its events; None: chatbot


# The login app's scopes (manifests/zoom/login-app.json): what its user tokens carry.
LOGIN_SCOPES = (
    "team_chat:read:user_message team_chat:write:user_message team_chat:read:list_user_messages "
    "team_chat:read:list_user_sessions user:read:user user:read:email"
)


@dataclass
class UserDm:
    """A message in a 1:1 between two users, as Zoom keeps it: plain text plus style ranges."""

    message_id: str
    sender_id: str
    contact_id: str  # the member it was sent to
    message: str
    timestamp: int  # milliseconds
    rich_text: list[dict[str, Any]] = field(default_factory=list)
    at_items: list[dict[str, Any]] = field(default_factory=list)
    by_app: bool = False  # sent through `POST /chat/users/me/messages`, not typed

    def members(self) -> frozenset[str]:
        return frozenset((self.sender_id, self.contact_id))
