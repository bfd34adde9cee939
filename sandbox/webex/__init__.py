"""Webex stand-in (see `service.py`); `from sandbox.webex import WebexSandbox`."""

from __future__ import annotations

from sandbox.webex.model import SandboxMessage
from sandbox.webex.service import WebexSandbox

__all__ = ["SandboxMessage", "WebexSandbox"]
