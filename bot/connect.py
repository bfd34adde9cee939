"""`mio connect <platform>`: an admin authorizes the bot itself where a platform needs it.

Webex bots cannot read the organisation's directory, so an admin grants an integration token
once; it is stored sealed on the connection row and handed to the adapter at every start.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.platform import NeedsAdminGrant
from store.repositories import Audit, Connections, Disconnections, PendingActions

CONNECT_FOR = timedelta(minutes=30)


def admin_redirect_uri(core: Core, platform: str) -> str:
    return f"{core.settings.public_url}/oauth/{platform}/admin-callback"


def needs_admin_grant(core: Core, platform: str) -> NeedsAdminGrant | None:
    adapter = core.platforms.get(platform)
    return adapter if isinstance(adapter, NeedsAdminGrant) else None


async def load_admin_grants(core: Core) -> None:
    """Give each adapter that needs one its stored grant, and a way to save refreshed tokens."""
    async with core.sessions() as session:
        rows = await Connections(session).all()
    for name in core.platforms:
        adapter = needs_admin_grant(core, name)
        if adapter is None:
            continue
        sealed = rows[name].admin_grant if name in rows else None
        adapter.use_admin_grant(core.vault.open(sealed) if sealed else None, _saver(core, name))


def _saver(core: Core, platform: str) -> Any:
    async def save(grant: dict[str, Any]) -> None:
        async with core.transaction() as session:
            await Connections(session).save(platform, admin_grant=core.vault.seal(grant))

    return save


async def start(core: Core, platform: str, actor: str) -> str:
    """The link an admin opens to authorize the bot; single use, expires in 30 minutes."""
    adapter = needs_admin_grant(core, platform)
    if adapter is None:
        raise ValueError(f"{core.label(platform)} needs no admin authorization.")
    state = new_token()
    async with core.transaction() as session:
        PendingActions(session).add(
            token_hash=token_hash(state),
            actor=actor,
            platform=platform,
            platform_user_id="",
            command={"op": "connect"},
            expires_at=core.clock.now() + CONNECT_FOR,
            used=False,
        )
    return adapter.admin_authorize_url(state, admin_redirect_uri(core, platform))


async def finish(
    core: Core, platform: str, code: str | None, state: str | None, error: str | None
) -> tuple[bool, str]:
    """The admin callback: (ok, sentence for the page)."""
    adapter = needs_admin_grant(core, platform)
    if adapter is None or not state:
        return False, "This authorization link is not valid."
    async with core.transaction() as session:
        action = await PendingActions(session).take(token_hash(state))
        if action is None or action.platform != platform or action.command.get("op") != "connect":
            return False, "This authorization link was already used or is not valid."
        if action.expires_at <= core.clock.now():
            return False, f"This link expired. Run `mio connect {platform}` again."
        actor = action.actor
    if error or not code:
        return False, f"{core.label(platform)} did not authorize Mio ({error or 'no code'})."
    grant = await adapter.exchange_admin_code(code, admin_redirect_uri(core, platform))
    async with core.transaction() as session:
        await Connections(session).save(platform, admin_grant=core.vault.seal(grant))
        await Disconnections(session).clear(platform)  # the relay sends to it again
        Audit(session).add(core.clock.now(), actor, "platform.connected", None, platform=platform)
    adapter.use_admin_grant(grant, _saver(core, platform))
    return True, (
        f"Mio can now read the {core.label(platform)} directory. "
        f"Run `mio import {platform}` or press Import users in the Hub."
    )
