"""The registry of platform adapters, written out by hand (no import side effects)."""

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
