"""Start a person over: every sync, grant and token removed, the primary choice cleared."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.usecases import Question


def question(name: str) -> Question:
    return Question(
        f"Reset {name}?",
        (
            "All their syncs, grants and tokens are removed (tokens revoked) and their "
            "primary platform is cleared.",
            "Their imported accounts stay, so you can start over.",
        ),
    )


async def reset(session: AsyncSession, core: Core, actor: str, person_id: int) -> str:
    return await lifecycle.reset(session, core, actor, person_id)
