"""Who can reach whom: the relay's rules as one pure function, like `bot.sync` for syncs.

No I/O, no clock (callers pass `now`), no database: `route` takes what the core knows about
the two people and says where a message goes, or why it goes nowhere and whom to tell. The
rules are DESIGN.md's "Relay" section and RELAY_PLAN.md's model:

- a DM arrives on the recipient's primary platform Q; written on Q already, it is not a relay;
- both must be reachable: the recipient synced (✅) on the written platform P, and the sender
  present on Q: their own account through a consent sync (Mio posts with their user token) or
  the bot through a represented sync (Mio posts with their name);
- a sender whose token was refused less than `TOKEN_GRACE` ago is still delivered to: the
  message waits, sealed, until they link again (issue 10 §6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_GRACE = timedelta(hours=24)  # how long a message waits for its sender to link again
TOKEN_REVOKED = "token_revoked"  # the sync failure reason of a refused user token


class Via(StrEnum):
    USER = "user"  # posted as the sender with their user token
    BOT = "bot"  # posted by the Mio bot, showing the sender's name


class Reason(StrEnum):
    """Why a message was not relayed; each has a sentence for the sender (`bot.relay.tell`)."""

    NOT_A_RELAY = "not_a_relay"  # written where the recipient lives: nothing to do, silently
    NO_PRIMARY = "no_primary"  # the recipient has no primary platform yet
    NO_ACCOUNT = "no_account"  # the recipient has no active account on their primary
    RECIPIENT_NOT_SYNCED = "recipient_not_synced"  # not synced on the written platform
    RECIPIENT_PENDING = "recipient_pending"  # their sync there waits for their consent
    SENDER_NOT_SYNCED = "sender_not_synced"  # the sender is not synced on the recipient's primary
    SENDER_PENDING = "sender_pending"  # the sender's sync there waits for their consent
    SENDER_TOKEN_REVOKED = "sender_token_revoked"  # refused more than TOKEN_GRACE ago
    SAME_PRIMARY = "same_primary"  # both live on Q: the sender should write there


@dataclass(frozen=True, slots=True)
class SyncFact:
    id: int
    status: str  # bot.sync.Status values
    kind: str  # "consent" | "represented"
    reason: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonView:
    """One person as routing needs them: primary, own active accounts, syncs by platform."""

    person_id: int
    name: str
    primary: str | None
    accounts: Mapping[str, str] = field(default_factory=dict)  # platform → account id
    syncs: Mapping[str, SyncFact] = field(default_factory=dict)  # platform → sync

    def synced(self, platform: str) -> bool:
        sync = self.syncs.get(platform)
        return sync is not None and sync.status == "synced"

    def own_account(self, platform: str) -> str | None:
        """Their own account id on `platform`: their primary, or a consent sync that is synced
        (Mio holds their token there); None where the bot represents them, or nowhere."""
        sync = self.syncs.get(platform)
        on_primary = self.primary == platform
        if on_primary or (sync is not None and sync.status == "synced" and sync.kind == "consent"):
            return self.accounts.get(platform)
        return None


@dataclass(frozen=True, slots=True)
class Deliver:
    target: str  # the recipient's primary platform
    via: Via
    to_user_id: str  # the recipient's account there
    sync_id: int | None  # the sender's consent sync on the target (posts as the sender)
    waiting_until: datetime | None = None  # set: queue it waiting for the sender to link again


@dataclass(frozen=True, slots=True)
class NotRelayed:
    reason: Reason
    tell: int | None  # the sender's person id, to be told why (None: nobody is told)
    # (person id, platform) of each pending sync in the way: that person is asked again
    prompt: tuple[tuple[int, str], ...] = ()


Verdict = Deliver | NotRelayed


def route(sender: PersonView, recipient: PersonView, written_on: str, now: datetime) -> Verdict:
    """Where a message `sender` wrote to `recipient` on `written_on` goes, or why not.

    How it was captured (through the recipient's subscription, or written to the bot) does
    not change the answer: either way the recipient must be synced on `written_on` (with
    consent for the first, represented for the second, which the capture itself shows), and
    delivery depends only on how the sender is present on the recipient's primary.
    """
    target = recipient.primary
    if target == written_on:
        return NotRelayed(Reason.NOT_A_RELAY, None)
    if target is None:
        return NotRelayed(Reason.NO_PRIMARY, sender.person_id)
    to_user = recipient.accounts.get(target)
    if to_user is None:
        return NotRelayed(Reason.NO_ACCOUNT, sender.person_id)
    prompt = _pending(recipient, written_on) + _pending(sender, target)
    if not recipient.synced(written_on):
        reason = Reason.RECIPIENT_PENDING if _is_pending(recipient, written_on) else None
        return NotRelayed(reason or Reason.RECIPIENT_NOT_SYNCED, sender.person_id, prompt)
    return _sender_side(sender, target, to_user, now, prompt)


def _sender_side(
    sender: PersonView,
    target: str,
    to_user: str,
    now: datetime,
    prompt: tuple[tuple[int, str], ...],
) -> Verdict:
    """How the sender is present on the recipient's primary, which decides how Mio posts."""
    if sender.primary == target:
        return NotRelayed(Reason.SAME_PRIMARY, sender.person_id)
    sync = sender.syncs.get(target)
    if sync is None:
        return NotRelayed(Reason.SENDER_NOT_SYNCED, sender.person_id)
    if sync.status == "synced":
        via = Via.USER if sync.kind == "consent" else Via.BOT
        return Deliver(target, via, to_user, sync.id if via is Via.USER else None)
    if sync.status == "pending":
        return NotRelayed(Reason.SENDER_PENDING, sender.person_id, prompt)
    if sync.status == "failed" and sync.reason == TOKEN_REVOKED and sync.kind == "consent":
        deadline = (sync.updated_at or now) + TOKEN_GRACE
        if deadline > now:
            return Deliver(target, Via.USER, to_user, sync.id, waiting_until=deadline)
        return NotRelayed(Reason.SENDER_TOKEN_REVOKED, sender.person_id)
    return NotRelayed(Reason.SENDER_NOT_SYNCED, sender.person_id)


def _is_pending(person: PersonView, platform: str) -> bool:
    """A sync waiting for the person's consent (never on their primary: none exists there)."""
    sync = person.syncs.get(platform)
    return sync is not None and sync.status == "pending" and person.primary != platform


def _pending(person: PersonView, platform: str) -> tuple[tuple[int, str], ...]:
    return ((person.person_id, platform),) if _is_pending(person, platform) else ()


def conversation_key(a: int, b: int) -> str:
    """The outbox ordering key of the conversation between two people, both directions."""
    return f"relay:{min(a, b)}:{max(a, b)}"
