"""What the Teams stand-in remembers: Entra users, chats and their activities, tokens, grants.

Plain data, shared by the login, Graph and Bot Connector parts of the stand-in (`service.py`
owns one instance of each kind of record).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# Microsoft Entra role template ids (the same in every tenant).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
TEAMS_ADMINISTRATOR = "69091246-20e8-4a56-aa4d-066075b2a7a8"
REPORTS_READER = "4a5d8f65-41da-4de4-8968-e035b65339cf"
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@dataclass
class EntraUser:
    """One user of the tenant, with the properties Graph would return."""

    id: str
    display_name: str
    mail: str | None
    user_principal_name: str
    account_enabled: bool = True
    user_type: str = "Member"  # "Member" | "Guest"
    is_admin: bool = False  # holds Global Administrator in the stand-in

    def properties(self) -> dict[str, Any]:
        """Every property the stand-in knows; `$select` picks from these."""
        given, _, surname = self.display_name.partition(" ")
        return {
            "id": self.id,
            "displayName": self.display_name,
            "givenName": given,
            "surname": surname or None,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
            "userType": self.user_type,
            "jobTitle": None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "businessPhones": [],
        }


# What GET /users returns without $select: no accountEnabled, no userType (§E.2).
DEFAULT_USER_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)


def xml_lines(text: str) -> list[str]:
    """A `textFormat: xml` message as a person reads it: bold as card markdown (`**b**`, which
    the inbox draws), line breaks as lines, other tags dropped, entities decoded."""
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.I)
    text = re.sub(r"</?(?:b|strong)>", "**", text, flags=re.I)
    return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in text.split("\n")]


@dataclass
class ChatActivity:
    """One message in a 1:1 chat with the bot; the bot's edits replace it in place."""

    id: str
    conversation_id: str
    user_id: str  # the person whose 1:1 chat this is
    from_bot: bool
    timestamp: str
    text: str = ""
    summary: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    value: Any = None
    reply_to_id: str | None = None
    edited: int = 0
    text_format: str = "plain"  # "xml": Teams reads `text` as its HTML subset (relay posts)

    @property
    def card(self) -> dict[str, Any] | None:
        """The Adaptive Card the message carries, if any."""
        for attachment in self.attachments:
            if attachment.get("contentType") == CARD_CONTENT_TYPE:
                content = attachment.get("content")
                return content if isinstance(content, dict) else None
        return None

    @property
    def lines(self) -> list[str]:
        """The card's TextBlocks (or the plain text), as a person reads them."""
        card = self.card
        if card is None and self.text_format == "xml":
            return xml_lines(self.text)
        if card is None:
            return [self.text] if self.text else []
        return [
            str(block.get("text", ""))
            for block in card.get("body", [])
            if isinstance(block, dict) and block.get("type") == "TextBlock"
        ]

    @property
    def actions(self) -> list[dict[str, Any]]:
        card = self.card
        return [a for a in (card or {}).get("actions", []) if isinstance(a, dict)]

    def submit_data(self, action_id: str) -> dict[str, Any]:
        """The `data` of the Action.Submit whose data names `action_id` (or whose title is it)."""
        for action in self.actions:
            data = action.get("data")
            if action.get("type") in ("Action.Submit", "Action.Execute") and (
                (isinstance(data, dict) and data.get("action_id") == action_id)
                or action.get("title") == action_id
            ):
                return dict(data) if isinstance(data, dict) else {}
        raise LookupError(f"no button {action_id!r} in message {self.id}")


@dataclass
class IssuedToken:
    kind: str  # "connector" | "graph" | "user"
    expires_at: float
    scope: str
    user_id: str = ""


@dataclass
class PermissionGrant:
    """An oAuth2PermissionGrant: one person's consent, or the tenant-wide AllPrincipals one."""

    id: str
    client_id: str  # the client's service principal id (§I.22), not its app id
    consent_type: str  # "Principal" | "AllPrincipals"
    principal_id: str | None
    resource_id: str
    scope: str

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "clientId": self.client_id,
            "consentType": self.consent_type,
            "principalId": self.principal_id,
            "resourceId": self.resource_id,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class AuthCode:
    user_id: str
    redirect_uri: str
    scope: str
    expires_at: float


@dataclass
class Delivery:
    """One activity the stand-in delivered to the bot, and what the bot answered."""

    activity: dict[str, Any]
    status: int = 0
    body: str = ""
