"""The admin grant: an integration token an admin gave Mio once, kept fresh for the directory.

A Webex bot cannot list the organisation (§E.3, §I.4), so `mio connect webex` has an admin
authorize the integration with `spark-admin:people_read` (directory) and
`identity:tokens_read`/`identity:tokens_write` (revoking people's links, §F.3). The core stores
the grant sealed and hands it back at start-up; the access token lasts about 14 days, so it is
refreshed a while before it expires and every refreshed grant goes back to the core through
`save`, which is the only way a rotated token survives a restart.

Any Webex organisation's admin can authorize an integration, and their token lists *their*
organisation, so a grant is kept only when the person who gave it belongs to the bot's own
organisation (`orgId` of both `GET /people/me`, §E.3): another one would import strangers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.webex.errors import CONNECT_HINT, PLATFORM
from bot.platform import SaveAdminGrant
from bot.types import PermanentFailure

log = logging.getLogger(__name__)

ADMIN_SCOPES = (
    "spark-admin:people_read",
    "identity:tokens_read",
    "identity:tokens_write",
    "spark:people_read",
)
REFRESH_BEFORE = timedelta(hours=1)

NOT_CONNECTED = f"directory access not authorized: {CONNECT_HINT}"

Refresh = Callable[[str], Awaitable[Mapping[str, Any]]]  # refresh token → token answer


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def expires(now: datetime, seconds: Any) -> datetime | None:
    try:
        return now + timedelta(seconds=float(seconds))
    except (TypeError, ValueError):
        return None


def check_same_org(granter: Mapping[str, Any], bot: Mapping[str, Any]) -> None:
    """PermanentFailure, in a sentence for the admin, when the grant's giver (their
    `GET /people/me`) is in another organisation than the bot (its own), or either is unknown."""
    granted_from, bot_org = granter.get("orgId"), bot.get("orgId")
    if not granted_from or not bot_org or granted_from != bot_org:
        raise PermanentFailure(
            PLATFORM,
            "the person who authorized belongs to another Webex organisation than the Mio bot, "
            "so nothing was kept; a full or user admin of the bot's own organisation must run "
            "`mio connect webex`",
        )


def missing_scopes(granted: str, needed: tuple[str, ...] = ADMIN_SCOPES) -> list[str]:
    """The needed scopes that a token answer's space-separated `scope` lacks."""
    have = set(granted.replace(",", " ").split())
    return [scope for scope in needed if scope not in have]


@dataclass(frozen=True, slots=True)
class AdminGrant:
    """The tokens to keep, and who granted them (so revoking that person spares the grant)."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: str
    person_id: str = ""
    refresh_token_expires_at: datetime | None = None

    def __repr__(self) -> str:  # tokens never reach logs
        return f"AdminGrant(person_id={self.person_id!r}, expires_at={self.expires_at!r})"

    @classmethod
    def from_answer(
        cls, answer: Mapping[str, Any], now: datetime, person_id: str = ""
    ) -> AdminGrant:
        """From POST /access_token's answer; raises PermanentFailure when it is unusable."""
        access_token, refresh_token = answer.get("access_token"), answer.get("refresh_token")
        if not isinstance(access_token, str) or not isinstance(refresh_token, str):
            raise PermanentFailure(PLATFORM, "the token answer has no access or refresh token")
        return cls(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires(now, answer.get("expires_in")) or now,
            scope=str(answer.get("scope") or ""),
            person_id=person_id,
            refresh_token_expires_at=expires(now, answer.get("refresh_token_expires_in")),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdminGrant:
        expires_at = _when(data.get("expires_at"))
        if not data.get("access_token") or not data.get("refresh_token") or expires_at is None:
            raise ValueError("a stored Webex admin grant lacks its tokens or expiry")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=expires_at,
            scope=str(data.get("scope") or ""),
            person_id=str(data.get("person_id") or ""),
            refresh_token_expires_at=_when(data.get("refresh_token_expires_at")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "scope": self.scope,
            "person_id": self.person_id,
        }
        if self.refresh_token_expires_at is not None:
            data["refresh_token_expires_at"] = self.refresh_token_expires_at.isoformat()
        return data


class AdminTokens:
    """The current admin grant, refreshed ahead of expiry by one caller at a time."""

    def __init__(self, refresh: Refresh, clock: Callable[[], datetime]) -> None:
        self._refresh = refresh
        self._clock = clock
        self._lock = asyncio.Lock()
        self._grant: AdminGrant | None = None
        self._save: SaveAdminGrant | None = None

    def use(self, grant: Mapping[str, Any] | None, save: SaveAdminGrant) -> None:
        """Keep `grant`; an unreadable one counts as none, so start-up still serves the rest."""
        self._save = save
        try:
            self._grant = AdminGrant.from_dict(grant) if grant else None
        except ValueError as exc:
            log.error("webex: the stored admin grant is unusable (%s): %s", exc, CONNECT_HINT)
            self._grant = None

    @property
    def connected(self) -> bool:
        return self._grant is not None

    @property
    def person_id(self) -> str:
        return self._grant.person_id if self._grant else ""

    async def token(self) -> str:
        """A valid admin access token, refreshed first when it is about to expire."""
        async with self._lock:
            grant = self._require()
            if grant.expires_at - self._clock() <= REFRESH_BEFORE:
                grant = await self._renew(grant)
            return grant.access_token

    async def rejected(self, token: str) -> None:
        """Webex refused `token` early (revoked, rotated): refresh unless someone already did."""
        async with self._lock:
            grant = self._require()
            if grant.access_token == token:
                await self._renew(grant)

    def _require(self) -> AdminGrant:
        if self._grant is None:
            raise PermanentFailure(PLATFORM, NOT_CONNECTED)
        return self._grant

    async def _renew(self, grant: AdminGrant) -> AdminGrant:
        answer = await self._refresh(grant.refresh_token)
        fresh = AdminGrant.from_answer(answer, self._clock(), grant.person_id)
        # Webex may omit scope on refresh, or hand back the same refresh token: keep what we had.
        fresh = replace(
            fresh,
            scope=fresh.scope or grant.scope,
            refresh_token_expires_at=fresh.refresh_token_expires_at
            or grant.refresh_token_expires_at,
        )
        self._grant = fresh
        if self._save is not None:
            await self._save(fresh.to_dict())
        return fresh
