"""The base of every repository: queries as objects that receive their session.

Plain values in and out, no bot types, so the store stays SQLAlchemy only.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
