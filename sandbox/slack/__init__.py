"""Slack stand-in (see `service.py`); `from sandbox.slack import SlackSandbox`."""

from __future__ import annotations

from sandbox.slack.payloads import SandboxMessage
from sandbox.slack.service import SlackSandbox

__all__ = ["SandboxMessage", "SlackSandbox"]
