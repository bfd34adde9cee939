"""Signing in to the Hub with a platform account (OAuth), for that platform's admins only.

Nothing is written before the platform has said who is signing in: the OAuth `state` lives in
a cookie signed with MIO_SECRET_KEY (state, platform, expiry), so a flood of unauthenticated
`GET /hub/auth/{platform}` cannot grow the database. The cookie also binds the state to the
browser that started, so nobody can sign a victim into their own session.

The token the sign-in yields proves who signed in and is then dropped. It is given back to the
platform only when no sync relies on that account's consent: on Teams and Webex revoking
removes the person's whole grant to Mio (platform-apis.md §F.2, §F.3), which is the same
consent behind their synced account.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from aiohttp import web

from bot import admins, first_contact, outbox
from bot.core import Core
from bot.crypto import new_token
from bot.hub.auth import HOME, STATE_FOR, cookie_secure, start_session
from bot.hub.render import HubError, hub_view, redirect
from bot.matching import normalize_email
from bot.platform import ChatPlatform
from bot.types import PlatformError, TokenGrant
from bot.web import CORE
from store.hub_queries import grant_backs_sync
from store.models import Account
from store.repositories import Audit

STATE_COOKIE = "mio_hub_state"


def _mac(core: Core, payload: str) -> str:
    key = core.settings.secret_key.value.encode()
    return hmac.new(key, b"mio-hub-state:" + payload.encode(), sha256).hexdigest()


def sealed_state(core: Core, state: str, platform: str, expires: int) -> str:
    payload = f"{state}.{platform}.{expires}"
    return f"{payload}.{_mac(core, payload)}"


def opened_state(core: Core, cookie: str, platform: str, now: float) -> str | None:
    """The state a valid, unexpired cookie of this platform carries; None otherwise."""
    parts = cookie.split(".")
    if len(cookie) > 300 or len(parts) != 4:
        return None
    state, named, expires, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(core, f"{state}.{named}.{expires}").encode()):
        return None
    if named != platform or not expires.isdigit() or int(expires) <= now:
        return None
    return state


def redirect_uri(core: Core, platform: str) -> str:
    return f"{core.settings.public_url}/hub/auth/{platform}/callback"


def _connected(core: Core, platform: str, why: str = "") -> ChatPlatform:
    adapter = core.platforms.get(platform)
    if adapter is None:
        raise HubError(404, f"Mio is not connected to “{platform[:40]}”{why}.")
    return adapter


@hub_view
async def oauth_start(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    platform = request.match_info["platform"]
    adapter = _connected(core, platform, ", so you cannot sign in with it")
    state = new_token()
    expires = int((core.clock.now() + STATE_FOR).timestamp())
    url = adapter.authorize_url(state, redirect_uri(core, platform))
    response = web.Response(status=302, headers={"Location": url})
    response.set_cookie(
        STATE_COOKIE,
        sealed_state(core, state, platform, expires),
        max_age=int(STATE_FOR.total_seconds()),
        path="/hub/auth",
        secure=cookie_secure(core),
        httponly=True,
        samesite="Lax",
    )
    return response


@hub_view
async def oauth_callback(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    platform = request.match_info["platform"]
    adapter = _connected(core, platform)
    label = core.label(platform)
    q = request.query
    cookie = request.cookies.get(STATE_COOKIE, "")
    state = opened_state(core, cookie, platform, core.clock.now().timestamp())
    if state is None or not hmac.compare_digest(q.get("state", "").encode(), state.encode()):
        raise HubError(
            400,
            f"This {label} sign-in did not start in this browser, was already used, or took "
            "longer than 10 minutes. Start again from the sign-in page.",
        )
    if q.get("error") or not q.get("code"):
        raise HubError(400, f"{label} did not sign you in ({q.get('error', 'no code')[:80]}).")
    try:
        grant = await adapter.exchange_code(q["code"], redirect_uri(core, platform))
    except PlatformError as exc:
        raise HubError(502, f"{label} refused the sign-in ({exc.reason}). Try again.") from None
    try:
        actor, name, allowed, keep = await _decide(core, platform, grant)
    except first_contact.CannotCheck as exc:
        raise HubError(502, exc.sentence) from None
    if not keep:
        await _revoke_later(core, platform, grant)
    if not allowed:
        raise HubError(
            403,
            f"You signed in to {label} as {name}, who is not a Mio admin. An admin on "
            f"{label}, or a person whose email is in MIO_ADMINS, can sign in here.",
            "Not a Mio admin",
        )
    response = redirect(HOME, f"Signed in with {label} as {name}.")
    await start_session(core, response, actor, name, platform)
    response.del_cookie(STATE_COOKIE, path="/hub/auth")  # one use per browser
    return response


async def _decide(core: Core, platform: str, grant: TokenGrant) -> tuple[str, str, bool, bool]:
    """(actor, name, is an admin, a sync relies on this account's grant), the account looked
    up on the platform first if Mio never imported it."""
    user_id = grant.identity.user_id
    async with core.transaction() as session:
        account = await first_contact.known_account(session, core, platform, user_id)
        actor, name = _who(platform, grant, account)
        allowed = admins.account_is_admin(core.settings.admins, account)
        keep = await grant_backs_sync(session, platform, user_id)
        if not allowed:
            Audit(session).add(
                core.clock.now(), actor, "hub.sign_in_refused", None, platform=platform
            )
    return actor, name, allowed, keep


def _who(platform: str, grant: TokenGrant, account: Account | None) -> tuple[str, str]:
    """The session's actor: the directory's email (what the admin rule re-checks), else the
    platform's account id."""
    email = (normalize_email(account.email) if account else None) or normalize_email(
        grant.identity.email
    )
    actor = email or f"{platform}:{grant.identity.user_id}"
    name = (account.display_name if account else "") or email or grant.identity.user_id
    return actor, name


async def _revoke_later(core: Core, platform: str, grant: TokenGrant) -> None:
    """Signing in needs the identity only: give the token back when no sync relies on it.

    An outbox row, so the revocation outlives this process and waits out the platform's 429s;
    a token that cannot be revoked expires on its own.
    """
    async with core.transaction() as session:
        await outbox.revoke_sign_in(session, core, platform, grant, key=f"sign-in:{new_token()}")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/hub/auth/{platform}", oauth_start),
        web.get("/hub/auth/{platform}/callback", oauth_callback),
    ]
