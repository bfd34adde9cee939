"""One typed, read-only Settings, built once from an injected mapping (never os.environ inside)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.sync import ReminderPolicy, parse_duration
from store.dburl import check_database_url

PLACEHOLDER_KEYS = {"", "change-me", "changeme", "secret", "placeholder", "xxx"}


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A value whose repr never shows it, so settings can be logged safely."""

    value: str

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return repr(self)


def _check_fernet_key(raw: str) -> None:
    try:
        ok = len(base64.urlsafe_b64decode(raw.encode())) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            "MIO_SECRET_KEY is not a valid key (32 url-safe base64 bytes). Make one with: "
            'python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        )


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    public_url: str
    secret_key: Secret
    admins: frozenset[str]
    required_platform: str | None
    reminder_after: tuple[timedelta, ...]
    pending_expires_after: timedelta
    port: int
    # Everything else (platform credentials and base URLs) goes to the adapters untouched.
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    # When set, /metrics answers only `Authorization: Bearer <token>` (it reveals counts).
    metrics_token: Secret | None = None
    # The relay tells a sender why a message was not relayed, and prompts the person whose
    # sync is missing, at most once per correspondent in this time (MIO_RELAY_PROMPT_EVERY).
    relay_prompt_every: timedelta = timedelta(days=1)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, cwd: Path | None = None, demo: bool = False
    ) -> Settings:
        """Read and check every core setting; `demo` allows a missing key (one is made up)."""
        env = dict(environ)
        base = cwd or Path.cwd()
        key = env.get("MIO_SECRET_KEY", "").strip()
        if key.lower() in PLACEHOLDER_KEYS:
            if not demo:
                raise ConfigError(
                    "MIO_SECRET_KEY is missing or a placeholder; it encrypts the OAuth tokens "
                    'at rest. Make one with: python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())" and put it in .env'
                )
            from cryptography.fernet import Fernet

            key = Fernet.generate_key().decode()
        _check_fernet_key(key)
        try:
            port = int(env.get("PORT", "3978"))
        except ValueError:
            raise ConfigError(f"PORT must be a number, not {env['PORT']!r}") from None
        try:
            policy = ReminderPolicy.parse(
                env.get("MIO_REMINDER_AFTER", "1d,3d"), env.get("MIO_PENDING_EXPIRES_AFTER", "7d")
            )
        except ValueError as exc:
            raise ConfigError(f"MIO_REMINDER_AFTER / MIO_PENDING_EXPIRES_AFTER: {exc}") from None
        db_url = env.get("MIO_DATABASE_URL", "").strip()
        if not db_url:
            (base / "var").mkdir(parents=True, exist_ok=True)
            db_url = f"sqlite+aiosqlite:///{base / 'var' / 'mio.db'}"
        try:
            check_database_url(db_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        required = env.get("MIO_REQUIRED_PLATFORM", "zoom").strip().lower() or None
        admins = frozenset(
            a.strip().lower() for a in env.get("MIO_ADMINS", "").split(",") if a.strip()
        )
        try:
            prompt_every = parse_duration(env.get("MIO_RELAY_PROMPT_EVERY", "1d"))
        except ValueError as exc:
            raise ConfigError(f"MIO_RELAY_PROMPT_EVERY: {exc}") from None
        metrics = env.get("MIO_METRICS_TOKEN", "").strip()
        public_url = env.get("MIO_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/")
        return cls(
            database_url=db_url,
            public_url=public_url,
            secret_key=Secret(key),
            admins=admins,
            required_platform=required,
            reminder_after=policy.after,
            pending_expires_after=policy.expires_after,
            port=port,
            env=env,
            metrics_token=Secret(metrics) if metrics else None,
            relay_prompt_every=prompt_every,
        )
