"""Connect Platforms: what each platform's connection looks like right now, and directory imports.

An import runs as a background task (`core.spawn`) so the page answers at once; its progress
lives in this process and is polled by the page. The outcome (account count, last import) is
written to the database by the import itself, so every process shows it once it is done.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from adapters import ADAPTERS
from bot import connect
from bot.core import Core
from bot.directory import import_platform
from bot.hub.auth import Admin, admin_view
from bot.hub.render import HubError, redirect, render, wants_json
from bot.platform_names import PlatformNameError, resolve_platform
from bot.types import PlatformError
from bot.web import CORE
from store.hub_queries import last_events
from store.repositories import Connections

CHECK_TIMEOUT = 5.0  # seconds: a platform slower than this is reported as not answering


@dataclass
class ImportRun:
    """One directory import started from the Hub."""

    platform: str
    actor: str
    started_at: datetime
    count: int = 0
    done: bool = False
    ok: bool = True
    sentence: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "running": not self.done,
            "count": self.count,
            "done": self.done,
            "ok": self.ok,
            "sentence": self.sentence or f"Imported {self.count} account(s) so far…",
        }


@dataclass
class Imports:
    """The imports this process runs: at most one at a time per platform."""

    runs: dict[str, ImportRun] = field(default_factory=dict)

    def start(self, core: Core, platform: str, actor: str) -> ImportRun:
        current = self.runs.get(platform)
        if current is not None and not current.done:
            raise HubError(409, f"{core.label(platform)} is already being imported.")
        run = ImportRun(platform, actor, core.clock.now())
        self.runs[platform] = run
        core.spawn(self._work(core, run))
        return run

    @staticmethod
    async def _work(core: Core, run: ImportRun) -> None:
        label = core.label(run.platform)

        def progress(n: int) -> None:
            run.count = n

        try:
            result = await import_platform(core, run.platform, run.actor, progress)
            run.sentence = result.sentence(label)
        except PlatformError as exc:
            run.ok, run.sentence = False, f"{label} refused the import ({exc.reason})."
        except Exception:
            ref = uuid.uuid4().hex[:8]
            logging.getLogger(__name__).exception("Hub import of %s failed (ref: %s)", label, ref)
            run.ok, run.sentence = False, f"The import failed. Something went wrong (ref: {ref})."
        finally:
            run.done = True


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


def page_routes(imports: Imports) -> list[web.RouteDef]:
    @admin_view
    async def platforms_page(request: web.Request, admin: Admin) -> web.StreamResponse:
        core = request.app[CORE]
        names = list(core.platforms)
        checks = await asyncio.gather(*(check(core, n) for n in names))
        async with core.sessions() as session:
            rows = await Connections(session).all()
            events = await last_events(session)
        cards = []
        for name, result in zip(names, checks, strict=True):
            row = rows.get(name)
            grant_needed = connect.needs_admin_grant(core, name) is not None
            run = imports.runs.get(name)
            cards.append(
                {
                    "name": name,
                    "label": core.label(name),
                    "check": result,
                    "workspace": row.workspace_name if row else "",
                    "accounts": row.account_count if row else 0,
                    "last_import": row.last_import_at if row else None,
                    "last_event": events.get(name),
                    "grant_needed": grant_needed,
                    "granted": bool(row and row.admin_grant),
                    "run": run.as_json() if run is not None else None,
                }
            )
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
        run = imports.start(core, platform, admin.actor)
        if wants_json(request):
            return web.json_response(run.as_json(), status=202)
        return redirect("/hub/platforms", f"Importing {core.label(platform)}…")

    @admin_view
    async def import_progress(request: web.Request, admin: Admin) -> web.StreamResponse:
        core = request.app[CORE]
        platform = _platform(core, request)
        run = imports.runs.get(platform)
        if run is None:
            raise HubError(404, f"No import of {core.label(platform)} ran in this process yet.")
        return web.json_response(run.as_json())

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
