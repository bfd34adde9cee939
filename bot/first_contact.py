"""First contact: a caller Mio never imported is looked up on their platform and stored.

On a fresh install nobody has run `/mio import` yet, yet the first admin must be able to run
it: the chat command and the Hub's platform sign-in ask the platform who the caller is
(`ChatPlatform.lookup_user`), store that account exactly as an import would (matched to a
person by email, bots and guests kept apart), and only then decide what the caller may do.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from bot.matching import is_person, match_key, normalize_email
from bot.sync import auto_primary
from bot.types import DirectoryUser, PlatformError, PlatformUserId
from store.models import Account
from store.repositories import Audit, Directory

log = logging.getLogger(__name__)


class CannotCheck(Exception):
    """The platform did not answer who an unknown caller is; `sentence` says so to them."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


async def known_account(
    session: AsyncSession, core: Core, platform: str, user_id: str
) -> Account | None:
    """The caller's account, looked up on the platform first when Mio does not know it.

    None when the platform knows nobody by that id: the caller is then nobody in particular,
    never an admin. `CannotCheck` when the platform cannot be asked right now, so the caller
    is told to try again rather than that they are not an admin.
    """
    repo = Directory(session)
    account = await repo.account(platform, user_id)
    adapter = core.platforms.get(platform)
    if account is not None or adapter is None:
        return account
    try:
        user = await adapter.lookup_user(PlatformUserId(user_id))
    except PlatformError as exc:
        log.warning("could not look up %s user %s: %s", platform, user_id, exc.reason)
        raise CannotCheck(
            f"I could not ask {core.label(platform)} who you are ({exc.reason}). "
            "Try again in a minute."
        ) from exc
    if user is None or user.platform != platform or user.user_id != user_id:
        return None
    await store(session, core, user)
    return await repo.account(platform, user_id)


async def store(session: AsyncSession, core: Core, user: DirectoryUser) -> None:
    """One account as an import page would write it, and the person's automatic primary."""
    repo = Directory(session)
    now = core.clock.now()
    person_id: int | None = None
    if is_person(user):
        ids = await repo.upsert_people(
            [
                {
                    "match_key": match_key(user),
                    "email": normalize_email(user.email),
                    "display_name": user.display_name,
                    "created_at": now,
                }
            ]
        )
        person_id = ids.get(match_key(user))
    await repo.upsert_accounts(
        [
            {
                "platform": user.platform,
                "platform_user_id": user.user_id,
                "person_id": person_id,
                "email": normalize_email(user.email),
                "display_name": user.display_name,
                "is_bot": user.is_bot,
                "is_guest": user.is_guest,
                "is_active": user.is_active,
                "is_admin": user.is_admin,
                "extra": user.extra,
                "seen_at": now,
            }
        ]
    )
    if person_id is not None:
        await _auto_primary(repo, person_id)
    Audit(session).add(
        now,
        "system",
        "directory.looked_up",
        person_id,
        platform=user.platform,
        user_id=user.user_id,
        why="an unknown caller",
    )


async def _auto_primary(repo: Directory, person_id: int) -> None:
    person = await repo.person(person_id)
    if person is None:
        return
    active = (await repo.active_platforms([person_id]))[person_id]
    by_admin = person.primary_chosen_by_admin
    chosen = auto_primary(frozenset(active), person.primary_platform, by_admin)
    if chosen != person.primary_platform:
        changes = {
            "id": person_id,
            "primary_platform": chosen,
            "primary_chosen_by_admin": by_admin and chosen is not None,
        }
        await repo.set_primaries([changes])
