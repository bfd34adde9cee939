"""Zoom stand-in (see `service.py`); `from sandbox.zoom import ZoomSandbox`."""

from __future__ import annotations

from sandbox.zoom.model import SandboxMessage, SandboxUser
from sandbox.zoom.service import ZoomSandbox

__all__ = ["SandboxMessage", "SandboxUser", "ZoomSandbox"]
