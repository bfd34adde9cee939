"""The registry of platform adapters, written out by hand (no import side effects).

Importing it imports every adapter and its SDK; `adapters/__init__.py` loads it on first use."""

from __future__ import annotations

from adapters.slack import SlackPlatform
from adapters.teams import TeamsPlatform
from adapters.webex import WebexPlatform
from adapters.zoom import ZoomPlatform
from bot.platform import ChatPlatform
from bot.types import Platform

ADAPTERS: dict[Platform, type[ChatPlatform]] = {
    SlackPlatform.name: SlackPlatform,
    ZoomPlatform.name: ZoomPlatform,
    WebexPlatform.name: WebexPlatform,
    TeamsPlatform.name: TeamsPlatform,
}
