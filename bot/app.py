"""The aiohttp application factory: one process serves every platform's webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters import ADAPTERS
from bot import hub, reminders
from bot.clock import Clock, SystemClock
from bot.connect import load_admin_grants
from bot.core import Core
from bot.crypto import Vault
from bot.delivery import Worker
from bot.edge import make_handler
from bot.logs import quiet_libraries
from bot.platform import ChatPlatform
from bot.settings import Settings
from bot.types import DELIVERY_MEMORY
from bot.web import CORE, routes
from store.db import make_engine, make_sessionmaker, require_current_schema
from store.hub_queries import prune_expired
from store.repositories import Events

log = logging.getLogger(__name__)

WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)
EVENT_MEMORY = DELIVERY_MEMORY


def connect_platforms(env: Mapping[str, str]) -> dict[str, ChatPlatform]:
    """Every adapter whose credentials are configured; the rest are simply not connected."""
    found: dict[str, ChatPlatform] = {}
    for name, cls in ADAPTERS.items():
        adapter = cls.from_env(env)
        if adapter is not None:
            found[name] = adapter
    return found


def build_core(settings: Settings, clock: Clock | None = None) -> Core:
    engine = make_engine(settings.database_url)
    return Core(
        settings=settings,
        sessions=make_sessionmaker(engine),
        platforms=connect_platforms(settings.env),
        vault=Vault(settings.secret_key.value),
        clock=clock or SystemClock(),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    background: bool = True,
    tick_seconds: float = 60.0,
) -> web.Application:
    core = build_core(settings, clock)
    quiet_libraries()  # after the adapters imported their SDKs
    app = web.Application(client_max_size=1024 * 1024)
    app[CORE] = core
    app[WORKER] = Worker(core)
    handler = make_handler(core)
    for adapter in core.platforms.values():
        app.add_routes(adapter.routes(handler))
    app.add_routes(routes())
    app.add_routes(hub.routes())

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        engine = core.sessions.kw["bind"]
        await require_current_schema(engine)
        for adapter in core.platforms.values():
            await adapter.start()
        await load_admin_grants(core)
        tasks: list[asyncio.Task[None]] = []
        scheduler = AsyncIOScheduler()
        if background:
            tasks.append(asyncio.create_task(app[WORKER].forever()))
            # Wakes at the earliest due reminder; polls every `tick_seconds` for other processes.
            poll = timedelta(seconds=tick_seconds)
            tasks.append(asyncio.create_task(reminders.forever(core, poll)))
            # The relay's subscriptions: repaired now (mio serve start), then renewed when due.
            tasks.append(asyncio.create_task(reminders.relay_forever(core, poll)))
            scheduler.add_job(_prune, "interval", hours=1, args=[core])
            scheduler.start()
        yield
        if background:
            scheduler.shutdown(wait=False)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for adapter in core.platforms.values():
            await adapter.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _prune(core: Core) -> None:
    async with core.transaction() as session:
        await Events(session).prune(core.clock.now() - EVENT_MEMORY)
        await prune_expired(session, core.clock.now())
