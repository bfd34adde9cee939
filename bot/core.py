"""The objects every service needs, built once by the app factory or the CLI."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.crypto import Vault
from bot.platform import ChatPlatform, RateGate, RelayPlatform, UsesRateGate
from bot.rate_gate import DatabaseRateGate
from bot.settings import Settings
from bot.sync import OrgFacts


@dataclass
class Core:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    platforms: Mapping[str, ChatPlatform]
    vault: Vault
    clock: Clock
    # Set when an outbox row is queued, so the worker in this process wakes at once.
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a pending sync gets a due time, so the reminder loop recomputes when to wake.
    reminders_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Each platform's pace and 429 pauses, shared with every other process through the database.
    rate_gate: RateGate = field(init=False)

    def __post_init__(self) -> None:
        self.rate_gate = DatabaseRateGate(self.sessions)
        relay_key = hashlib.sha256(b"mio-relay:" + self.settings.secret_key.value.encode()).digest()
        for adapter in self.platforms.values():
            if isinstance(adapter, UsesRateGate):
                adapter.use_rate_gate(self.rate_gate)
            if isinstance(adapter, RelayPlatform):
                adapter.use_relay_key(relay_key)

    def label(self, platform: str) -> str:
        adapter = self.platforms.get(platform)
        return adapter.label if adapter is not None else platform.title()

    def redirect_uri(self, platform: str) -> str:
        return f"{self.settings.public_url}/oauth/{platform}/callback"

    def org_facts(self) -> OrgFacts:
        return OrgFacts(
            connected=frozenset(self.platforms), required_platform=self.settings.required_platform
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: everything in it commits together or not at all."""
        async with self.sessions() as session, session.begin():
            yield session
