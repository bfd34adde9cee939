"""What the Webex stand-in knows: people, spaces, messages, tokens, authorizations, webhooks.

Shapes follow the Webex REST API (platform-apis.md §B.3, §C.3, §D.3, §E.3, §F.3): ids are
base64 of `ciscospark://us/<KIND>/<id>`, errors are `{message, errors, trackingId}`, and admin
fields (`roles`, `loginEnabled`, `invitePending`) appear only to admin tokens.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from sandbox.org import OrgAccount

NO_TOKEN = "The request requires a valid access token set in the Authorization request header."
FULL_ADMIN_ROLE = "Y2lzY29zcGFyazovL3VzL1JPTEUvaWRfZnVsbF9hZG1pbg"
# `roles` is an admin-only field of a person (platform-apis.md §E.3); Webex has roles that
# administer nothing about people (Webex Roles API), which a person may hold alone.
READONLY_ADMIN_ROLE = "Y2lzY29zcGFyazovL3VzL1JPTEUvaWRfcmVhZG9ubHlfYWRtaW4"
PRESENCE = ("active", "inactive", "DoNotDisturb", "meeting", "unknown")


def hydra_id(kind: str, raw: str) -> str:
    """A Webex-style id: unpadded base64 of `ciscospark://us/{KIND}/{raw}`."""
    encoded = base64.urlsafe_b64encode(f"ciscospark://us/{kind}/{raw}".encode())
    return encoded.decode().rstrip("=")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Webex's error body, tracking id included."""
    body = {
        "message": message,
        "errors": [{"description": message}],
        "trackingId": f"ROUTER_{uuid.uuid4()}",
    }
    return web.json_response(body, status=status, headers=headers)


async def read_json(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is anything else."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Person:
    """One Webex account of the organisation (or the Mio bot itself)."""

    id: str
    email: str | None
    display_name: str
    type: str = "person"  # person | bot | appuser
    is_admin: bool = False
    login_enabled: bool = True
    invite_pending: bool = False
    presence: str = "active"
    other_roles: list[str] = field(default_factory=list)  # e.g. READONLY_ADMIN_ROLE
    created: str = "2024-01-02T03:04:05.000Z"
    org_id: str = ""  # another Webex organisation's id; "" for the stand-in's own

    @classmethod
    def from_account(cls, account: OrgAccount, index: int = 0) -> Person:
        kind = "bot" if account.is_bot else "appuser" if account.is_guest else "person"
        return cls(
            id=account.user_id,
            email=account.email,
            display_name=account.name,
            type=kind,
            is_admin=account.is_admin,
            login_enabled=account.active,
            presence=PRESENCE[index % len(PRESENCE)],  # presence says nothing about the account
        )

    @property
    def active(self) -> bool:
        return self.login_enabled and not self.invite_pending

    def public(self, org_id: str, *, admin_view: bool, strings: bool = False) -> dict[str, Any]:
        first, _, last = self.display_name.partition(" ")
        data: dict[str, Any] = {
            "id": self.id,
            "emails": [self.email] if self.email else [],
            "phoneNumbers": [],
            "displayName": self.display_name,
            "nickName": first,
            "firstName": first,
            "lastName": last,
            "orgId": org_id,
            "created": self.created,
            "status": self.presence,
            "type": self.type,
        }
        if admin_view:

            def flag(value: bool) -> bool | str:
                return str(value).lower() if strings else value

            data |= {
                "roles": ([FULL_ADMIN_ROLE] if self.is_admin else []) + self.other_roles,
                "licenses": ["Y2lzY29zcGFyazovL3VzL0xJQ0VOU0UvbWVzc2FnaW5n"],
                "loginEnabled": flag(self.login_enabled),
                "invitePending": flag(self.invite_pending),
            }
        return data


@dataclass
class Room:
    id: str
    type: Literal["direct", "group"]
    members: set[str]
    title: str = ""


@dataclass
class SandboxMessage:
    """A message as it sits in a space; `deleted` ones stay for the record but are not served."""

    id: str
    room_id: str
    room_type: str
    person_id: str
    person_email: str
    text: str = ""
    markdown: str = ""
    html: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str = ""
    mentioned_people: list[str] = field(default_factory=list)
    created: str = field(default_factory=now_iso)
    edits: int = 0
    deleted: bool = False
    by_app: bool = False  # posted through POST /messages (a token), not typed in a client

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.attachments:
            content = attachment.get("content")
            if isinstance(content, dict):
                return content
        return None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The card's actions (Action.Submit with `data`, Action.OpenUrl with `url`)."""
        card = self.card
        return [dict(a) for a in card.get("actions", [])] if card else []

    @property
    def shown_text(self) -> str:
        """What a person reads: the card's text blocks, else the markdown or the text."""
        card = self.card
        if card:
            return "\n".join(
                str(b.get("text", "")) for b in card.get("body", []) if b.get("type") == "TextBlock"
            )
        return self.markdown or self.text

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "roomId": self.room_id,
            "roomType": self.room_type,
            "text": self.text,
            "personId": self.person_id,
            "personEmail": self.person_email,
            "created": self.created,
        }
        if self.markdown:
            data["markdown"] = self.markdown
        if self.html:
            data["html"] = self.html
        if self.attachments:
            data["attachments"] = self.attachments
        if self.parent_id:
            data["parentId"] = self.parent_id
        if self.mentioned_people:
            data["mentionedPeople"] = self.mentioned_people
        if self.edits:
            data["updated"] = now_iso()
        return data


@dataclass
class AttachmentAction:
    id: str
    message_id: str
    room_id: str
    person_id: str
    inputs: dict[str, Any]
    created: str = field(default_factory=now_iso)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "submit",
            "messageId": self.message_id,
            "inputs": self.inputs,
            "personId": self.person_id,
            "roomId": self.room_id,
            "created": self.created,
        }


@dataclass
class Token:
    """An access token; the bot's never expires, integration tokens do."""

    person_id: str
    kind: Literal["bot", "user"]
    scopes: frozenset[str]
    expires_at: float = float("inf")
    client_id: str = ""
    authorization_id: str = ""  # the access authorization that stands for this token

    def has_admin(self, *scopes: str) -> bool:
        return self.kind == "user" and all(s in self.scopes for s in scopes)


@dataclass
class Integration:
    """An OAuth client registered on the developer portal."""

    name: str
    client_id: str = field(default_factory=lambda: "C" + secrets.token_hex(32))
    client_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    application_id: str = field(default_factory=lambda: hydra_id("APPLICATION", uuid.uuid4().hex))


@dataclass
class Authorization:
    """A grant of a client by a person; `refresh` ones own the `access` ones minted from them."""

    id: str
    person_id: str
    integration: Integration
    type: Literal["refresh", "access"]
    token: str
    scopes: frozenset[str]
    expires_at: float
    refresh_id: str = ""
    created: str = field(default_factory=now_iso)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "applicationId": self.integration.application_id,
            "applicationName": self.integration.name,
            "personId": self.person_id,
            "clientId": self.integration.client_id,
            "created": self.created,
            "type": self.type,
        }


@dataclass
class Hook:
    id: str
    name: str
    target_url: str
    resource: str
    event: str
    owner_id: str
    app_id: str
    filter: str = ""
    secret: str = ""
    status: str = "active"
    created: str = field(default_factory=now_iso)
    failures: int = 0  # deliveries refused in a row; enough of them make it `inactive`

    def public(self, org_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "targetUrl": self.target_url,
            "resource": self.resource,
            "event": self.event,
            "orgId": org_id,
            "createdBy": self.owner_id,
            "appId": self.app_id,
            "ownedBy": "creator",
            "status": self.status,
            "created": self.created,
        }
        if self.filter:
            data["filter"] = self.filter
        if self.secret:
            data["secret"] = self.secret
        return data


@dataclass
class State:
    """Everything the stand-in's routes share."""

    org_id: str
    org_name: str
    bot: Person
    bot_token: str
    people: dict[str, Person] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)
    messages: dict[str, SandboxMessage] = field(default_factory=dict)
    actions: dict[str, AttachmentAction] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    # Other organisations (id → name) whose people can still authorize our integration, as
    # any Webex organisation's admin can (integrations are not tied to one organisation).
    other_orgs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens[self.bot_token] = Token(self.bot.id, "bot", frozenset({"spark:all"}))

    def org_of(self, person: Person) -> str:
        return person.org_id or self.org_id

    def name_of_org(self, org_id: str) -> str | None:
        return self.org_name if org_id == self.org_id else self.other_orgs.get(org_id)

    def person(self, person_id: str) -> Person | None:
        return self.bot if person_id == self.bot.id else self.people.get(person_id)

    def by_email(self, email: str) -> Person | None:
        wanted = email.strip().lower()
        for person in [*self.people.values(), self.bot]:
            if person.email and person.email.strip().lower() == wanted:
                return person
        return None

    def direct_room(self, person_id: str) -> Room:
        """The bot's 1:1 space with `person_id`, created on first use."""
        return self.pair_room(self.bot.id, person_id)

    def pair_room(self, one: str, other: str) -> Room:
        """The 1:1 space of two accounts, created on first use (a first message to someone
        creates it implicitly, relay-apis §3.2)."""
        for room in self.rooms.values():
            if room.type == "direct" and room.members == {one, other}:
                return room
        room = Room(hydra_id("ROOM", str(uuid.uuid4())), "direct", {one, other})
        self.rooms[room.id] = room
        return room

    def scoped(self, request: web.Request, scope: str) -> Token | web.Response:
        """The request's token if it may use `scope` (a bot's may do anything a bot does),
        else Webex's 401 or 403."""
        token = self.authenticate(request)
        if isinstance(token, web.Response) or token.kind == "bot":
            return token
        if scope not in token.scopes and "spark:all" not in token.scopes:
            return error(403, f"The token does not have the required scope {scope}.")
        return token

    def authenticate(self, request: web.Request) -> Token | web.Response:
        """The request's valid token, or Webex's 401."""
        header = request.headers.get("Authorization", "")
        token = self.tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if token is None or token.expires_at <= time.time():
            return error(401, NO_TOKEN)
        return token
