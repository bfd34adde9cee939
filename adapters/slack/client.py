"""Slack's calls on the process's one aiohttp session (`adapters.http`).

slack_sdk's AsyncWebClient opens a session per call unless it is handed one, so it gets the
`Http` session at `start()`; the `response_url` answers, which are plain JSON POSTs with no
token, go through the same session and the same error mapping as every other adapter's calls.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.http import Http
from adapters.slack.errors import to_platform_error

RESPONSE_OK = tuple(range(200, 300))


class SlackClient(Http):
    """The Web API client for the bot token, and the session under it."""

    def __init__(self, bot_token: str, api_url: str) -> None:
        super().__init__("Slack", to_platform_error)
        self.web = AsyncWebClient(token=bot_token, base_url=api_url)
        # The relay's client: no retry handlers, because slack_sdk's default one re-sends a
        # request whose connection dropped, and a re-sent chat.postMessage posts twice (no
        # Slack method takes an idempotency key: relay-apis §7 surprise 22). The relay looks
        # for the post instead (`find_post`).
        self.relay = AsyncWebClient(token=bot_token, base_url=api_url, retry_handlers=[])

    async def start(self) -> None:
        await super().start()
        self.web.session = self.relay.session = self.session

    async def close(self) -> None:
        self.web.session = self.relay.session = None
        await super().close()

    async def respond(self, response_url: str, body: dict[str, Any]) -> None:
        """Answer through a `response_url` (§D.1): any 2xx is taken, anything else is mapped."""
        await self.expect("POST", response_url, json=body, ok=RESPONSE_OK)
