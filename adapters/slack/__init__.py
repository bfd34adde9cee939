"""Slack adapter: Bolt (AsyncApp) for inbound webhooks, slack_sdk's AsyncWebClient for calls."""

from __future__ import annotations

from adapters.slack.blocks import render_blocks
from adapters.slack.errors import to_platform_error
from adapters.slack.platform import SlackPlatform

__all__ = ["SlackPlatform", "render_blocks", "to_platform_error"]
