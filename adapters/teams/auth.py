"""Our own check of the Bot Connector's JWT on every inbound request (platform-apis.md §A.2, §I.1).

The Agents SDK hard-codes where it fetches signing keys, checks neither issuer nor endorsements
by default, and only warns on a `serviceurl` mismatch; national clouds and the sandbox both need
another key location. So: the OpenID metadata at `TEAMS_OPENID_URL` names the issuer and the
JWKS; keys are cached (refreshed daily, and at once when a token names an unknown `kid`, since
Microsoft rotates keys); a token must be RS256 from a key endorsed for `msteams`, for our app id,
from that issuer, within 5 minutes' clock skew. Once the body is read, the activity must name
the service URL the token was signed for (`check_service_url`) and come from the `msteams`
channel, which the signing key must endorse (`check_channel`): the Connector signs every
channel of a bot (Web Chat, Direct Line …) with the same published keys, so a key endorsed for
`msteams` alone proves nothing about the activity in hand. PyJWKClient is not used: it fetches
with blocking urllib inside the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from adapters.teams.client import TeamsHttp
from bot.types import PlatformError

log = logging.getLogger(__name__)

DEFAULT_OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
DEFAULT_ISSUER = "https://api.botframework.com"
CHANNEL = "msteams"
LEEWAY_SECONDS = 300
KEYS_MAX_AGE = 24 * 3600.0
# An unknown kid triggers a refresh at most this often, so forged tokens cannot make us hammer
# Microsoft's key endpoint (the scheduled daily refresh is not counted).
MIN_REFRESH_INTERVAL = 60.0


class AuthError(Exception):
    """The request is not from the Bot Connector for this bot; answered 401."""


class ChannelRefused(AuthError):
    """Signed by the Connector, but not a Teams activity; answered 403 as the Bot Framework
    authentication spec asks for a channel the key does not endorse."""


class KeysUnavailable(Exception):
    """The OpenID metadata or its keys could not be read: our problem, answered 503."""


@dataclass(frozen=True)
class SigningKey:
    key: Any  # the public key object PyJWT verifies with
    endorsements: frozenset[str]


@dataclass(frozen=True)
class VerifiedToken:
    """A Connector token that passed every check the header alone allows, and what signed it."""

    claims: dict[str, Any]
    endorsements: frozenset[str]


def normalize_service_url(url: str) -> str:
    """Compare service URLs as Teams means them: scheme and host case-blind, one trailing `/`."""
    scheme, sep, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}".rstrip("/") + "/"


class BotFrameworkKeys:
    """The issuer and signing keys published at the OpenID metadata URL, cached."""

    def __init__(
        self,
        http: TeamsHttp,
        openid_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._openid_url = openid_url
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: dict[str, SigningKey] = {}
        self.issuer = DEFAULT_ISSUER
        self._fetched_at: float | None = None
        self._forced_at: float | None = None  # the last refresh an unknown kid asked for

    async def _json(self, url: str) -> Mapping[str, Any]:
        try:
            status, _, body = await self._http.send("GET", url)
        except PlatformError as exc:
            raise KeysUnavailable(f"{url}: {exc.reason}") from exc
        if status != 200 or not isinstance(body, Mapping):
            raise KeysUnavailable(f"{url} answered HTTP {status}")
        return body

    async def _refresh(self) -> None:
        metadata = await self._json(self._openid_url)
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise KeysUnavailable(f"{self._openid_url} names no jwks_uri")
        jwks = await self._json(jwks_uri)
        keys: dict[str, SigningKey] = {}
        for entry in jwks.get("keys") or []:
            if not isinstance(entry, Mapping) or not entry.get("kid"):
                continue
            try:
                public = jwt.PyJWK(dict(entry), algorithm="RS256").key
            except jwt.PyJWTError as exc:
                log.warning("teams: skipping unreadable signing key %s: %s", entry.get("kid"), exc)
                continue
            endorsements = frozenset(str(e) for e in entry.get("endorsements") or [])
            keys[str(entry["kid"])] = SigningKey(public, endorsements)
        self._keys = keys
        self.issuer = str(metadata.get("issuer") or DEFAULT_ISSUER)
        self._fetched_at = self._clock()

    async def get(self, kid: str) -> SigningKey | None:
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_MAX_AGE
            unknown = kid not in self._keys and (
                self._forced_at is None or now - self._forced_at >= MIN_REFRESH_INTERVAL
            )
            if unknown and not stale:
                self._forced_at = now
            if stale or unknown:
                try:
                    await self._refresh()
                except KeysUnavailable:
                    if kid not in self._keys:
                        raise
                    # Microsoft's key endpoint is down but this key is known: keep using it.
                    log.warning("teams: could not refresh signing keys; using cached ones")
            return self._keys.get(kid)


class TokenValidator:
    """Validates the `Authorization` header of a Bot Connector request for one app id."""

    def __init__(self, keys: BotFrameworkKeys, app_id: str) -> None:
        self._keys = keys
        self._app_id = app_id

    async def verify(self, authorization: str | None) -> VerifiedToken:
        """The verified token; AuthError says why not, KeysUnavailable when we cannot tell."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("missing bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"unreadable token: {exc}") from exc
        if header.get("alg") != "RS256":
            raise AuthError(f"algorithm {header.get('alg')!r} is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token names no signing key")
        key = await self._keys.get(kid)
        if key is None:
            raise AuthError(f"unknown signing key {kid!r}")
        if CHANNEL not in key.endorsements:
            raise AuthError(f"signing key {kid!r} is not endorsed for {CHANNEL}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._app_id,
                issuer=self._keys.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"{type(exc).__name__}: {exc}") from exc
        return VerifiedToken(claims, key.endorsements)


def check_channel(token: VerifiedToken, channel_id: str) -> None:
    """The activity must come from Teams, and its channel must be one the signing key endorses
    (platform-apis.md §A.2: "Keys carry `endorsements`, which must contain the channel id
    `msteams`"; the Bot Framework authentication spec: the activity's `channelId` must be among
    the endorsements of the key that signed its token, else 403)."""
    if channel_id != CHANNEL:
        raise ChannelRefused(f"channelId {channel_id!r} is not {CHANNEL}")
    if channel_id not in token.endorsements:
        raise ChannelRefused(f"the signing key is not endorsed for {channel_id!r}")


def check_service_url(claims: Mapping[str, Any], service_url: str) -> None:
    """The activity must name the service URL the connector signed (§A.2): replies carry our
    bot token there, so an unsigned one could send it anywhere."""
    claimed = claims.get("serviceurl")
    if not isinstance(claimed, str) or not claimed:
        raise AuthError("token has no serviceurl claim")
    if normalize_service_url(claimed) != normalize_service_url(service_url):
        raise AuthError(f"serviceUrl {service_url!r} does not match the token's {claimed!r}")
