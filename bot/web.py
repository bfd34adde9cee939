"""Small HTTP endpoints of the core: OAuth callbacks, health and metrics."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from jinja2 import Environment, select_autoescape
from sqlalchemy import text

from bot import connect
from bot.consent import oauth_callback
from bot.core import Core
from bot.relay import metrics as relay_metrics
from bot.settings import Secret
from bot.types import PlatformError
from store.repositories import Outbox, Syncs

log = logging.getLogger(__name__)

CORE: web.AppKey[Core] = web.AppKey("core", Core)

_PAGE = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Mio User Sync</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;
color:#1d1c1d}h1{font-size:1.4rem}.ok{color:#007a5a}.bad{color:#b42318}</style></head>
<body><main><h1 class="{{ 'ok' if ok else 'bad' }}">{{ title }}</h1><p>{{ sentence }}</p></main>
</body></html>""")


async def oauth_callback_view(request: web.Request) -> web.Response:
    core = request.app[CORE]
    q = request.query
    result = await oauth_callback(
        core, request.match_info["platform"], q.get("code"), q.get("state"), q.get("error")
    )
    html = _PAGE.render(title=result.title, sentence=result.sentence, ok=result.ok)
    return web.Response(text=html, content_type="text/html", status=result.status)


async def admin_callback_view(request: web.Request) -> web.Response:
    core = request.app[CORE]
    q = request.query
    platform = request.match_info["platform"]
    try:
        ok, sentence = await connect.finish(
            core, platform, q.get("code"), q.get("state"), q.get("error")
        )
    except PlatformError as exc:
        ok, sentence = False, f"{core.label(platform)} refused the authorization ({exc.reason})."
    title = f"{core.label(platform)} connected" if ok else "Not connected"
    html = _PAGE.render(title=title, sentence=sentence, ok=ok)
    return web.Response(text=html, content_type="text/html", status=200 if ok else 400)


async def healthz(request: web.Request) -> web.Response:
    """Public (load balancers call it), so the driver's error text, which names hosts, users
    and databases, goes to the log only."""
    core = request.app[CORE]
    try:
        async with core.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health check: database unavailable: %s: %s", type(exc).__name__, exc)
        return web.json_response({"status": "error", "database": "unavailable"}, status=503)
    return web.json_response({"status": "ok", "platforms": sorted(core.platforms)})


def metrics_allowed(request: web.Request, token: Secret | None) -> bool:
    """No token configured: open (bind it privately); else `Authorization: Bearer <token>`."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = token.value.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: what an operator alerts on (stuck outbox, failures, the relay)."""
    core = request.app[CORE]
    if not metrics_allowed(request, core.settings.metrics_token):
        return web.Response(
            status=401,
            text="Send the MIO_METRICS_TOKEN as Authorization: Bearer <token>.\n",
            headers={"WWW-Authenticate": 'Bearer realm="mio-metrics"'},
        )
    async with core.sessions() as session:
        pending = await Outbox(session).pending_count()
        counts = await Syncs(session).counts()
        relay = await relay_metrics.lines(session, core.clock.now())
    lines = [
        "# HELP mio_outbox_pending Platform calls waiting to be delivered.",
        "# TYPE mio_outbox_pending gauge",
        f"mio_outbox_pending {pending}",
        "# HELP mio_syncs Syncs by platform and status.",
        "# TYPE mio_syncs gauge",
    ]
    lines += [
        f'mio_syncs{{platform="{p}",status="{s}"}} {n}' for (p, s), n in sorted(counts.items())
    ]
    lines += relay
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/oauth/{platform}/callback", oauth_callback_view),
        web.get("/oauth/{platform}/admin-callback", admin_callback_view),
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
    ]
