"""Tokens at rest are Fernet-encrypted; consent and confirm tokens are stored only as hashes."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class Vault:
    """Encrypts JSON values with the key from MIO_SECRET_KEY."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with MIO_SECRET_KEY") from None
        if not isinstance(data, dict):
            raise ValueError("stored secret is not an object")
        return data


def new_token() -> str:
    """A URL-safe single-use token for buttons and OAuth state."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
