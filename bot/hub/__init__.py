"""The web Hub: admins manage User Sync in a browser (`/hub`), as the product guide shows it.

Mounted by `bot.app.create_app` with one call, `app.add_routes(hub.routes())`. Pages are
Jinja2 templates with one small script (`static/hub.js`) and no front-end build step; every
action goes through the same lifecycle services as the chat commands and the CLI.
"""

from __future__ import annotations

from aiohttp import web

from bot.hub import audit, auth, oauth_sign_in, people, platforms
from bot.hub.auth import create_link
from bot.hub.render import STATIC_DIR, hub_view, redirect


@hub_view
async def home(request: web.Request) -> web.StreamResponse:
    signed_in = await auth.current_admin(request) is not None
    return redirect(auth.HOME if signed_in else "/hub/sign-in")


def routes() -> list[web.AbstractRouteDef]:
    """Every Hub route; each call has its own import tracker (one per app)."""
    return [
        web.get("/hub", home),
        web.get("/hub/", home),
        *auth.routes(),
        *oauth_sign_in.routes(),
        *people.routes(),
        *platforms.page_routes(),
        *audit.routes(),
        web.static("/hub/static", STATIC_DIR, append_version=False),
    ]


__all__ = ["create_link", "routes"]
