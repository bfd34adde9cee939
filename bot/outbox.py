"""Queueing platform calls in the same transaction as the state change that causes them.

`bot.delivery` delivers the rows at least once; callers here only say what should happen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import codec, wake
from bot.core import Core
from bot.types import DirectoryUser, Message, MessageRef, ReplyTarget
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
    await _add(
        session,
        core,
        user.platform,
        "send_dm",
        key,
        {"user": codec.dump(user), "message": codec.dump(message)},
        sync_id=sync_id,
    )


async def update_dm(
    session: AsyncSession, core: Core, ref: MessageRef, message: Message, *, key: str
) -> None:
    await _add(
        session,
        core,
        ref.platform,
        "update_dm",
        key,
        {"ref": codec.dump(ref), "message": codec.dump(message)},
    )


async def reply(
    session: AsyncSession, core: Core, target: ReplyTarget, message: Message, *, key: str
) -> None:
    await _add(
        session,
        core,
        target.platform,
        "reply",
        key,
        {"target": codec.dump(target), "message": codec.dump(message)},
    )


async def revoke(
    session: AsyncSession, core: Core, platform: str, person_id: int, tokens: str, *, key: str
) -> None:
    """Queue a token revocation; the tokens stay encrypted inside the outbox row."""
    await _add(session, core, platform, "revoke", key, {"person_id": person_id}, secret=tokens)


async def _add(
    session: AsyncSession,
    core: Core,
    platform: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    sync_id: int | None = None,
    secret: str | None = None,
) -> None:
    now = core.clock.now()
    await Outbox(session).add(
        {
            "idempotency_key": key,
            "platform": platform,
            "kind": kind,
            "payload": payload,
            "secret": secret,
            "sync_id": sync_id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
    )
    wake.after_commit(session, core.outbox_ready)
