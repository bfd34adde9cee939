"""What the relay says to people, and how often: once per correspondent per period.

A sender whose message was not relayed is told why and what to do, by the bot, on the platform
they wrote on; the person whose pending sync is in the way gets their consent DM again (a new
token, as a reminder does). Each is throttled through `relay_prompts` (MIO_RELAY_PROMPT_EVERY,
default one day), claimed by a conditional write so that, of several processes, one speaks.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle, messages, outbox
from bot.core import Core
from bot.crypto import new_token, token_hash
from bot.relay import people
from bot.relay.routing import NotRelayed, PersonView, Reason
from bot.sync import Status
from bot.types import Text
from store.repositories import Audit, RelayPrompts, Syncs

log = logging.getLogger(__name__)

TOLD, WAITING, EXPIRED, PROMPTED = "told", "waiting", "expired", "prompted"

# Why a message was not relayed, and what to do: {name} is the recipient, {here} the platform
# the sender wrote on, {there} the recipient's primary.
SENTENCES: dict[Reason, str] = {
    Reason.NO_PRIMARY: "Your message to {name} wasn't relayed: they have no main platform "
    "yet. Ask a Mio admin to choose one for them.",
    Reason.NO_ACCOUNT: "Your message to {name} wasn't relayed: they have no active account "
    "on {there}. Ask a Mio admin to check their accounts.",
    Reason.RECIPIENT_NOT_SYNCED: "Your message to {name} wasn't relayed: they read messages "
    "on {there} and aren't synced to {here}. Ask a Mio admin to sync them to {here}.",
    Reason.RECIPIENT_PENDING: "Your message to {name} wasn't relayed: {name} hasn't allowed "
    "messages from {here} yet. Mio has asked them again.",
    Reason.SENDER_NOT_SYNCED: "Your message to {name} wasn't relayed: they read messages on "
    "{there}, where you aren't synced. Ask a Mio admin to sync you to {there}.",
    Reason.SENDER_PENDING: "Your message to {name} wasn't relayed: you haven't linked your "
    "{there} account yet. Mio has sent you the link again.",
    Reason.SENDER_TOKEN_REVOKED: "Your message to {name} wasn't relayed: your {there} link "
    "stopped working. Ask a Mio admin to sync you to {there} again.",
    Reason.SAME_PRIMARY: "{name} reads messages on {there}, as you do: write to them there.",
}
WAITING_SENTENCE = (
    "Your message to {name} is waiting: your {there} link stopped working. Link it again "
    "(Mio has sent you the link) within 24 hours and it will be delivered."
)
EXPIRED_SENTENCE = (
    "Your message to {name} was not delivered: your {there} link was not renewed within 24 hours."
)


async def not_relayed(
    session: AsyncSession,
    core: Core,
    verdict: NotRelayed,
    sender: PersonView,
    recipient: PersonView,
    here: str,
) -> None:
    """Tell the sender why (throttled), and ask each person whose pending sync is in the way
    to answer it (throttled)."""
    template = SENTENCES.get(verdict.reason)
    if verdict.tell is not None and template is not None:
        there = recipient.primary or here
        await _say(session, core, TOLD, sender, recipient, here, there, template)
    for person_id, platform in verdict.prompt:
        await reprompt(session, core, person_id, platform)


async def waiting(
    session: AsyncSession,
    core: Core,
    sender: PersonView,
    recipient: PersonView,
    here: str,
    there: str,
) -> None:
    await _say(session, core, WAITING, sender, recipient, here, there, WAITING_SENTENCE)


async def waiting_by_id(
    session: AsyncSession, core: Core, sender_id: int, recipient_id: int, here: str, there: str
) -> None:
    """`waiting`, for a post that found the token refused (the outbox knows ids only)."""
    sender = await people.view(session, sender_id)
    recipient = await people.view(session, recipient_id)
    if sender is not None and recipient is not None:
        await waiting(session, core, sender, recipient, here, there)


async def expired_by_id(
    session: AsyncSession, core: Core, sender_id: int, recipient_id: int, here: str, there: str
) -> None:
    sender = await people.view(session, sender_id)
    recipient = await people.view(session, recipient_id)
    if sender is not None and recipient is not None:
        await _say(session, core, EXPIRED, sender, recipient, here, there, EXPIRED_SENTENCE)


async def _say(
    session: AsyncSession,
    core: Core,
    kind: str,
    sender: PersonView,
    recipient: PersonView,
    here: str,
    there: str,
    template: str,
) -> None:
    """One DM from the bot to the sender on `here`, once per correspondent per period."""
    account = sender.accounts.get(here)
    if account is None:
        return
    now = core.clock.now()
    since = now - core.settings.relay_prompt_every
    prompts = RelayPrompts(session)
    if not await prompts.claim(kind, sender.person_id, recipient.person_id, now, since):
        return
    text = Text.format(
        template, name=recipient.name, here=core.label(here), there=core.label(there)
    )
    await outbox.send_dm(
        session,
        core,
        await people.directory_user(session, here, account),
        messages.note(text),
        key=f"relay-{kind}:{sender.person_id}:{recipient.person_id}:{now.timestamp()}",
    )
    log.info("relay: told person %s (%s)", sender.person_id, kind)


async def reprompt(session: AsyncSession, core: Core, person_id: int, platform: str) -> bool:
    """The consent DM again for a pending sync, with a new token (the older DM's buttons stop
    working, as after a reminder); at most once per period per person."""
    sync = await Syncs(session).get(person_id, platform, lock=True)
    if sync is None or sync.status != Status.PENDING:
        return False
    now = core.clock.now()
    since = now - core.settings.relay_prompt_every
    if not await RelayPrompts(session).claim(PROMPTED, person_id, 0, now, since):
        return False
    person, accounts, _ = await lifecycle.load(session, person_id)
    target = lifecycle.active_account(accounts, sync.primary_platform)
    if target is None:
        return False
    token = new_token()
    sync.token_hash, sync.token_used = token_hash(token), False
    secondary = core.label(sync.platform)
    if sync.allowed_at is not None:  # they allowed but never signed in: the sign-in again
        url = core.platforms[sync.platform].authorize_url(token, core.redirect_uri(sync.platform))
        message = messages.authorize_step(secondary, url, reminder=True)
    else:
        primary = core.label(sync.primary_platform)
        message = messages.consent_request(person.display_name, primary, secondary, token)
    await outbox.send_dm(
        session,
        core,
        lifecycle.as_user(target),
        message,
        key=f"relay-prompt:{sync.id}:{now.timestamp()}",
        sync_id=sync.id,
    )
    Audit(session).add(now, "system", "sync.reprompted", person_id, platform=sync.platform)
    return True
