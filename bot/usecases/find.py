"""Who an admin means by a name or an email: exactly one person, or why not."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Person
from store.repositories import Directory


class NotOne(LookupError):
    """Nobody (`people` empty) or several people match; each front end words it its own way."""

    def __init__(self, needle: str, people: list[Person]) -> None:
        super().__init__(needle)
        self.needle = needle
        self.people = people


async def one_person(session: AsyncSession, text: str) -> Person:
    """By email, then exact name, then a part of a name or an email; one match or `NotOne`."""
    found = await Directory(session).find_people(text)
    if len(found) != 1:
        raise NotOne(text, found)
    return found[0]
