"""Choose the platform a person uses daily, where their consent DMs go."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core


async def set_primary(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    """A sentence saying what changed; `PrimaryRefused` says which rule refused and the fix."""
    return await lifecycle.set_primary(session, core, actor, person_id, platform)
