"""Queueing platform calls in the same transaction as the state change that causes them.

`bot.delivery` delivers the rows at least once; callers here only say what should happen.
What a row says (the message, and where an answer goes) is sealed with MIO_SECRET_KEY: it
carries consent tokens, sign-in URLs and Slack `response_url`s, each enough to act as the
person, so a copy of the table must not be usable. Only the routing stays readable.
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
        {"user": codec.dump(user)},
        sync_id=sync_id,
        sealed={"message": codec.dump(message)},
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
        {"ref": codec.dump(ref)},
        sealed={"message": codec.dump(message)},
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
        {"platform": target.platform},
        sealed={"target": codec.dump(target), "message": codec.dump(message)},
    )


async def revoke(
    session: AsyncSession, core: Core, platform: str, person_id: int, tokens: str, *, key: str
) -> None:
    """Queue a token revocation; the tokens stay encrypted (as the grant stored them)."""
    await _add(session, core, platform, "revoke", key, {"person_id": person_id}, secret=tokens)


def unseal(core: Core, kind: str, payload: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """The row's payload with its sealed part opened (rows queued before sealing have none)."""
    if kind == "revoke" or secret is None:
        return payload
    return {**payload, **core.vault.open(secret)}


async def _add(
    session: AsyncSession,
    core: Core,
    platform: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    sync_id: int | None = None,
    sealed: dict[str, Any] | None = None,
    secret: str | None = None,
) -> None:
    now = core.clock.now()
    if sealed is not None:
        secret = core.vault.seal(sealed)
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
