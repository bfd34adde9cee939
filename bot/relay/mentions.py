"""Mentions in a relayed message, moved from the platform it was written on to the target's.

A `Mention` holds an account id on the prose's own platform (`bot.prose`). On the recipient's
platform the same person is mentioned only through their own account there (their primary, or
a consent sync that is synced): a represented person has no account to mention, and a person
Mio does not know has no counterpart, so both become their name as text (issue 10 "What must
hold" 1: "a user mention becomes the recipient platform's mention of the same person when they
are synced there, else their name").
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.prose import Mention, Piece, Prose, Run
from bot.relay import people


async def mapped(session: AsyncSession, prose: Prose, source: str, target: str) -> Prose:
    """`prose` written on `source` with each mention made one of `target` (or a name)."""
    changes: dict[str, Piece] = {}
    for mention in prose.mentions():
        if mention.user_id not in changes:
            changes[mention.user_id] = await _counterpart(session, mention, source, target)
    return prose.map_mentions(lambda mention: changes[mention.user_id])


async def _counterpart(session: AsyncSession, mention: Mention, source: str, target: str) -> Piece:
    as_name = Run(f"@{mention.name}")
    person_id = await people.person_of(session, source, mention.user_id)
    if person_id is None:
        return as_name
    person = await people.view(session, person_id)
    account = None if person is None else person.own_account(target)
    return as_name if account is None else Mention(account, mention.name)
