"""Who may use the Hub: `mio hub-link` sign-in, sessions, CSRF, sign-out (here or everywhere).

Platform sign-in (OAuth) is in `oauth_sign_in.py`; both end in `start_session`. Whether the
session's admin is still an admin is asked again on every request (`current_admin`).

The session cookie is a random id; the database keeps only its hash, so neither a leaked
database nor a leaked log line can be replayed. Every POST must carry a CSRF token derived
from that id with MIO_SECRET_KEY (HMAC), checked here before any handler runs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from hashlib import sha256

from aiohttp import web
from yarl import URL

from bot import admins
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.hub.render import Handler, HubError, hub_view, redirect, render
from bot.web import CORE
from store.hub_queries import HubSessions, HubTickets
from store.repositories import Audit

log = logging.getLogger(__name__)

SESSION_FOR = timedelta(hours=12)
LINK_FOR = timedelta(minutes=10)
STATE_FOR = timedelta(minutes=10)
HOME = "/hub/users"


@dataclass(frozen=True)
class Admin:
    """The signed-in admin of this request."""

    actor: str  # written to the audit log
    name: str
    via: str
    csrf: str
    session_hash: str


AdminHandler = Callable[[web.Request, Admin], Awaitable[web.StreamResponse]]


def cookie_secure(core: Core) -> bool:
    return core.settings.public_url.startswith("https://")


def cookie_name(core: Core) -> str:
    """`__Host-` makes browsers refuse the cookie unless Secure, on /, for this host only."""
    return "__Host-mio_hub" if cookie_secure(core) else "mio_hub"


def csrf_token(core: Core, session_token: str) -> str:
    key = core.settings.secret_key.value.encode()
    return hmac.new(key, b"mio-hub-csrf:" + session_token.encode(), sha256).hexdigest()


class NotAnAdmin(ValueError):
    """A sign-in link was asked for someone the admin rule does not let in."""


async def create_link(core: Core, created_by: str) -> str:
    """A one-time sign-in link, valid 10 minutes (what `mio hub-link` and `mio demo` print).

    `created_by` is who the session will be for: an admin's email, or the operator (`cli`).
    A link for anyone else would only be refused on its first page, so none is issued.
    """
    async with core.sessions() as session:
        if not await admins.actor_is_admin(session, core.settings.admins, created_by):
            raise NotAnAdmin(
                f"{created_by} is not a Mio admin, so no sign-in link was made. Use the email "
                "of someone in MIO_ADMINS or of a platform admin, or leave out --as."
            )
    token = new_token()
    now = core.clock.now()
    async with core.transaction() as session:
        HubTickets(session).add(
            token_hash=token_hash(token),
            kind="link",
            platform="",
            created_by=created_by,
            created_at=now,
            expires_at=now + LINK_FOR,
            used=False,
        )
        Audit(session).add(now, created_by, "hub.link_created", None)
    return f"{core.settings.public_url}/hub/link/{token}"


async def start_session(
    core: Core, response: web.StreamResponse, actor: str, name: str, via: str
) -> None:
    token = new_token()
    now = core.clock.now()
    async with core.transaction() as session:
        await HubSessions(session).prune(now)
        HubSessions(session).add(
            token_hash=token_hash(token),
            actor=actor,
            name=name[:255],
            via=via,
            created_at=now,
            expires_at=now + SESSION_FOR,
        )
        Audit(session).add(now, actor, "hub.signed_in", None, via=via)
    response.set_cookie(
        cookie_name(core),
        token,
        max_age=int(SESSION_FOR.total_seconds()),
        path="/",
        secure=cookie_secure(core),
        httponly=True,
        samesite="Lax",
    )


async def current_admin(request: web.Request) -> Admin | None:
    """The signed-in admin, asked again on every request (bot/admins.py): someone who is no
    longer an admin (removed from MIO_ADMINS, lost the platform role, deactivated) has their
    session ended here, on their next click, and is told so once."""
    core = request.app[CORE]
    token = request.cookies.get(cookie_name(core), "")
    if not token or len(token) > 200:
        return None
    async with core.transaction() as session:
        row = await HubSessions(session).get(token_hash(token), core.clock.now())
        if row is None:
            return None
        still = await admins.actor_is_admin(session, core.settings.admins, row.actor)
        if not still:
            await HubSessions(session).end(row.token_hash)
            Audit(session).add(core.clock.now(), row.actor, "hub.session_ended", None)
    if not still:
        raise HubError(
            403,
            "You are no longer a Mio admin, so your Hub session has ended. "
            "Ask an admin if you think this is wrong.",
            "Not a Mio admin",
        )
    return Admin(row.actor, row.name, row.via, csrf_token(core, token), row.token_hash)


def _same_origin(request: web.Request, core: Core) -> bool:
    """A browser names the page a POST came from; another site's page is refused outright."""
    origin = request.headers.get("Origin")
    if origin is None:  # not sent by every client; the CSRF token still has to match
        return True
    allowed = {str(URL(core.settings.public_url).origin()), str(request.url.origin())}
    return origin in allowed


def admin_view(handler: AdminHandler) -> Handler:
    """Pages need a session (else to the sign-in page); POSTs also a valid CSRF token (else 403)."""

    @hub_view
    @wraps(handler)
    async def view(request: web.Request) -> web.StreamResponse:
        core = request.app[CORE]
        admin = await current_admin(request)
        if request.method == "POST":
            if admin is None:
                raise HubError(403, "Your Hub session has ended. Sign in again, then retry.")
            form = await request.post()
            sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
            if not _same_origin(request, core) or not hmac.compare_digest(
                sent.encode(), admin.csrf.encode()
            ):
                raise HubError(
                    403,
                    "This form is missing its security token or it has expired. "
                    "Reload the page and try again.",
                )
        elif admin is None:
            if request.path.startswith("/hub/api/"):
                raise HubError(401, "Your Hub session has ended. Sign in again.")
            return redirect("/hub/sign-in")
        return await handler(request, admin)

    return view


# -- sign-in pages --------------------------------------------------------------------------
@hub_view
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    if await current_admin(request) is not None:
        return redirect(HOME)
    platforms = [(name, core.label(name)) for name in core.platforms]
    return render(request, "sign_in.html", title="Sign in", platforms=platforms)


@hub_view
async def link_page(request: web.Request) -> web.StreamResponse:
    """The link only shows a button: mail scanners and chat previews that open links
    must not spend it (the POST does)."""
    core = request.app[CORE]
    token = request.match_info["token"]
    async with core.sessions() as session:
        ticket = await HubTickets(session).peek(token_hash(token), "link")
    if ticket is None or ticket.used or ticket.expires_at <= core.clock.now():
        raise _dead_link(ticket is not None and not ticket.used)
    # The token is in this page's URL: Referrer-Policy same-origin keeps it off other sites
    # (no-referrer would make the browser send `Origin: null` with the Sign in POST).
    return render(request, "link.html", title="Sign in to the Hub", token=token)


@hub_view
async def link_sign_in(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    if not _same_origin(request, core):
        raise HubError(403, "Sign-in links must be used from the Hub's own page.")
    token = request.match_info["token"]
    async with core.transaction() as session:
        ticket = await HubTickets(session).take(token_hash(token), "link")
    if ticket is None or ticket.expires_at <= core.clock.now():
        raise _dead_link(expired=ticket is not None)
    response = redirect(HOME, "Signed in with a sign-in link.")
    await start_session(core, response, ticket.created_by, ticket.created_by, "link")
    return response


def _dead_link(expired: bool) -> HubError:
    if expired:
        return HubError(
            403,
            "This sign-in link expired (links work for 10 minutes). "
            "Run `mio hub-link` for a new one.",
            "Link expired",
        )
    return HubError(
        403,
        "This sign-in link was already used or is not valid. Run `mio hub-link` for a new one.",
        "Link not valid",
    )


@admin_view
async def sign_out(request: web.Request, admin: Admin) -> web.StreamResponse:
    core = request.app[CORE]
    async with core.transaction() as session:
        await HubSessions(session).end(admin.session_hash)
        Audit(session).add(core.clock.now(), admin.actor, "hub.signed_out", None)
    response = redirect("/hub/sign-in", "Signed out.")
    response.del_cookie(cookie_name(core), path="/")
    return response


@admin_view
async def sign_out_everywhere(request: web.Request, admin: Admin) -> web.StreamResponse:
    """Every session of this admin ends: a browser left signed in elsewhere, a lost laptop."""
    core = request.app[CORE]
    async with core.transaction() as session:
        ended = await HubSessions(session).end_all(admin.actor)
        Audit(session).add(
            core.clock.now(), admin.actor, "hub.signed_out_everywhere", None, sessions=ended
        )
    response = redirect("/hub/sign-in", f"Signed out everywhere ({ended} session(s) ended).")
    response.del_cookie(cookie_name(core), path="/")
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/hub/sign-in", sign_in_page),
        web.get("/hub/link/{token}", link_page),
        web.post("/hub/link/{token}", link_sign_in),
        web.post("/hub/sign-out", sign_out),
        web.post("/hub/sign-out-everywhere", sign_out_everywhere),
    ]
