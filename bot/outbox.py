"""Queueing platform calls in the same transaction as the state change that causes them.

`bot.delivery` delivers the rows at least once; callers here only say what should happen.
What a row says (the message, and where an answer goes) is sealed with MIO_SECRET_KEY: it
carries consent tokens, sign-in URLs and Slack `response_url`s, each enough to act as the
person, so a copy of the table must not be usable. Only the routing stays readable. Each
kind of row is a dataclass in `bot.outbox_kinds`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import wake
from bot.core import Core
from bot.outbox_kinds import (
    ImportAndReport,
    Kind,
    Reply,
    Revoke,
    RevokeSignIn,
    RunImport,
    SendDm,
    UpdateDm,
    grant_data,
)
from bot.types import DirectoryUser, Message, MessageRef, ReplyTarget, TokenGrant
from store.repositories import Outbox


async def send_dm(
    session: AsyncSession,
    core: Core,
    user: DirectoryUser,
    message: Message,
    *,
    key: str,
    sync_id: int | None = None,
) -> None:
    await queue(session, core, user.platform, SendDm(user, message), key=key, sync_id=sync_id)


async def update_dm(
    session: AsyncSession, core: Core, ref: MessageRef, message: Message, *, key: str
) -> None:
    await queue(session, core, ref.platform, UpdateDm(ref, message), key=key)


async def reply(
    session: AsyncSession, core: Core, target: ReplyTarget, message: Message, *, key: str
) -> None:
    await queue(session, core, target.platform, Reply(target, message), key=key)


async def revoke(
    session: AsyncSession, core: Core, platform: str, person_id: int, tokens: str, *, key: str
) -> None:
    """Queue a token revocation; `tokens` is the grant as stored (encrypted)."""
    await queue(session, core, platform, Revoke(person_id, core.vault.open(tokens)), key=key)


async def revoke_sign_in(
    session: AsyncSession, core: Core, platform: str, grant: TokenGrant, *, key: str
) -> None:
    """Queue giving back a sign-in's token, which no sync relies on."""
    await queue(session, core, platform, RevokeSignIn(grant_data(grant)), key=key)


async def import_and_report(
    session: AsyncSession,
    core: Core,
    platforms: list[str],
    actor: str,
    target: ReplyTarget,
    *,
    key: str,
) -> None:
    """Queue imports asked for in chat; the answer goes back to `target` when they end."""
    kind = ImportAndReport(tuple(platforms), actor, target)
    await queue(session, core, target.platform, kind, key=key)


async def run_import(
    session: AsyncSession, core: Core, platform: str, run_id: str, actor: str
) -> None:
    """Queue the run of an import whose guard `run_id` already holds."""
    kind = RunImport(run_id, actor)
    await queue(session, core, platform, kind, key=f"import:{platform}:{run_id}")


def unseal(core: Core, payload: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """The row's data: its readable part and its sealed part opened (rows queued before
    sealing have none)."""
    if secret is None:
        return payload
    return {**payload, **core.vault.open(secret)}


async def queue(
    session: AsyncSession,
    core: Core,
    platform: str,
    kind: Kind,
    *,
    key: str,
    sync_id: int | None = None,
    ordering_key: str | None = None,
    waiting_until: datetime | None = None,
) -> bool:
    """Add a row of `kind` (once per `key`) and wake this process's worker after the commit.

    Rows with one `ordering_key` are delivered one at a time in the order queued. With
    `waiting_until` the row is queued `waiting` (a relayed message whose sender must link
    again first): it holds back its key's later rows until it is released or expires then.
    True when this call queued it (False: the key was queued before).
    """
    now = core.clock.now()
    sealed = kind.sealed()
    added = await Outbox(session).add(
        {
            "idempotency_key": key,
            "platform": platform,
            "kind": kind.name,
            "payload": kind.routing(),
            "secret": core.vault.seal(sealed) if sealed is not None else None,
            "sync_id": sync_id,
            "state": "pending" if waiting_until is None else "waiting",
            "attempts": 0,
            "next_attempt_at": now if waiting_until is None else waiting_until,
            "created_at": now,
            "ordering_key": ordering_key,
        }
    )
    wake.after_commit(session, core.outbox_ready)
    return added
