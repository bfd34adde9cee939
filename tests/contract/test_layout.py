"""Every adapter package is laid out alike, so a reader finds the same part in the same file."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters import ADAPTERS
from bot.types import Platform

ADAPTERS_DIR = Path(__file__).parents[2] / "adapters"
# adapter.py: the ChatPlatform class; inbound.py: verify and translate deliveries; client.py: its
# HTTP client; errors.py: failures as RetryLater / PermanentFailure; render.py: a Message in the
# platform's format; directory.py: its people as DirectoryUsers.
EVERY_PACKAGE = frozenset(
    {
        "__init__.py",
        "adapter.py",
        "inbound.py",
        "client.py",
        "errors.py",
        "render.py",
        "directory.py",
    }
)


@pytest.mark.parametrize("platform", sorted(ADAPTERS))
def test_each_adapter_package_has_the_same_files(platform: str) -> None:
    package = ADAPTERS_DIR / platform
    files = {p.name for p in package.glob("*.py")}
    assert EVERY_PACKAGE <= files, f"adapters/{platform} lacks {sorted(EVERY_PACKAGE - files)}"
    cls = ADAPTERS[Platform(platform)]
    assert cls.__module__ == f"adapters.{platform}.adapter"


def test_every_adapter_package_is_registered() -> None:
    packages = {p.parent.name for p in ADAPTERS_DIR.glob("*/__init__.py")}
    assert packages == set(ADAPTERS)
