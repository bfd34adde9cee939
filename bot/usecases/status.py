"""One person at a glance: their accounts, primary platform, each sync with its reason, and
where Mio holds their own token, the relay's readiness there (subscribed, token valid, last
message relayed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.relay import tokens
from bot.sync import ICONS, LABELS, Status, describe_reason
from bot.types import Message, Rich, Text
from bot.usecases.users import primary_text
from store.models import Sync
from store.relay_models import RelaySubscription
from store.repositories import RelayFigures, Subscriptions

NEEDS_RELINK = "needs re-link"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "never"


async def relay_readiness(
    session: AsyncSession, core: Core, sync: Sync, last: datetime | None
) -> str | None:
    """One line on whether the relay can act as the person on the sync's platform; None where
    it never does (a represented sync, a platform without the relay, a sync not linked)."""
    platform = sync.platform
    if sync.kind != "consent" or tokens.relay_adapter(core, platform) is None:
        return None
    if sync.status != Status.SYNCED and sync.reason != "token_revoked":
        return None
    sub: RelaySubscription | None = await Subscriptions(session).get(sync.person_id, platform)
    if sub is None:
        subscribed = "not subscribed"
    else:
        expires = f", expires {_when(sub.expires_at)}" if sub.expires_at else ""
        subscribed = f"subscribed ({sub.state}{expires})"
    if sync.reason == "token_revoked":
        token = "token refused: asked to link again"
    elif not await tokens.covers_relay(session, core, sync.person_id, platform):
        token = f"token valid but {NEEDS_RELINK} (relayed through the bot meanwhile)"
    else:
        token = "token valid"
    cut = " · platform disconnected" if await tokens.disconnected(session, platform) else ""
    return (
        f"Relay on {core.label(platform)}: {subscribed} · {token} · "
        f"last message relayed {_when(last)}{cut}"
    )


async def status(session: AsyncSession, core: Core, person_id: int) -> Message:
    """Names are plain spans (shown as written); `lifecycle.NotFound` when the person is gone."""
    person, accounts, sync_rows = await lifecycle.load(session, person_id)
    syncs = {s.platform: s for s in sync_rows}
    lines: list[Rich] = [
        Text.format("Email: {email}", email=person.email or "none")
        + f" · Primary: {primary_text(core.label, person)}"
    ]
    for acc in accounts:
        state = "active" if acc.is_active else "inactive"
        lines.append(
            Text.format(
                "{label} account: {name}", label=core.label(acc.platform), name=acc.display_name
            )
            + f" ({state})"
        )
    last = await RelayFigures(session).last_relayed(person.id)
    for platform in core.platforms:
        if platform == person.primary_platform:
            continue
        sync = syncs.get(platform)
        st = Status(sync.status) if sync else Status.NOT_CREATED
        line = f"{ICONS[st]} {core.label(platform)}: {LABELS[st]}"
        if sync is not None and sync.kind:
            line += f" ({sync.kind})"
        if sync is not None and sync.reason:
            line += f". {describe_reason(sync.reason, core.label(platform))}"
        relay = (
            None if sync is None else await relay_readiness(session, core, sync, last.get(platform))
        )
        if relay is not None and NEEDS_RELINK in relay and st is Status.SYNCED:
            line += f" · {NEEDS_RELINK}"
        lines.append(line)
        if relay is not None:
            lines.append(relay)
    name = Text.plain(person.display_name)
    return Message(text=name + ": " + Text.join(lines, "; "), title=name, lines=tuple(lines))
