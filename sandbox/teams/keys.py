"""The stand-in's Bot Framework signing keys: a JWKS to publish and JWTs signed with it.

Like login.botframework.com, every published key carries `endorsements` naming the channels it
may sign for; the stand-in publishes one for `msteams` and one endorsed only for `webchat`, and
can forge (a key nobody published) or rotate (a new published key) so tests reach every branch
of the bot's validator (platform-apis.md §A.2, §I.1).
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
MSTEAMS_ENDORSEMENTS = ("msteams", "skype", "webchat", "emulator")
WEBCHAT_ENDORSEMENTS = ("webchat", "directline")
TOKEN_LIFETIME = 3600
# How `make_token(signing=…)` may sign.
SIGNINGS = ("msteams", "webchat", "forged", "unknown-kid")


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
        self._webchat: _Key | None = None
        self._forged: rsa.RSAPrivateKey | None = None

    async def generate(self) -> None:
        teams, webchat = await asyncio.gather(
            asyncio.to_thread(_new_key), asyncio.to_thread(_new_key)
        )
        self._current = _Key(_kid(), teams, MSTEAMS_ENDORSEMENTS)
        self._webchat = _Key(_kid(), webchat, WEBCHAT_ENDORSEMENTS)
        self._published = [self._current, self._webchat]

    async def rotate(self) -> str:
        """Publish a new msteams key and sign with it from now on; returns its kid."""
        self._current = _Key(_kid(), await asyncio.to_thread(_new_key), MSTEAMS_ENDORSEMENTS)
        self._published.append(self._current)
        return self._current.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self._published]}

    @property
    def current(self) -> _Key:
        if self._current is None:
            raise RuntimeError("TeamsSandbox.start() must run before tokens are signed")
        return self._current

    def sign(self, claims: dict[str, Any], signing: str = "msteams") -> str:
        """A JWT over `claims`: with the msteams key, the webchat-only key, a key nobody
        published under the msteams key's kid ("forged"), or under a new kid ("unknown-kid")."""
        if signing not in SIGNINGS:
            raise ValueError(f"signing must be one of {SIGNINGS}, not {signing!r}")
        key, kid = self.current.private, self.current.kid
        if signing == "webchat" and self._webchat is not None:
            key, kid = self._webchat.private, self._webchat.kid
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
