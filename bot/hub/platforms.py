"""Connect Platforms: what each platform's connection looks like right now, and directory imports.

An import runs as an outbox row, so the page answers at once and the import outlives a crash
(any process's worker runs it). Its guard and progress live in the database (store/imports.py),
shared with chat and the CLI: the page of any process shows an import another process runs,
and refuses a second one while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from adapters import ADAPTERS
from bot import connect, outbox
from bot.core import Core
from bot.directory import ImportBusy, begin_import
from bot.hub.auth import Admin, admin_view
from bot.hub.render import HubError, redirect, render, wants_json
from bot.platform_names import PlatformNameError, resolve_platform
from bot.types import PlatformError
from bot.web import CORE
from store.hub_queries import last_events
from store.imports import FAILED, RUNNING, ImportRuns
from store.models import Connection, ImportRun
from store.repositories import Connections

CHECK_TIMEOUT = 5.0  # seconds: a platform slower than this is reported as not answering


def run_json(core: Core, run: ImportRun) -> dict[str, object]:
    """One import as the page and its poller see it, from the shared row."""
    running = run.state == RUNNING
    return {
        "platform": run.platform,
        "running": running,
        "count": run.seen,
        "done": not running,
        "ok": run.state != FAILED,  # nothing went wrong (yet): the page keeps polling
        "started_by": run.started_by,
        "started_at": run.started_at.isoformat(),
        "sentence": run.sentence
        or f"Importing {core.label(run.platform)}: {run.seen} account(s) so far…",
    }


async def start(core: Core, platform: str, actor: str) -> dict[str, object]:
    """Take the shared guard now (so a second import is refused in this answer), then run."""
    try:
        ticket = await begin_import(core, platform, actor)
    except ImportBusy as exc:
        raise HubError(409, exc.sentence) from None
    async with core.transaction() as session:  # run by any process's outbox worker
        await outbox.run_import(session, core, platform, ticket.run_id, actor)
    return await current(core, platform) or {}


async def current(core: Core, platform: str) -> dict[str, object] | None:
    async with core.sessions() as session:
        run = await ImportRuns(session).get(platform)
    return run_json(core, run) if run is not None else None


@dataclass(frozen=True)
class Check:
    ok: bool
    sentence: str


async def check(core: Core, platform: str) -> Check:
    """Credentials work right now: the adapter names its workspace, which needs every token."""
    label = core.label(platform)
    try:
        _, name = await asyncio.wait_for(core.platforms[platform].workspace(), CHECK_TIMEOUT)
    except PlatformError as exc:
        return Check(False, f"{label} refused the credentials ({exc.reason}).")
    except TimeoutError:
        return Check(False, f"{label} did not answer within {CHECK_TIMEOUT:.0f} seconds.")
    except Exception:  # one broken platform must not take the whole page down
        ref = uuid.uuid4().hex[:8]
        logging.getLogger(__name__).exception("checking %s failed (ref: %s)", label, ref)
        return Check(False, f"The check failed unexpectedly (ref: {ref}).")
    return Check(True, f"Credentials work: connected to {name}.")


@admin_view
async def platforms_page(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    names = list(core.platforms)
    checks = await asyncio.gather(*(check(core, n) for n in names))
    async with core.sessions() as session:
        rows = await Connections(session).all()
        events = await last_events(session)
        runs = await ImportRuns(session).all()
    cards = [
        _card(core, name, result, rows.get(name), events.get(name), runs.get(name))
        for name, result in zip(names, checks, strict=True)
    ]
    missing = [cls.label for key, cls in ADAPTERS.items() if key not in core.platforms]
    return render(
        request,
        "platforms.html",
        title="Connect Platforms",
        admin=admin,
        cards=cards,
        missing=missing,
        public_url=core.settings.public_url,
    )


@admin_view
async def start_import(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    platform = _platform(core, request)
    run = await start(core, platform, admin.actor)
    if wants_json(request):
        return web.json_response(run, status=202)
    return redirect("/hub/platforms", f"Importing {core.label(platform)}…")


@admin_view
async def import_progress(request: web.Request, _admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    platform = _platform(core, request)
    run = await current(core, platform)
    if run is None:
        raise HubError(404, f"No import of {core.label(platform)} has run yet.")
    return web.json_response(run)


@admin_view
async def authorize(request: web.Request, admin: Admin) -> web.StreamResponse:
    """The admin grant a platform's directory needs (Webex): a single-use link to open."""
    core = request.app[CORE]
    platform = _platform(core, request)
    try:
        url = await connect.start(core, platform, admin.actor)
    except ValueError as exc:
        raise HubError(400, str(exc)) from None
    if wants_json(request):
        return web.json_response({"ok": True, "url": url})
    return render(
        request,
        "authorize.html",
        title=f"Authorize {core.label(platform)}",
        admin=admin,
        label=core.label(platform),
        url=url,
    )


def _card(
    core: Core,
    name: str,
    result: Check,
    row: Connection | None,
    last_event: datetime | None,
    run: ImportRun | None,
) -> dict[str, object]:
    """One platform's card: the live check, the stored connection and the last import."""
    return {
        "name": name,
        "label": core.label(name),
        "check": result,
        "workspace": row.workspace_name if row else "",
        "accounts": row.account_count if row else 0,
        "last_import": row.last_import_at if row else None,
        "last_event": last_event,
        "grant_needed": connect.needs_admin_grant(core, name) is not None,
        "granted": bool(row and row.admin_grant),
        "run": run_json(core, run) if run is not None else None,
    }


def page_routes() -> list[web.RouteDef]:
    return [
        web.get("/hub/platforms", platforms_page),
        web.post("/hub/platforms/{platform}/import", start_import),
        web.get("/hub/platforms/{platform}/import", import_progress),
        web.post("/hub/platforms/{platform}/authorize", authorize),
    ]


def _platform(core: Core, request: web.Request) -> str:
    try:
        return resolve_platform(request.match_info["platform"], ADAPTERS, core.platforms)
    except PlatformNameError as exc:
        raise HubError(404, exc.plain) from None
