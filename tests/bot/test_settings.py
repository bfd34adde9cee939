"""Settings come from an injected mapping; bad values stop the start with the fix named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.settings import ConfigError, Settings

KEY = Fernet.generate_key().decode()


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"MIO_SECRET_KEY": KEY}, cwd=tmp_path)
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'mio.db'}"
    assert s.required_platform == "zoom"
    assert s.reminder_after == (timedelta(days=1), timedelta(days=3))
    assert s.pending_expires_after == timedelta(days=7)
    assert s.port == 3978 and s.public_url == "http://127.0.0.1:3978"
    assert KEY not in repr(s)  # the key never reaches logs


@pytest.mark.parametrize("key", ["", "change-me", "placeholder"])
def test_missing_or_placeholder_key_is_a_startup_error_naming_the_fix(
    key: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"MIO_SECRET_KEY.*Fernet\.generate_key"):
        Settings.from_env({"MIO_SECRET_KEY": key}, cwd=tmp_path)


def test_demo_makes_up_a_key(tmp_path: Path) -> None:
    assert Settings.from_env({}, cwd=tmp_path, demo=True).secret_key.value


def test_malformed_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid key"):
        Settings.from_env({"MIO_SECRET_KEY": "short"}, cwd=tmp_path)


def test_required_platform_can_be_turned_off(tmp_path: Path) -> None:
    s = Settings.from_env({"MIO_SECRET_KEY": KEY, "MIO_REQUIRED_PLATFORM": ""}, cwd=tmp_path)
    assert s.required_platform is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"MIO_REMINDER_AFTER": "1d,soon"}, "MIO_REMINDER_AFTER"),
        ({"MIO_REMINDER_AFTER": "3d,1d"}, "MIO_REMINDER_AFTER"),
        ({"MIO_REMINDER_AFTER": "8d"}, "MIO_REMINDER_AFTER"),
        ({"MIO_PENDING_EXPIRES_AFTER": "forever"}, "MIO_PENDING_EXPIRES_AFTER"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({"MIO_SECRET_KEY": KEY, **env}, cwd=tmp_path)


def test_admins_are_normalised(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"MIO_SECRET_KEY": KEY, "MIO_ADMINS": " Ada@Acme.test, ,bob@x.io "}, cwd=tmp_path
    )
    assert s.admins == frozenset({"ada@acme.test", "bob@x.io"})
