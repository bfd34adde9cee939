"""The User Sync page: the table, the live status poll, and the actions on a person.

Actions call the use cases (`bot/usecases/`: users, sync, primary, reset) inside one
`core.transaction()`, exactly as the chat commands and the CLI do; nothing here decides a rule.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from adapters import ADAPTERS
from bot import lifecycle
from bot.core import Core
from bot.hub.auth import Admin, admin_view
from bot.hub.render import ENV, HubError, answer, fragment, int_param, render
from bot.hub.rows import HUB_FIXES, Row, build_rows
from bot.platform_names import PlatformNameError, resolve_platform
from bot.sync import PrimaryRefused, SyncKind, SyncRefused
from bot.usecases import primary, sync, users
from bot.usecases import reset as resetting
from bot.web import CORE
from store.hub_queries import SEARCH_COUNT_CAP, STATUS_FILTERS, PeopleFilter

PAGE_SIZES = (25, 50, 100)
MAX_POLLED_ROWS = 200


@dataclass(frozen=True)
class Query:
    """The User Sync page's query string, checked: a bad value is a 400, never a 500."""

    search: str
    status: str
    platform: str
    after: int | None
    before: int | None
    size: int

    def link(self, **changes: object) -> str:
        values = {
            "q": self.search,
            "status": self.status,
            "platform": self.platform,
            "size": "" if self.size == 50 else str(self.size),
        }
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        kept = {k: v for k, v in values.items() if v}
        return "/hub/users" + (f"?{urlencode(kept)}" if kept else "")


def parse_query(core: Core, request: web.Request) -> Query:
    q = request.query
    search = q.get("q", "").strip()
    if len(search) > 200:
        raise HubError(400, "The search is too long: use at most 200 characters.")
    status = q.get("status", "")
    if status and status not in STATUS_FILTERS:
        raise HubError(400, f"“{status[:40]}” is not a sync status to filter by.")
    platform = q.get("platform", "")
    if platform and platform not in core.platforms:
        raise HubError(400, f"“{platform[:40]}” is not a connected platform.")
    size = int_param(q.get("size"), "page size") or 50
    if size not in PAGE_SIZES:
        raise HubError(400, "The page size must be 25, 50 or 100.")
    return Query(
        search,
        status,
        platform,
        int_param(q.get("after"), "page"),
        int_param(q.get("before"), "page"),
        size,
    )


async def load_rows(
    core: Core, people_ids: list[int] | None, query: Query | None
) -> tuple[list[Row], int, bool, bool]:
    """Rows for a page (or for given ids): people, then their accounts and syncs, 3 queries."""
    async with core.sessions() as session:
        if query is not None:
            flt = PeopleFilter(query.search, query.status, query.platform, tuple(core.platforms))
            page = await users.page(
                session, flt, after=query.after, before=query.before, limit=query.size
            )
        else:
            page = await users.by_ids(session, people_ids or [])
    rows = build_rows(core, page.people, page.accounts, page.syncs)
    return rows, page.total, page.has_next, page.has_previous


@admin_view
async def users_page(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    query = parse_query(core, request)
    rows, total, has_next, has_previous = await load_rows(core, None, query)
    return render(
        request,
        "users.html",
        title="User Sync",
        admin=admin,
        rows=rows,
        total=total,
        query=query,
        next_link=query.link(after=rows[-1].id, before=None) if has_next and rows else "",
        previous_link=query.link(before=rows[0].id, after=None) if has_previous and rows else "",
        platforms=[(p, core.label(p)) for p in core.platforms],
        statuses=STATUS_FILTERS,
        count_cap=SEARCH_COUNT_CAP if query.search else total,
        sizes=PAGE_SIZES,
        back=request.path_qs,
    )


@admin_view
async def rows_api(request: web.Request, admin: Admin) -> web.StreamResponse:
    """The live status poll: the browser sends `id:key` pairs; rows whose key changed come
    back with their new HTML, the rest with the key only."""
    core = request.app[CORE]
    known: dict[int, str] = {}
    for pair in request.query.get("rows", "").split(","):
        if not pair:
            continue
        raw_id, _, key = pair.partition(":")
        pid = int_param(raw_id, "row id")
        if pid is not None:
            known[pid] = key
    if len(known) > MAX_POLLED_ROWS:
        raise HubError(400, f"Ask for at most {MAX_POLLED_ROWS} rows at a time.")
    rows, _, _, _ = await load_rows(core, list(known), None)
    answer_rows = []
    for row in rows:
        item: dict[str, object] = {"id": row.id, "key": row.key, "statuses": row.statuses}
        if known.get(row.id) != row.key:
            item["html"] = row_html(row, admin.csrf)
            item["name"] = row.name
        answer_rows.append(item)
    response = web.json_response({"rows": answer_rows})
    if any("html" in item for item in answer_rows):
        response.enable_compression()
    return response


def row_html(row: Row, csrf: str) -> str:
    """The same macro the page uses, so a redrawn row is the row a reload would show."""
    macro = ENV.get_template("_row.html").module.row  # type: ignore[attr-defined]
    return str(macro(row=row, csrf=csrf))


def _platform(core: Core, request: web.Request) -> str:
    try:
        return resolve_platform(request.match_info["platform"], ADAPTERS, core.platforms)
    except PlatformNameError as exc:
        raise HubError(404, exc.plain) from None


def _person_id(request: web.Request) -> int:
    pid = int_param(request.match_info["person_id"], "person")
    assert pid is not None  # the route only matches digits
    return pid


GONE = "This person no longer exists. Reload the page."


async def _found[T](work: Awaitable[T]) -> T:
    """What `work` loads about a person, or a 404 when they were removed meanwhile."""
    try:
        return await work
    except lifecycle.NotFound:
        raise HubError(404, GONE) from None


@admin_view
async def sync_plan(request: web.Request, admin: Admin) -> web.StreamResponse:
    """What confirming would do: a consent or represented sync, or the rule that refuses it."""
    core = request.app[CORE]
    platform, pid = _platform(core, request), _person_id(request)
    async with core.sessions() as session:
        plan = await _found(sync.plan(session, core, pid, [platform]))
    label = core.label(platform)
    context: dict[str, Any] = {
        "person_id": pid,
        "platform": platform,
        "label": label,
        "name": plan.person.display_name or plan.person.email,
        "csrf": admin.csrf,
        "back": _back(request),
    }
    (item,) = plan.items
    if item.refused is not None:
        context.update(refused=item.refused, hub_fix=HUB_FIXES.get(item.refused.rule, ""))
    else:
        primary_platform = plan.person.primary_platform or ""
        context.update(kind=str(item.kind), primary_label=core.label(primary_platform))
        context["consent"] = item.kind is SyncKind.CONSENT
    if request.query.get("partial") == "1":
        return web.Response(text=fragment("_plan.html", **context), content_type="text/html")
    return render(request, "plan.html", title=f"Sync to {label}", admin=admin, page=True, **context)


def _back(request: web.Request) -> str:
    """Where to return after a form without script: only ever a User Sync page."""
    return _safe_back(request.query.get("back", ""))


@admin_view
async def sync_request(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    platform, pid = _platform(core, request), _person_id(request)
    form = await request.post()
    try:
        async with core.transaction() as session:
            sentence = await sync.request(session, core, admin.actor, pid, platform)
    except SyncRefused as refused:
        raise HubError(
            409, f"{refused.message} {HUB_FIXES.get(refused.rule, refused.fix)}"
        ) from None
    except lifecycle.NotFound:
        raise HubError(404, GONE) from None
    return answer(request, sentence, _safe_back(str(form.get("back", ""))))


def _safe_back(back: str) -> str:
    return back if back.startswith("/hub/users") else "/hub/users"


@admin_view
async def set_primary(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    pid = _person_id(request)
    form = await request.post()
    platform = str(form.get("platform", ""))
    if platform not in core.platforms:
        raise HubError(400, "Choose one of the connected platforms as the primary platform.")
    try:
        async with core.transaction() as session:
            sentence = await primary.set_primary(session, core, admin.actor, pid, platform)
    except PrimaryRefused as refused:
        raise HubError(409, f"{refused.message} {refused.fix}") from None
    except lifecycle.NotFound:
        raise HubError(404, GONE) from None
    return answer(request, sentence, _safe_back(str(form.get("back", ""))))


@admin_view
async def reset_confirm(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    pid = _person_id(request)
    async with core.sessions() as session:
        person, _, syncs = await _found(lifecycle.load(session, pid))
    context: dict[str, Any] = {
        "person_id": pid,
        "name": person.display_name or person.email,
        "sync_count": len(syncs),
        "csrf": admin.csrf,
        "back": _back(request),
    }
    if request.query.get("partial") == "1":
        return web.Response(text=fragment("_reset.html", **context), content_type="text/html")
    return render(request, "reset.html", title="Reset user", admin=admin, page=True, **context)


@admin_view
async def reset(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    pid = _person_id(request)
    form = await request.post()
    try:
        async with core.transaction() as session:
            sentence = await resetting.reset(session, core, admin.actor, pid)
    except lifecycle.NotFound:
        raise HubError(404, GONE) from None
    return answer(request, sentence, _safe_back(str(form.get("back", ""))))


def routes() -> list[web.RouteDef]:
    person = "/hub/people/{person_id:\\d+}"
    return [
        web.get("/hub/users", users_page),
        web.get("/hub/api/rows", rows_api),
        web.get(person + "/sync/{platform}", sync_plan),
        web.post(person + "/sync/{platform}", sync_request),
        web.post(person + "/primary", set_primary),
        web.get(person + "/reset", reset_confirm),
        web.post(person + "/reset", reset),
    ]
