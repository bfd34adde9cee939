"""Platform adapters. `ADAPTERS` (adapters/registry.py) is loaded on first use, so that what
needs only the names (`adapters.catalog`, for `mio --help`) does not import every SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.registry import ADAPTERS as ADAPTERS


def __getattr__(name: str) -> Any:
    if name == "ADAPTERS":
        from adapters.registry import ADAPTERS

        return ADAPTERS
    raise AttributeError(f"module 'adapters' has no attribute {name!r}")
