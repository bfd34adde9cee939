"""Who may use the Hub: sign-in (platform OAuth or a `mio hub-link`), sessions, CSRF, sign-out.

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

from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.hub.render import Handler, HubError, hub_view, redirect, render
from bot.matching import normalize_email
from bot.types import PlatformError, TokenGrant
from bot.web import CORE
from store.hub_queries import HubSessions, HubTickets
from store.models import Account
from store.repositories import Audit, Directory

log = logging.getLogger(__name__)

SESSION_FOR = timedelta(hours=12)
LINK_FOR = timedelta(minutes=10)
STATE_FOR = timedelta(minutes=10)
STATE_COOKIE = "mio_hub_state"
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


def _secure(core: Core) -> bool:
    return core.settings.public_url.startswith("https://")


def cookie_name(core: Core) -> str:
    """`__Host-` makes browsers refuse the cookie unless Secure, on /, for this host only."""
    return "__Host-mio_hub" if _secure(core) else "mio_hub"


def csrf_token(core: Core, session_token: str) -> str:
    key = core.settings.secret_key.value.encode()
    return hmac.new(key, b"mio-hub-csrf:" + session_token.encode(), sha256).hexdigest()


async def create_link(core: Core, created_by: str) -> str:
    """A one-time sign-in link, valid 10 minutes (what `mio hub-link` and `mio demo` print)."""
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


async def _start_session(
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
        secure=_secure(core),
        httponly=True,
        samesite="Lax",
    )


async def current_admin(request: web.Request) -> Admin | None:
    core = request.app[CORE]
    token = request.cookies.get(cookie_name(core), "")
    if not token or len(token) > 200:
        return None
    async with core.sessions() as session:
        row = await HubSessions(session).get(token_hash(token), core.clock.now())
    if row is None:
        return None
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
async def oauth_start(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    platform = request.match_info["platform"]
    adapter = core.platforms.get(platform)
    if adapter is None:
        raise HubError(
            404, f"Mio is not connected to “{platform[:40]}”, so you cannot sign in with it."
        )
    state = new_token()
    now = core.clock.now()
    async with core.transaction() as session:
        HubTickets(session).add(
            token_hash=token_hash(state),
            kind="oauth",
            platform=platform,
            created_by="",
            created_at=now,
            expires_at=now + STATE_FOR,
            used=False,
        )
    url = adapter.authorize_url(state, redirect_uri(core, platform))
    response = web.Response(status=302, headers={"Location": url})
    # The state is also bound to this browser, so nobody can sign a victim into their session.
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(STATE_FOR.total_seconds()),
        path="/hub/auth",
        secure=_secure(core),
        httponly=True,
        samesite="Lax",
    )
    return response


def redirect_uri(core: Core, platform: str) -> str:
    return f"{core.settings.public_url}/hub/auth/{platform}/callback"


@hub_view
async def oauth_callback(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    platform = request.match_info["platform"]
    adapter = core.platforms.get(platform)
    if adapter is None:
        raise HubError(404, f"Mio is not connected to “{platform[:40]}”.")
    label = core.label(platform)
    q = request.query
    state = q.get("state", "")
    if not state or not hmac.compare_digest(
        state.encode(), request.cookies.get(STATE_COOKIE, "").encode()
    ):
        raise HubError(
            400,
            f"This {label} sign-in did not start in this browser, or took longer than "
            "10 minutes. Start again from the sign-in page.",
        )
    async with core.transaction() as session:
        ticket = await HubTickets(session).take(token_hash(state), "oauth")
    if ticket is None or ticket.platform != platform:
        raise HubError(400, "This sign-in was already used. Start again from the sign-in page.")
    if ticket.expires_at <= core.clock.now():
        raise HubError(400, "This sign-in took longer than 10 minutes. Start again.")
    if q.get("error") or not q.get("code"):
        raise HubError(400, f"{label} did not sign you in ({q.get('error', 'no code')[:80]}).")
    try:
        grant = await adapter.exchange_code(q["code"], redirect_uri(core, platform))
    except PlatformError as exc:
        raise HubError(502, f"{label} refused the sign-in ({exc.reason}). Try again.") from None
    _revoke_later(core, platform, grant)
    async with core.transaction() as session:
        account = await Directory(session).account(platform, grant.identity.user_id)
        actor, name = _who(platform, grant, account)
        allowed = is_admin(core, grant, account)
        if not allowed:
            Audit(session).add(
                core.clock.now(), actor, "hub.sign_in_refused", None, platform=platform
            )
    if not allowed:
        raise HubError(
            403,
            f"You signed in to {label} as {name}, who is not a Mio admin. An admin on "
            f"{label}, or a person whose email is in MIO_ADMINS, can sign in here.",
            "Not a Mio admin",
        )
    response = redirect(HOME, f"Signed in with {label} as {name}.")
    await _start_session(core, response, actor, name, platform)
    response.del_cookie(STATE_COOKIE, path="/hub/auth")
    return response


def is_admin(core: Core, grant: TokenGrant, account: Account | None) -> bool:
    """In MIO_ADMINS by email, or an active admin on that platform's imported directory."""
    emails = {normalize_email(grant.identity.email)}
    if account is not None:
        emails.add(normalize_email(account.email))
    if any(e is not None and e in core.settings.admins for e in emails):
        return True
    return account is not None and account.is_admin and account.is_active and not account.is_bot


def _who(platform: str, grant: TokenGrant, account: Account | None) -> tuple[str, str]:
    email = normalize_email(grant.identity.email) or (
        normalize_email(account.email) if account else None
    )
    actor = email or f"{platform}:{grant.identity.user_id}"
    name = (account.display_name if account else "") or email or grant.identity.user_id
    return actor, name


def _revoke_later(core: Core, platform: str, grant: TokenGrant) -> None:
    """Signing in needs the identity only: give the token back to the platform at once."""

    async def revoke() -> None:
        try:
            await core.platforms[platform].revoke(grant)
        except PlatformError as exc:  # the token expires on its own; nothing else to do
            log.warning("could not revoke the %s sign-in token: %s", platform, exc.reason)

    core.spawn(revoke())


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
    await _start_session(core, response, ticket.created_by, ticket.created_by, "link")
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


def routes() -> list[web.RouteDef]:
    return [
        web.get("/hub/sign-in", sign_in_page),
        web.get("/hub/auth/{platform}", oauth_start),
        web.get("/hub/auth/{platform}/callback", oauth_callback),
        web.get("/hub/link/{token}", link_page),
        web.post("/hub/link/{token}", link_sign_in),
        web.post("/hub/sign-out", sign_out),
    ]
