"""The facts routing needs, loaded from the store: people by account, their syncs, their grants.

Routing itself (`bot.relay.routing`) is pure; this is where the database is read for it, and
where a person's user token is taken out of its sealed row (and refreshed when it is about to
expire, so a post never fails on a token that merely aged).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.core import Core
from bot.outbox_kinds import grant_data, load_grant
from bot.platform import RelayPlatform
from bot.relay.routing import PersonView, SyncFact
from bot.types import DirectoryUser, PermanentFailure, TokenGrant
from store.repositories import Directory, Grants, Syncs

REFRESH_BEFORE = timedelta(minutes=5)  # a grant expiring sooner is refreshed before use


async def person_of(session: AsyncSession, platform: str, user_id: str) -> int | None:
    """The person an account belongs to, or None for an account Mio does not know."""
    account = await Directory(session).account(platform, user_id)
    return None if account is None else account.person_id


async def view(session: AsyncSession, person_id: int) -> PersonView | None:
    """A person as routing sees them; None when they are gone."""
    person = await Directory(session).person(person_id)
    if person is None:
        return None
    accounts = await Directory(session).accounts_of(person_id)
    syncs = await Syncs(session).of_person(person_id)
    return PersonView(
        person_id=person.id,
        name=person.display_name or person.email or f"person {person.id}",
        primary=person.primary_platform,
        accounts={a.platform: a.platform_user_id for a in accounts if a.is_active and not a.is_bot},
        syncs={s.platform: SyncFact(s.id, s.status, s.kind, s.reason, s.updated_at) for s in syncs},
    )


async def directory_user(session: AsyncSession, platform: str, user_id: str) -> DirectoryUser:
    """An account as the adapter's calls take it (its `extra` may hold what they need)."""
    account = await Directory(session).account(platform, user_id)
    if account is None:
        raise LookupError(f"no {platform} account {user_id}")
    return lifecycle.as_user(account)


def relay_adapter(core: Core, platform: str) -> RelayPlatform:
    """The platform's adapter as a relay platform; a platform without relay support (or no
    longer connected) fails the row: no retry makes it one."""
    adapter = core.platforms.get(platform)
    if not isinstance(adapter, RelayPlatform):
        raise PermanentFailure(platform, "this platform does not relay direct messages")
    return adapter


async def grant(core: Core, person_id: int, platform: str) -> TokenGrant:
    """The person's user token on `platform`, refreshed (and stored) when it expires within
    REFRESH_BEFORE. A permanent failure when there is none: the sync was removed meanwhile
    (unsync, reset), and no waiting brings the token back."""
    async with core.transaction() as session:
        rows = await Grants(session).of_person(person_id, platform)
        if not rows:
            raise PermanentFailure(platform, "no user token for this person")
        row = rows[0]
        data = core.vault.open(row.tokens)
        current = load_grant(data, row.expires_at)
        linked_at = row.created_at
    now = core.clock.now()
    if current.expires_at is None or current.expires_at - now > REFRESH_BEFORE:
        return current
    fresh = await relay_adapter(core, platform).refresh_grant(current)
    await _store(core, person_id, platform, fresh, now, linked_at)
    return fresh


async def _store(
    core: Core, person_id: int, platform: str, fresh: TokenGrant, now: datetime, linked_at: datetime
) -> None:
    async with core.transaction() as session:
        await Grants(session).save(
            {
                "person_id": person_id,
                "platform": platform,
                "platform_user_id": fresh.identity.user_id,
                "tokens": core.vault.seal(grant_data(fresh)),
                "expires_at": lifecycle.expires_in(now, fresh),
                "created_at": linked_at,  # when the person linked, not when it was refreshed
            }
        )
