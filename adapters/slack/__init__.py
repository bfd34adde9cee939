"""Slack adapter: Bolt (AsyncApp) for inbound webhooks, slack_sdk's AsyncWebClient for calls."""

from adapters.slack.adapter import SlackPlatform

__all__ = ["SlackPlatform"]
