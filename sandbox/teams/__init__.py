"""Teams stand-in (see `service.py`); `from sandbox.teams import TeamsSandbox`."""

from __future__ import annotations

from sandbox.teams.service import TeamsSandbox
from sandbox.teams.state import ChatActivity

__all__ = ["ChatActivity", "TeamsSandbox"]
