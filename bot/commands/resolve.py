"""Who a chat command names: a platform mention, an email or a display name → one person."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.types import Rich, Text
from bot.usecases.find import NotOne, one_person
from store.models import Person
from store.repositories import Directory


class Ambiguous(LookupError):
    """Nobody or several people match; `message` says so and how to be precise."""

    def __init__(self, message: Rich) -> None:
        super().__init__(str(message))
        self.message = message


async def resolve(session: AsyncSession, core: Core, platform: str, text: str) -> Person:
    """A person from a mention, an email or a display name; ambiguity lists the candidates."""
    mentioned = core.platforms[platform].parse_mention(text)
    if mentioned is not None:
        return await _mentioned(session, platform, mentioned, text)
    needle = core.platforms[platform].normalise_user_text(text.strip().lstrip("@"))
    try:
        return await one_person(session, needle)
    except NotOne as exc:
        raise Ambiguous(_not_one(needle, exc.people)) from None


async def _mentioned(session: AsyncSession, platform: str, user_id: str, text: str) -> Person:
    repo = Directory(session)
    account = await repo.account(platform, user_id)
    if account is None or account.person_id is None:
        raise Ambiguous(
            Text.format("I don't know {text} yet.", text=text)
            + f" Run `/mio import {platform}` first."
        )
    person = await repo.person(account.person_id)
    assert person is not None  # accounts.person_id is a foreign key
    return person


def _not_one(needle: str, found: list[Person]) -> Rich:
    if not found:
        return Text.format(
            "I couldn't find anyone called “{needle}”. Try their email address, "
            "or list people with `/mio users {first}`.",
            needle=needle,
            first=needle.split()[0] if needle.split() else needle,
        )
    names = Text.join(
        (
            Text.format("{name} ({email})", name=p.display_name, email=p.email or "no email")
            for p in found[:10]
        ),
        "; ",
    )
    return (
        Text.format("“{needle}” matches ", needle=needle)
        + f"{len(found)} people: "
        + names
        + ". Name one by email to be sure."
    )
