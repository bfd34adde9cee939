"""Starts every platform stand-in on loopback and hands out the settings that point at them."""

from __future__ import annotations

from sandbox.base import FakeService
from sandbox.org import Org
from sandbox.registry import SANDBOXES


class Sandbox:
    """All stand-ins together, serving one seeded organisation."""

    def __init__(self, org: Org, platforms: list[str] | None = None) -> None:
        self.org = org
        names = platforms or list(SANDBOXES)
        self.services: dict[str, FakeService] = {n: SANDBOXES[n](org) for n in names}

    async def start(self) -> None:
        for service in self.services.values():
            await service.start()

    async def stop(self) -> None:
        for service in self.services.values():
            await service.stop()

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for service in self.services.values():
            merged.update(service.env())
        return merged

    def point_at(self, bot_url: str) -> None:
        """Where signed webhooks go: the bot's public URL."""
        for service in self.services.values():
            service.bot_url = bot_url
