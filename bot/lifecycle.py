"""Sync services: each runs inside the caller's transaction and queues the calls it causes.

The rules live in `bot.sync` (pure); this module loads the facts, applies the verdict, writes
the audit log and queues DMs in the outbox, so a state change and its message commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import codec, messages, outbox, wake
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.matching import normalize_email
from bot.outbox_kinds import Revoke
from bot.relay import subscriptions
from bot.sync import (
    FAILURE_REASONS,
    Event,
    InvalidTransition,
    PersonFacts,
    ReminderPolicy,
    Status,
    SyncKind,
    advance,
    auto_primary,
    check_primary,
    next_due_at,
    plan_sync,
    reason_for_person,
)
from bot.types import DirectoryUser, Platform, PlatformUserId, TokenGrant
from store.models import Account, Grant, Person, Sync
from store.repositories import Audit, Directory, Grants, Syncs


class NotFound(LookupError):
    """The person or sync is gone (e.g. reset by another admin meanwhile)."""


def policy(core: Core) -> ReminderPolicy:
    return ReminderPolicy(
        after=core.settings.reminder_after, expires_after=core.settings.pending_expires_after
    )


def as_user(account: Account) -> DirectoryUser:
    return DirectoryUser(
        platform=Platform(account.platform),
        user_id=PlatformUserId(account.platform_user_id),
        email=account.email,
        display_name=account.display_name,
        is_bot=account.is_bot,
        is_guest=account.is_guest,
        is_active=account.is_active,
        is_admin=account.is_admin,
        extra=dict(account.extra or {}),
    )


def active_account(accounts: list[Account], platform: str) -> Account | None:
    for acc in accounts:
        if acc.platform == platform and acc.is_active and not acc.is_bot:
            return acc
    return None


def facts(person: Person, accounts: list[Account], syncs: list[Sync]) -> PersonFacts:
    return PersonFacts(
        primary=person.primary_platform,
        active_platforms=frozenset(a.platform for a in accounts if a.is_active and not a.is_bot),
        statuses={s.platform: Status(s.status) for s in syncs},
    )


async def load(
    session: AsyncSession, person_id: int, *, lock: bool = False
) -> tuple[Person, list[Account], list[Sync]]:
    person = await Directory(session).person(person_id, lock=lock)
    if person is None:
        raise NotFound(f"person {person_id} no longer exists")
    accounts = await Directory(session).accounts_of(person_id)
    syncs = await Syncs(session).of_person(person_id, lock=lock)
    return person, accounts, syncs


def plan(
    core: Core, person: Person, accounts: list[Account], syncs: list[Sync], platform: str
) -> SyncKind:
    """Which kind of sync would happen; raises SyncRefused with the rule and the fix."""
    return plan_sync(facts(person, accounts, syncs), core.org_facts(), platform, core.label)


async def request(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    """Start a sync (after the admin confirmed); returns a sentence saying what happened."""
    person, accounts, syncs = await load(session, person_id, lock=True)
    kind = plan(core, person, accounts, syncs, platform)
    now = core.clock.now()
    row = next((s for s in syncs if s.platform == platform), None)
    current = Status(row.status) if row else Status.NOT_CREATED
    event = Event.REQUEST_CONSENT if kind is SyncKind.CONSENT else Event.REQUEST_REPRESENTED
    status = advance(current, event)
    primary = person.primary_platform
    assert primary is not None  # plan_sync refused otherwise
    if row is None:
        row = Sync(
            person_id=person.id,
            platform=platform,
            primary_platform=primary,
            requested_at=now,
            updated_at=now,
            status=status,
            kind=kind,
        )
        session.add(row)
    values = _requested(status, kind, primary, actor, now)
    token = None
    if kind is SyncKind.CONSENT:
        token = new_token()
        values.update(
            token_hash=token_hash(token),
            token_expires_at=now + core.settings.pending_expires_after,
            next_due_at=next_due_at(now, 0, policy(core)),
        )
        wake.after_commit(session, core.reminders_ready)  # its first reminder may be soon
    for k, v in values.items():
        setattr(row, k, v)
    await session.flush()
    Audit(session).add(
        now, actor, "sync.requested", person.id, platform=platform, kind=kind, status=status
    )
    name = person.display_name or person.email or "this person"
    if token is None:
        return (
            f"{name} is now synced to {core.label(platform)} as a represented user "
            f"(they have no {core.label(platform)} account, so Mio represents them there)."
        )
    await _ask_consent(session, core, row, active_account(accounts, primary), name, token)
    return (
        f"Asked {name} on {core.label(primary)} to allow the link to "
        f"{core.label(platform)}. Status: 🕒 pending until they answer."
    )


def _requested(
    status: Status, kind: SyncKind, primary: str, actor: str, now: datetime
) -> dict[str, Any]:
    """A request starts the row afresh: whatever an earlier round left (its token, reminders,
    DM, failure reason) must not leak into this one."""
    return dict(
        status=status,
        kind=kind,
        reason=None,
        primary_platform=primary,
        requested_by=actor,
        requested_at=now,
        updated_at=now,
        token_hash=None,
        token_used=False,
        token_expires_at=None,
        allowed_at=None,
        reminders_sent=0,
        next_due_at=None,
        dm_ref=None,
    )


async def _ask_consent(
    session: AsyncSession, core: Core, row: Sync, target: Account | None, name: str, token: str
) -> None:
    """Queue the consent DM on the person's primary platform; the outbox key carries the
    token's hash, so a new request sends a new DM rather than being taken for a retry."""
    assert target is not None  # plan_sync requires an active account on the primary
    assert row.token_hash is not None
    message = messages.consent_request(
        name, core.label(row.primary_platform), core.label(row.platform), token
    )
    await outbox.send_dm(
        session,
        core,
        as_user(target),
        message,
        key=f"consent:{row.id}:{row.token_hash[:16]}",
        sync_id=row.id,
    )


async def remember_dm(session: AsyncSession, sync_id: int, ref: dict[str, Any]) -> None:
    """Keep the newest consent DM, so the outcome edits the message the person last saw (a
    "link again" DM of a synced sync, or of one failed as `token_revoked`, too)."""
    sync = await Syncs(session).by_id(sync_id, lock=True)
    if sync is not None and answerable(sync):
        sync.dm_ref = ref


def answerable(sync: Sync) -> bool:
    """The sync's consent buttons can still be pressed: a pending request, a re-consent after
    a refused token, or a re-link of a synced grant without the relay's scopes."""
    if sync.status == Status.FAILED:
        return sync.reason == FAILURE_REASONS[Event.TOKEN_REVOKED]
    return sync.status in (Status.PENDING, Status.SYNCED)


async def fail_sync(
    session: AsyncSession,
    core: Core,
    sync_id: int,
    event: Event,
    *,
    detail: str | None = None,
    notify: bool = True,
    actor: str = "system",
) -> bool:
    """Move a sync to failed with the event's reason; False when it was no longer failable."""
    sync = await Syncs(session).by_id(sync_id, lock=True)
    if sync is None:
        return False
    try:
        status = advance(Status(sync.status), event)
    except InvalidTransition:
        return False
    now = core.clock.now()
    reason = FAILURE_REASONS[event]
    sync.status, sync.reason, sync.updated_at = status, reason, now
    sync.token_used, sync.next_due_at = True, None
    Audit(session).add(
        now,
        actor,
        "sync.failed",
        sync.person_id,
        platform=sync.platform,
        reason=reason,
        detail=detail,
    )
    if notify and sync.dm_ref:
        await outbox.update_dm(
            session,
            core,
            codec.load_ref(sync.dm_ref),
            messages.failed(
                core.label(sync.platform),
                reason_for_person(reason, core.label(sync.platform)),
            ),
            key=f"outcome:{sync.id}:{now.timestamp()}:{reason}",
        )
    return True


async def set_primary(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    person, accounts, syncs = await load(session, person_id, lock=True)
    check_primary(facts(person, accounts, syncs), core.org_facts(), platform, core.label)
    now = core.clock.now()
    before = person.primary_platform
    person.primary_platform, person.primary_chosen_by_admin = platform, True
    Audit(session).add(now, actor, "primary.set", person.id, platform=platform, before=before)
    return f"{person.display_name}'s primary platform is now {core.label(platform)}."


async def _revoke(session: AsyncSession, core: Core, grant: Grant) -> None:
    """Give the grant's tokens back, after its relay subscription is removed: both rows share
    the grant's ordering key, so the unsubscribe still has a token that works."""
    person_id, platform = grant.person_id, grant.platform
    await subscriptions.before_revoke(session, core, person_id, platform, grant.tokens)
    await outbox.queue(
        session,
        core,
        platform,
        Revoke(person_id, core.vault.open(grant.tokens)),
        key=f"revoke:{grant.id}:{core.clock.now().timestamp()}",
        ordering_key=subscriptions.grant_key(person_id, platform),
    )
    await Grants(session).delete([grant.id])


async def _withdraw(
    session: AsyncSession, core: Core, actor: str, sync: Sync, event: Event
) -> None:
    """Take a sync back to not created: its grant revoked, an open consent DM withdrawn."""
    now = core.clock.now()
    for grant in await Grants(session).of_person(sync.person_id, sync.platform):
        await _revoke(session, core, grant)
    if sync.status == Status.PENDING and sync.dm_ref:
        await outbox.update_dm(
            session,
            core,
            codec.load_ref(sync.dm_ref),
            messages.withdrawn(core.label(sync.platform)),
            key=f"withdrawn:{sync.id}:{now.timestamp()}",
        )
    advance(Status(sync.status), event)
    Audit(session).add(
        now,
        actor,
        "sync.removed",
        sync.person_id,
        platform=sync.platform,
        before=sync.status,
        why=event,
    )
    await Syncs(session).delete([sync.id])


async def unsync(
    session: AsyncSession, core: Core, actor: str, person_id: int, platform: str
) -> str:
    person, _, syncs = await load(session, person_id, lock=True)
    sync = next((s for s in syncs if s.platform == platform), None)
    if sync is None:
        return f"{person.display_name} has no sync to {core.label(platform)}; nothing to undo."
    await _withdraw(session, core, actor, sync, Event.UNSYNC)
    return f"Unsynced {person.display_name} from {core.label(platform)}."


async def reset(session: AsyncSession, core: Core, actor: str, person_id: int) -> str:
    """Syncs, grants and tokens gone, primary cleared; imported accounts stay."""
    person, accounts, syncs = await load(session, person_id, lock=True)
    for sync in syncs:
        await _withdraw(session, core, actor, sync, Event.RESET)
    for grant in await Grants(session).of_person(person.id):  # grants without a sync row
        await _revoke(session, core, grant)
    active = frozenset(a.platform for a in accounts if a.is_active and not a.is_bot)
    person.primary_platform = auto_primary(active, None, False)
    person.primary_chosen_by_admin = False
    Audit(session).add(core.clock.now(), actor, "person.reset", person.id, syncs=len(syncs))
    return (
        f"Reset {person.display_name}: {len(syncs)} sync(s) removed, tokens revoked, "
        "primary platform cleared. Their imported accounts are kept."
    )


def identity_matches(grant: TokenGrant, person: Person, account: Account | None) -> bool:
    if account is not None and grant.identity.user_id == account.platform_user_id:
        return True
    email = normalize_email(grant.identity.email)
    known = {normalize_email(person.email)}
    if account is not None:
        known.add(normalize_email(account.email))
    return email is not None and email in known


def expires_in(now: datetime, grant: TokenGrant) -> datetime | None:
    return grant.expires_at or (now + timedelta(hours=1) if grant.refresh_token else None)
