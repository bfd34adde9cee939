"""Pages of the Hub: Jinja2 templates, security headers, flash notes and the error page.

Every Hub response goes through `hub_view`, so each one carries the same headers (no framing,
no inline script, nothing cached) and any `HubError` becomes a page or JSON answer with a clear
sentence and a 4xx status instead of a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.logs import redact_path
from bot.sync import ICONS, LABELS, Status

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
FLASH_COOKIE = "mio_hub_flash"
COMPRESS_FROM = 16_000  # bytes of HTML; smaller pages are not worth the CPU
SECURITY_HEADERS = {
    # Scripts and styles only from our own files: an injected <script> or style= never runs.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HubError(Exception):
    """A request the Hub cannot serve, with the status and the sentence the admin sees."""

    def __init__(self, status: int, sentence: str, title: str = "") -> None:
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence
        self.title = title or _TITLES.get(status, "Cannot do that")


_TITLES = {
    400: "Not a valid request",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    409: "Cannot do that now",
    502: "The platform did not answer as expected",
}


def _static_version(name: str) -> str:
    """A content hash in each static URL, so a new release is never served a stale hub.js."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


ENV = Environment(
    loader=PackageLoader("bot.hub", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["when"] = _when
ENV.globals.update(
    icons={s.value: ICONS[s] for s in Status},
    status_labels={s.value: LABELS[s] for s in Status},
    static={n: f"/hub/static/{n}?v={_static_version(n)}" for n in ("hub.css", "hub.js")},
)


def wants_json(request: web.Request) -> bool:
    """The Hub's script asks for JSON; a plain form post (no script) gets a page."""
    return "application/json" in request.headers.get("Accept", "")


def secure_headers(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A full page; a flash note left by the previous redirect is shown once."""
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:500]
    html = ENV.get_template(template).render(request_path=request.path, flash=flash, **context)
    response = web.Response(text=html, content_type="text/html", status=status)
    if len(html) > COMPRESS_FROM:
        response.enable_compression()  # a 50-row table is ~100 kB of HTML, ~8 kB gzipped
    if flash:
        response.del_cookie(FLASH_COOKIE, path="/hub")
    return response


def fragment(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def redirect(location: str, flash: str = "") -> web.Response:
    """303 after a form post (no resubmit on reload), carrying one sentence to the next page."""
    response = web.Response(status=303, headers={"Location": location})
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash[:500]), path="/hub", httponly=True, samesite="Lax"
        )
    return response


def answer(request: web.Request, sentence: str, back: str, *, ok: bool = True) -> web.Response:
    """The outcome of an action: JSON for the script, else back to the page with a note."""
    if wants_json(request):
        return web.json_response({"ok": ok, "sentence": sentence})
    return redirect(back, sentence)


def error_response(request: web.Request, error: HubError) -> web.Response:
    if wants_json(request) or request.path.startswith("/hub/api/"):
        return web.json_response(
            {"ok": False, "title": error.title, "sentence": error.sentence}, status=error.status
        )
    return render(
        request, "message.html", status=error.status, title=error.title, sentence=error.sentence
    )


def hub_view(handler: Handler) -> Handler:
    """Headers on every answer; HubError → its 4xx page; a bug → a reference, not a trace."""

    @wraps(handler)
    async def view(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except HubError as error:
            response = error_response(request, error)
        except web.HTTPException:
            raise
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception(
                "Hub request %s %s failed (ref: %s)", request.method, redact_path(request.path), ref
            )
            response = error_response(
                request, HubError(500, f"Something went wrong (ref: {ref}).", "Something broke")
            )
        return secure_headers(response)

    return view


def int_param(raw: str | None, name: str) -> int | None:
    """A positive whole number from the query or form; a bad one is the sender's mistake."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise HubError(400, f"“{raw[:40]}” is not a valid {name}: use a whole number.")
    return int(raw)
