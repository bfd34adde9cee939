"""The audit log page: every admin action and status change, newest first, paged by id."""

from __future__ import annotations

import json

from aiohttp import web

from bot.hub.auth import Admin, admin_view
from bot.hub.render import int_param, render
from bot.web import CORE
from store.hub_queries import audit_page

PAGE = 50


def _detail(detail: dict[str, object]) -> str:
    """The entry's details as `key: value` pairs, in the order they were written."""
    return ", ".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
        for k, v in detail.items()
        if v not in (None, "")
    )


@admin_view
async def audit_view(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    older = int_param(request.query.get("older"), "page")
    newer = int_param(request.query.get("newer"), "page")
    async with core.sessions() as session:
        page = await audit_page(session, older_than=older, newer_than=newer, limit=PAGE)
    entries = [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "person": page.names.get(e.person_id, f"person {e.person_id}")
            if e.person_id is not None
            else "",
            "detail": _detail(dict(e.detail or {})),
        }
        for e in page.entries
    ]
    return render(
        request,
        "audit.html",
        title="Audit log",
        admin=admin,
        entries=entries,
        older_link=f"/hub/audit?older={page.entries[-1].id}"
        if page.has_older and page.entries
        else "",
        newer_link=f"/hub/audit?newer={page.entries[0].id}"
        if page.has_newer and page.entries
        else "",
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/hub/audit", audit_view)]
