"""Remove one sync: its tokens are revoked and an open consent DM is withdrawn."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.usecases import Question


def question(name: str, label: str) -> Question:
    return Question(
        f"Unsync {name} from {label}?",
        (f"Their {label} link is removed and any tokens are revoked.",),
    )


async def unsync(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    return await lifecycle.unsync(session, core, actor, person_id, platform)
