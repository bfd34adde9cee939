"""A Core on a real database with the Slack and Zoom stand-ins, for unit tests of the services.

No web app and no worker: tests call `bot.lifecycle`, `bot.consent` and `bot.reminders`
directly and read what they left in the database (sync rows, outbox rows, audit entries). The
adapters are the real ones, talking to the stand-ins on loopback, so an OAuth round trip is a
real one. The directory is imported as `mio import` does it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import select

from bot import lifecycle
from bot.app import build_core
from bot.clock import ManualClock
from bot.core import Core
from bot.directory import import_platform
from bot.settings import Settings
from sandbox.org import Org, load_org
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.zoom import ZoomSandbox
from store.models import AuditEntry, OutboxItem, Sync
from store.repositories import Directory, Syncs

ADMIN = "ada@acme.test"
ACTOR = "slack:U0ADA"


@dataclass
class World:
    core: Core
    clock: ManualClock
    org: Org
    slack: SlackSandbox
    zoom: ZoomSandbox

    async def person_id(self, email: str) -> int:
        async with self.core.sessions() as session:
            (person,) = await Directory(session).find_people(email)
        return person.id

    async def primary(self, email: str, platform: str) -> int:
        """Make `platform` the person's primary, as an admin would; returns the person id."""
        person_id = await self.person_id(email)
        async with self.core.transaction() as session:
            await lifecycle.set_primary(session, self.core, ACTOR, person_id, platform)
        return person_id

    async def request(self, email: str, platform: str) -> str:
        person_id = await self.person_id(email)
        async with self.core.transaction() as session:
            return await lifecycle.request(session, self.core, ACTOR, person_id, platform)

    async def sync(self, email: str, platform: str) -> Sync:
        person_id = await self.person_id(email)
        async with self.core.sessions() as session:
            found = await Syncs(session).get(person_id, platform)
        assert found is not None, f"no {platform} sync for {email}"
        return found

    async def outbox(self) -> list[OutboxItem]:
        async with self.core.sessions() as session:
            return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.core.sessions() as session:
            rows = await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
            return list(rows.all())

    def opened(self, row: OutboxItem) -> dict[str, Any]:
        """The row's sealed part, as the delivery worker opens it."""
        assert row.secret is not None
        return self.core.vault.open(row.secret)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@asynccontextmanager
async def sandboxed_core(db_url: str, **env: str) -> AsyncIterator[World]:
    """Slack and Zoom stand-ins, a Core on `db_url` (migrated) and both directories imported."""
    org = load_org()
    sandbox = Sandbox(org, ["slack", "zoom"])
    await sandbox.start()
    settings = Settings.from_env(
        {
            **sandbox.env(),
            "MIO_DATABASE_URL": db_url,
            "MIO_SECRET_KEY": Fernet.generate_key().decode(),
            "MIO_ADMINS": ADMIN,
            "MIO_PUBLIC_URL": "http://127.0.0.1:9",
            # No platform every synced person must have: each test says which rule it needs.
            "MIO_REQUIRED_PLATFORM": "",
            **env,
        }
    )
    clock = ManualClock()
    core = build_core(settings, clock)
    try:
        for adapter in core.platforms.values():
            await adapter.start()
        for platform in ("slack", "zoom"):
            await import_platform(core, platform, "test")
        slack, zoom = sandbox.services["slack"], sandbox.services["zoom"]
        assert isinstance(slack, SlackSandbox) and isinstance(zoom, ZoomSandbox)
        yield World(core, clock, org, slack, zoom)
    finally:
        for adapter in core.platforms.values():
            await adapter.close()
        await core.sessions.kw["bind"].dispose()
        await sandbox.stop()
