"""Webex people, tokens and authorizations as our neutral types, and the admin calls for them.

`status` on a Webex person is presence, not account state (§E.3, §I.4): a deactivated account
is `loginEnabled: false`, an invited one that never joined is `invitePending: true`, and both
fields are booleans in the SDK but strings in Webex's OpenAPI (§B.3), so both spellings count.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from webexpythonsdk.utils import extract_and_parse_json  # type: ignore[import-untyped]

from adapters.webex import roles
from adapters.webex.admin import expires
from adapters.webex.errors import PLATFORM, NotFound
from bot.types import DirectoryUser, Identity, PermanentFailure, PlatformUserId, TokenGrant

PAGE_SIZE = 1000  # the largest `max` /people accepts
_MENTION = re.compile(r"^@?<@personId:([A-Za-z0-9_=-]+)(?:\|[^>]*)?>$")

# `WebexPlatform._as_admin`: run a call with the admin's token (refreshed once on a 401).
AsAdmin = Callable[[Callable[[Any, Any], Any]], Awaitable[Any]]


def is_person_id(token: str) -> bool:
    """Webex ids are base64 of `ciscospark://<cluster>/PEOPLE/<uuid>`."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_").decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return decoded.startswith("ciscospark://") and "/PEOPLE/" in decoded


def mentioned(token: str) -> PlatformUserId | None:
    """A `<@personId:…|name>` mention (Webex markdown) or a bare Webex person id.

    Mentions reach the bot as plain names in the message text, so names and emails are left
    to the core's directory lookup.
    """
    token = token.strip()
    if match := _MENTION.match(token):
        return PlatformUserId(match.group(1))
    return PlatformUserId(token) if is_person_id(token) else None


def flag(value: Any, default: bool) -> bool:
    """A Webex boolean that may arrive as true/false or "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


def first_email(person: Mapping[str, Any]) -> str | None:
    emails = person.get("emails") or []
    return str(emails[0]) if isinstance(emails, list) and emails and emails[0] else None


def directory_user(person: Mapping[str, Any]) -> DirectoryUser:
    """One /people item; bots (`type: bot`) and guests (`appuser`) are marked as such."""
    kind = person.get("type") or "person"
    full_name = f"{person.get('firstName') or ''} {person.get('lastName') or ''}".strip()
    email = first_email(person)
    return DirectoryUser(
        platform=PLATFORM,
        user_id=PlatformUserId(str(person["id"])),
        email=email,
        display_name=str(person.get("displayName") or full_name or email or person["id"]),
        is_bot=kind == "bot",
        is_guest=kind == "appuser",
        is_active=flag(person.get("loginEnabled"), True)
        and not flag(person.get("invitePending"), False),
        is_admin=roles.is_admin(person.get("roles")),  # full or user admin only
    )


def users(page: Any) -> list[DirectoryUser]:
    """The people on one /people page."""
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise PermanentFailure(PLATFORM, "GET /people answered without items")
    return [directory_user(p) for p in items if isinstance(p, dict) and p.get("id")]


def people_page(
    url: str, params: Mapping[str, Any] | None
) -> Callable[[Any, Any], tuple[Any, str | None]]:
    """The admin call for one /people page: (its JSON, the absolute `rel="next"` URL or None)."""

    def get(_api: Any, rest: Any) -> tuple[Any, str | None]:
        response = rest.request("GET", url, 200, params=dict(params) if params else None)
        following = (response.links.get("next") or {}).get("url")
        return extract_and_parse_json(response), str(following) if following else None

    return get


def token_grant(answer: Mapping[str, Any], me: Mapping[str, Any], now: datetime) -> TokenGrant:
    """A person's tokens and who they are, from /access_token and /people/me."""
    if not me.get("id"):
        raise PermanentFailure(PLATFORM, "GET /people/me answered without id")
    return TokenGrant(
        identity=Identity(PlatformUserId(str(me["id"])), first_email(me)),
        access_token=str(answer["access_token"]),
        refresh_token=str(answer.get("refresh_token") or "") or None,
        expires_at=expires(now, answer.get("expires_in")),
        scope=str(answer.get("scope") or ""),
    )


def our_authorizations(found: Any, client_id: str) -> list[str]:
    """Ids of this client's authorizations in a GET /authorizations answer, refresh first."""
    items = found.get("items") if isinstance(found, dict) else None
    ours = [
        a
        for a in items or []
        if isinstance(a, dict) and a.get("clientId") == client_id and a.get("id")
    ]
    ours.sort(key=lambda a: a.get("type") != "refresh")
    return [str(a["id"]) for a in ours]


def delete_authorization(authorization_id: str) -> Callable[[Any, Any], None]:
    """The admin call that deletes one authorization (by its id, never by client id)."""

    def delete(_api: Any, rest: Any) -> None:
        rest.delete("authorizations/" + urllib.parse.quote(authorization_id, safe=""))

    return delete


async def revoke_links(as_admin: AsAdmin, person_id: str, client_id: str) -> str:
    """Delete the person's authorizations of this integration, with the admin's token.

    A person's own token cannot revoke itself (§F.3). Only this client id's authorizations
    of that one person go: DELETE /authorizations?clientId=… would sign out the whole
    organisation, the admin's directory grant included.
    """
    found = await as_admin(
        lambda _api, rest: rest.get("authorizations", params={"personId": person_id})
    )
    ours = our_authorizations(found, client_id)
    deleted = 0
    for authorization_id in ours:
        try:
            await as_admin(delete_authorization(authorization_id))
        except NotFound:
            continue  # deleting the refresh authorization also ended its access tokens
        deleted += 1
    if not ours:
        return f"Webex had no authorization of this integration left to revoke for {person_id}"
    return f"Webex authorization of this integration revoked for {person_id} ({deleted} deleted)"
