"""The person's side: Allow / Decline in the consent DM, then the OAuth round trip.

A button token and an OAuth state each work once, only for the person they were sent to, and
expire; the token is stored only as a hash on the sync row and replaced at every step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import codec, lifecycle, messages, outbox
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.relay import subscriptions, tokens
from bot.sync import Event, PressVerdict, Status, advance, check_press, describe_reason
from bot.types import ButtonPress, Message, PlatformError, TokenGrant
from store.models import Account, Person, Sync
from store.repositories import Audit, Directory, Grants, Syncs

log = logging.getLogger(__name__)

VERDICT_TEXT = {
    PressVerdict.WRONG_PERSON: "This request was sent to someone else, so only they can answer it.",
    PressVerdict.USED: "You already answered this request.",
    PressVerdict.STALE: "This request was already answered or withdrawn.",
    PressVerdict.EXPIRED: "This request has expired. Ask your admin to send a new one.",
}


RELINK_DECLINED = (
    "Nothing changed: people's messages still reach you, through the Mio bot. "
    "Press *Link again* any time to send them as yourself."
)


def _reopened(
    sync: Sync, event: ButtonPress, actor: str, now: datetime, session: AsyncSession
) -> bool:
    """A "link again" DM answered (bot.relay.tokens): a sync failed as `token_revoked` is
    requested afresh (pending, as an admin's re-attempt would make it), so its answer runs as
    a consent's; a synced one stays synced while the person signs in again. False when they
    declined a re-link, which changes nothing."""
    if sync.status == Status.FAILED:
        sync.status, sync.reason = advance(Status.FAILED, Event.REQUEST_CONSENT), None
        return True
    if event.action_id == messages.DECLINE:
        Audit(session).add(
            now, actor, "consent.relink_declined", sync.person_id, platform=sync.platform
        )
        return False
    return True


async def press(session: AsyncSession, core: Core, event: ButtonPress) -> Message | None:
    """Allow or Decline; anything but the right person's first press changes nothing."""
    now = core.clock.now()
    sync = await Syncs(session).by_token(token_hash(event.value))
    if sync is None or not lifecycle.answerable(sync):
        return messages.note(VERDICT_TEXT[PressVerdict.STALE])
    account = await Directory(session).account(event.platform, event.user_id)
    person_accounts = await Directory(session).accounts_of(sync.person_id)
    expected = lifecycle.active_account(person_accounts, sync.primary_platform)
    verdict = check_press(
        expected_user=f"{sync.primary_platform}:{expected.platform_user_id if expected else ''}",
        actual_user=f"{event.platform}:{event.user_id}",
        used=sync.token_used,
        expires_at=sync.token_expires_at or now,
        now=now,
        token_matches=True,
    )
    if verdict is not PressVerdict.OK:
        Audit(session).add(
            now,
            f"{event.platform}:{event.user_id}",
            "consent.press_refused",
            sync.person_id,
            platform=sync.platform,
            verdict=verdict,
            known_account=account is not None,
        )
        return messages.note(VERDICT_TEXT[verdict])
    if not await Syncs(session).claim_token(sync.id, token_hash(event.value)):
        return messages.note(VERDICT_TEXT[PressVerdict.USED])
    actor = f"{event.platform}:{event.user_id}"
    ref = event.message or (codec.load_ref(sync.dm_ref) if sync.dm_ref else None)
    if ref is not None:
        sync.dm_ref = codec.dump(ref)
    if sync.status != Status.PENDING and not _reopened(sync, event, actor, now, session):
        return messages.note(RELINK_DECLINED)
    if event.action_id == messages.DECLINE:
        await lifecycle.fail_sync(session, core, sync.id, Event.DECLINED, actor=actor)
        return None
    if sync.status == Status.PENDING:
        advance(Status.PENDING, Event.ALLOWED)
    state = new_token()
    sync.token_hash, sync.token_used, sync.allowed_at = token_hash(state), False, now
    Audit(session).add(now, actor, "consent.allowed", sync.person_id, platform=sync.platform)
    adapter = core.platforms[sync.platform]
    url = adapter.authorize_url(state, core.redirect_uri(sync.platform))
    step = messages.authorize_step(core.label(sync.platform), url)
    if ref is not None:
        await outbox.update_dm(
            session, core, ref, step, key=f"authorize:{sync.id}:{token_hash(state)[:16]}"
        )
        return None
    return step


def _not_yours(label: str, grant: TokenGrant, person: Person, account: Account | None) -> str:
    """The mismatch page is read by whoever signed in: say what they did, and what next."""
    signed_in = grant.identity.email or grant.identity.user_id
    owner = (account.email if account is not None else None) or person.email
    whose = f"{person.display_name}'s {label} account" + (f" ({owner})" if owner else "")
    return (
        f"You signed in to {label} as {signed_in}, but this link is for {whose}, so nothing "
        f"was linked and Mio has revoked that sign-in. Your admin sees this request as failed: "
        f"ask them for a new link, and sign in to {label} as {owner or person.display_name} "
        "when you open it."
    )


@dataclass(frozen=True)
class CallbackResult:
    ok: bool
    title: str
    sentence: str
    status: int = 200


async def oauth_callback(
    core: Core, platform: str, code: str | None, state: str | None, error: str | None
) -> CallbackResult:
    """Exchange the code and check who authorized; the state is spent before any network."""
    if platform not in core.platforms:
        return CallbackResult(
            False, "Unknown platform", f"Mio is not connected to {platform!r}.", 404
        )
    if not state:
        return CallbackResult(
            False, "Link not valid", "This sign-in link is missing its state.", 400
        )
    now = core.clock.now()
    spent = await _spend_state(core, platform, state, now)
    if isinstance(spent, CallbackResult):
        return spent
    sync_id, person_id = spent
    label = core.label(platform)
    if error or not code:
        async with core.transaction() as session:
            await lifecycle.fail_sync(
                session, core, sync_id, Event.OAUTH_FAILED, detail=error or "no code"
            )
        return CallbackResult(
            False,
            f"Not linked to {label}",
            f"{label} did not authorize the link ({error or 'no code'}).",
            400,
        )
    try:
        grant = await core.platforms[platform].exchange_code(code, core.redirect_uri(platform))
    except PlatformError as exc:
        log.warning("code exchange failed on %s: %s", platform, exc)
        async with core.transaction() as session:
            await lifecycle.fail_sync(session, core, sync_id, Event.OAUTH_FAILED, detail=exc.reason)
        return CallbackResult(
            False,
            f"Not linked to {label}",
            f"{label} refused the sign-in ({exc.reason}). Ask your admin to try again.",
            502,
        )
    async with core.transaction() as session:
        return await _link(session, core, platform, sync_id, person_id, grant, now)


async def _spend_state(
    core: Core, platform: str, state: str, now: datetime
) -> CallbackResult | tuple[int, int]:
    """Claim the state in its own transaction, so a reload or a second tab finds it used even
    while the first is still waiting for the platform. Returns (sync id, person id)."""
    async with core.transaction() as session:
        sync = await Syncs(session).by_token(token_hash(state))
        if (
            sync is None
            or sync.platform != platform
            or sync.status not in (Status.PENDING, Status.SYNCED)  # synced: a re-link
            or sync.allowed_at is None
        ):
            return CallbackResult(
                False, "Link not valid", "This sign-in link was already used or withdrawn.", 400
            )
        if sync.token_expires_at is not None and sync.token_expires_at <= now:
            await lifecycle.fail_sync(session, core, sync.id, Event.EXPIRED)
            return CallbackResult(False, "Link expired", describe_reason("expired"), 400)
        if not await Syncs(session).claim_token(sync.id, token_hash(state)):
            return CallbackResult(
                False, "Link not valid", "This sign-in link was already used.", 400
            )
        return sync.id, sync.person_id


async def _link(
    session: AsyncSession,
    core: Core,
    platform: str,
    sync_id: int,
    person_id: int,
    grant: TokenGrant,
    now: datetime,
) -> CallbackResult:
    """Keep the grant only if it is the person's own account; otherwise revoke it (queued, so
    a crash cannot lose it) and fail the sync."""
    label = core.label(platform)
    person, accounts, _ = await lifecycle.load(session, person_id, lock=True)
    sync = await Syncs(session).by_id(sync_id, lock=True)
    if sync is None or sync.status not in (Status.PENDING, Status.SYNCED):
        return CallbackResult(
            False, "Request withdrawn", "An admin withdrew this request meanwhile.", 409
        )
    account = lifecycle.active_account(accounts, platform)
    sealed = core.vault.seal(
        {
            "user_id": grant.identity.user_id,
            "email": grant.identity.email,
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "scope": grant.scope,
        }
    )
    if not lifecycle.identity_matches(grant, person, account):
        await outbox.revoke(
            session,
            core,
            platform,
            person.id,
            sealed,
            key=f"revoke:mismatch:{sync.id}:{now.timestamp()}",
        )
        await lifecycle.fail_sync(
            session,
            core,
            sync.id,
            Event.IDENTITY_MISMATCH,
            detail=f"authorized as {grant.identity.user_id}",
        )
        return CallbackResult(
            False, f"Not linked to {label}", _not_yours(label, grant, person, account), 403
        )
    await _synced(session, core, sync, grant, sealed, now)
    return CallbackResult(
        True,
        f"Linked to {label}",
        f"You're all set, {person.display_name}. You can close this tab.",
    )


async def _synced(
    session: AsyncSession, core: Core, sync: Sync, grant: TokenGrant, sealed: str, now: datetime
) -> None:
    """Store the grant, mark the sync synced and turn the consent DM into its outcome."""
    platform = sync.platform
    await Grants(session).save(
        {
            "person_id": sync.person_id,
            "platform": platform,
            "platform_user_id": grant.identity.user_id,
            "tokens": sealed,
            "expires_at": lifecycle.expires_in(now, grant),
            "created_at": now,
        }
    )
    relinked = sync.status == Status.SYNCED  # a re-link keeps the sync, with the new grant
    if not relinked:
        sync.status = advance(Status.PENDING, Event.AUTHORIZED)
    sync.reason, sync.updated_at, sync.next_due_at = None, now, None
    Audit(session).add(
        now,
        f"{platform}:{grant.identity.user_id}",
        "sync.relinked" if relinked else "sync.synced",
        sync.person_id,
        platform=platform,
    )
    # The relay: the person's DMs there reach Mio from now on, and what waited for them goes.
    await subscriptions.synced(session, core, sync.person_id, platform, sync.token_hash or "")
    await tokens.release(session, core, sync.id)
    if sync.dm_ref:
        await outbox.update_dm(
            session,
            core,
            codec.load_ref(sync.dm_ref),
            messages.synced(core.label(platform)),
            key=f"synced:{sync.id}",
        )
