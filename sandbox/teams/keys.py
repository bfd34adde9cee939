"""The stand-in's Bot Framework signing keys: a JWKS to publish and JWTs signed with it.

Like login.botframework.com, every published key carries `endorsements` naming the channels it
may sign for. The Connector signs deliveries of *every* channel a bot is on with the same keys
(the Bot Framework authentication spec: endorsements default to "the list of all published
channel IDs", and the activity's `channelId` must be among those of the key that signed it), so
the main key is endorsed for Teams, Web Chat, Direct Line and the rest alike, and a Web Chat
delivery carries a perfectly valid token. Beside it the stand-in publishes a key endorsed for
other channels but not `msteams`, and can forge (a key nobody published) or rotate (a new
published key) so tests reach every branch of the bot's validator (platform-apis.md §A.2, §I.1).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"
# Published channel ids, as the Connector's keys list them (endorsements cover every channel).
CONNECTOR_ENDORSEMENTS = (
    "msteams",
    "skype",
    "webchat",
    "directline",
    "directlinespeech",
    "email",
    "slack",
    "telegram",
    "twilio-sms",
)
OTHER_CHANNEL_ENDORSEMENTS = ("webchat", "directline")
TOKEN_LIFETIME = 3600
# How `make_token(signing=…)` may sign: "connector" is the key every real delivery uses.
SIGNINGS = ("connector", "other-channels", "forged", "unknown-kid")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _kid() -> str:
    return secrets.token_urlsafe(20)


@dataclass
class _Key:
    kid: str
    private: rsa.RSAPrivateKey
    endorsements: tuple[str, ...]

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {
            **public,
            "kid": self.kid,
            "use": "sig",
            "x5t": self.kid,
            "endorsements": list(self.endorsements),
        }


class SigningKeys:
    """Keys generated at start: RSA generation takes ~0.1 s, so it runs in threads, never in
    the event loop."""

    def __init__(self) -> None:
        self._published: list[_Key] = []
        self._current: _Key | None = None
        self._other: _Key | None = None
        self._forged: rsa.RSAPrivateKey | None = None

    async def generate(self) -> None:
        connector, other = await asyncio.gather(
            asyncio.to_thread(_new_key), asyncio.to_thread(_new_key)
        )
        self._current = _Key(_kid(), connector, CONNECTOR_ENDORSEMENTS)
        self._other = _Key(_kid(), other, OTHER_CHANNEL_ENDORSEMENTS)
        self._published = [self._current, self._other]

    async def rotate(self) -> str:
        """Publish a new Connector key and sign with it from now on; returns its kid."""
        self._current = _Key(_kid(), await asyncio.to_thread(_new_key), CONNECTOR_ENDORSEMENTS)
        self._published.append(self._current)
        return self._current.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self._published]}

    @property
    def current(self) -> _Key:
        if self._current is None:
            raise RuntimeError("TeamsSandbox.start() must run before tokens are signed")
        return self._current

    def sign(self, claims: dict[str, Any], signing: str = "connector") -> str:
        """A JWT over `claims`: with the Connector's key, the key not endorsed for msteams
        ("other-channels"), a key nobody published under the Connector key's kid ("forged"), or
        under a new kid ("unknown-kid")."""
        if signing not in SIGNINGS:
            raise ValueError(f"signing must be one of {SIGNINGS}, not {signing!r}")
        key, kid = self.current.private, self.current.kid
        if signing == "other-channels" and self._other is not None:
            key, kid = self._other.private, self._other.kid
        elif signing in ("forged", "unknown-kid"):
            if self._forged is None:  # only tests forge, so the key is made on first use
                self._forged = _new_key()
            key = self._forged
            kid = kid if signing == "forged" else _kid()
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "x5t": kid})


def connector_claims(app_id: str, service_url: str, now: float | None = None) -> dict[str, Any]:
    """The claims the Bot Connector puts in a token for a delivery to the bot (§A.2)."""
    now = time.time() if now is None else now
    return {
        "serviceurl": service_url,
        "nbf": int(now) - 5,
        "exp": int(now) + TOKEN_LIFETIME,
        "iss": ISSUER,
        "aud": app_id,
    }
