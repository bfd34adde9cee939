"""User tokens that stop working, platforms that remove the app, and grants that need re-linking.

relay-apis §5.2: tokens break silently (a revoked Slack token, a Graph refresh that fails, a
Webex 401, an expired Zoom token). When a platform refuses a person's token, their sync fails
as `token_revoked` through the state machine and they get one DM on their primary platform
to link again; what waits for them (outbox rows in state `waiting`, by `sync_id`) goes back to
pending when they do (`release`). Uninstall events disconnect a whole platform until it is
connected again (`mio connect`, or an import that succeeds). Grants made before the relay
asked for its scopes get one "link again" DM; until then the person's messages go through
the bot (`relay_ready` is False).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle, outbox
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.messages import ALLOW, DECLINE
from bot.outbox_kinds import load_grant
from bot.platform import RelayPlatform
from bot.relay import people, waiting
from bot.sync import Event, Status
from bot.types import (
    AccessRevoked,
    Button,
    ButtonStyle,
    Message,
    PermanentFailure,
    Text,
    TokenGrant,
    TokenRefused,
)
from store.models import Grant, Sync
from store.repositories import (
    Audit,
    Connections,
    Directory,
    Disconnections,
    Grants,
    Subscriptions,
    Syncs,
)

RELINK = "relink"  # relay_prompts kind: the one "link again" DM of a grant without relay scopes


def relay_adapter(core: Core, platform: str) -> RelayPlatform | None:
    adapter = core.platforms.get(platform)
    return adapter if isinstance(adapter, RelayPlatform) else None


def grant_of(core: Core, row: Grant) -> TokenGrant:
    """The stored grant opened (its tokens never leave memory)."""
    return load_grant(core.vault.open(row.tokens), row.expires_at)


async def fresh_grant(core: Core, person_id: int, platform: str) -> TokenGrant | None:
    """The person's grant on the platform, refreshed first when it expires soon (Graph access
    tokens last about an hour, relay-apis §5.2); None when they have none any more.
    `TokenRefused` when the platform refuses the refresh."""
    try:
        return await people.grant(core, person_id, platform)
    except TokenRefused:
        raise
    except PermanentFailure:
        return None


def relink_message(name: str, primary: str, secondary: str, token: str, why: str) -> Message:
    """One tap to link again, with the consent DM's buttons (the same press handles them)."""
    return Message(
        text=f"Link your {secondary} account again so people can keep messaging you from "
        f"{primary}?",
        title=f"Link your {secondary} account again",
        lines=(
            Text.format("Hi {name}, {why}", name=name, why=why),
            f"Press *Link again* and sign in to {secondary}. Messages wait for you meanwhile.",
        ),
        buttons=(
            Button("Link again", ALLOW, token, ButtonStyle.PRIMARY),
            Button("Not now", DECLINE, token, ButtonStyle.DANGER),
        ),
        ephemeral=False,
    )


async def _ask_again(session: AsyncSession, core: Core, sync: Sync, why: str, key: str) -> bool:
    """A new sync token and its DM on the person's primary platform; False when they have no
    active account there to ask."""
    person, accounts, _ = await lifecycle.load(session, sync.person_id)
    primary = person.primary_platform
    target = lifecycle.active_account(accounts, primary) if primary else None
    if primary is None or target is None:
        return False
    now = core.clock.now()
    token = new_token()
    sync.token_hash, sync.token_used, sync.allowed_at = token_hash(token), False, None
    sync.token_expires_at = now + core.settings.pending_expires_after
    message = relink_message(
        person.display_name, core.label(primary), core.label(sync.platform), token, why
    )
    await outbox.send_dm(
        session, core, lifecycle.as_user(target), message, key=key, sync_id=sync.id
    )
    return True


async def token_refused(session: AsyncSession, core: Core, person_id: int, platform: str) -> None:
    """The platform refused the person's user token: their sync fails as `token_revoked` and
    they are asked, once, to link again. A sync already failed changes nothing, so the many
    refusals one revocation causes (every waiting message, the subscription) send one DM."""
    sync = await Syncs(session).get(person_id, platform, lock=True)
    if sync is None or sync.status != Status.SYNCED:
        return
    await lifecycle.fail_sync(session, core, sync.id, Event.TOKEN_REVOKED, notify=False)
    now = core.clock.now()
    await Subscriptions(session).mark_failed(person_id, platform, "token_revoked", now)
    why = (
        f"Mio can no longer reach your {core.label(platform)} account: its sign-in stopped working."
    )
    key = f"relink:revoked:{sync.id}:{now.timestamp()}"
    if not await _ask_again(session, core, sync, why, key):
        Audit(session).add(
            now, "system", "relay.relink_undeliverable", person_id, platform=platform
        )


async def release(session: AsyncSession, core: Core, sync_id: int) -> int:
    """The person linked again: the messages held for them are delivered now, in order."""
    return await waiting.release(session, core, sync_id)


async def disconnected(session: AsyncSession, platform: str) -> bool:
    """The platform removed the app: nothing is sent to it until it is connected again.
    (The outbox worker leaves its rows unclaimed; the relay does not route through it.)"""
    row = (await Connections(session).all()).get(platform)
    return row is not None and row.disconnected_at is not None


async def access_revoked(session: AsyncSession, core: Core, event: AccessRevoked) -> None:
    """Slack `tokens_revoked` (people's tokens), `app_uninstalled` / Zoom `app_deauthorized`
    (the whole app: the platform is disconnected)."""
    now = core.clock.now()
    if event.app_removed:
        await Disconnections(session).mark(event.platform, "app_removed", now)
        Audit(session).add(
            now, "system", "platform.disconnected", None, platform=event.platform, why="app_removed"
        )
    for user_id in event.user_ids:
        account = await Directory(session).account(event.platform, user_id)
        if account is not None and account.person_id is not None:
            await token_refused(session, core, account.person_id, event.platform)


async def reconnected(session: AsyncSession, core: Core, platform: str, actor: str) -> None:
    """`mio connect` or an import that succeeded: the platform takes messages again."""
    if await disconnected(session, platform):
        await Disconnections(session).clear(platform)
        Audit(session).add(core.clock.now(), actor, "platform.reconnected", None, platform=platform)


async def covers_relay(session: AsyncSession, core: Core, person_id: int, platform: str) -> bool:
    """The person's grant there carries every scope the relay needs (False: re-link)."""
    adapter = relay_adapter(core, platform)
    rows = await Grants(session).of_person(person_id, platform)
    return (
        adapter is not None and bool(rows) and adapter.grant_covers_relay(grant_of(core, rows[0]))
    )


async def relay_ready(session: AsyncSession, core: Core, person_id: int, platform: str) -> bool:
    """Mio can act as the person on `platform` with their own token: a consent sync there is
    synced, its grant covers the relay, and the platform is connected. When False for a synced
    person (re-link needed), their messages there go through the bot."""
    sync = await Syncs(session).get(person_id, platform)
    if sync is None or sync.status != Status.SYNCED or sync.kind != "consent":
        return False
    if await disconnected(session, platform):
        return False
    return await covers_relay(session, core, person_id, platform)


async def ask_relink(session: AsyncSession, core: Core, sync: Sync) -> bool:
    """A synced person whose grant lacks the relay's scopes gets one "link again" DM (ever, per
    sync: the prompt row says it was sent). True when this call sent it."""
    now = core.clock.now()
    if not await Subscriptions(session).first_prompt(RELINK, sync.person_id, sync.id, now):
        return False
    why = (
        f"Mio needs a little more access to your {core.label(sync.platform)} account so that "
        f"your direct messages reach people on other platforms as you."
    )
    sent = await _ask_again(session, core, sync, why, f"relink:scopes:{sync.id}")
    if sent:
        Audit(session).add(
            now, "system", "relay.relink_asked", sync.person_id, platform=sync.platform
        )
    return sent
