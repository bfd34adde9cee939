"""The sync state machine and the rules around it, as DESIGN.md's status table states them.

Pure on purpose: no I/O, no clock (callers pass `now`), no database. The services store the
status and call `advance`, so every change of state in the system goes through one table that
can be read, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

# The reminder schedule has its own module; these names stay importable from here.
from bot.reminder_policy import Due as Due
from bot.reminder_policy import ReminderPolicy as ReminderPolicy
from bot.reminder_policy import next_due_at as next_due_at
from bot.reminder_policy import parse_duration as parse_duration
from bot.reminder_policy import parse_durations as parse_durations
from bot.reminder_policy import reminder_step as reminder_step
from bot.reminder_policy import reminders_passed as reminders_passed


class Status(StrEnum):
    """One person × secondary platform."""

    NOT_CREATED = "not_created"  # 🔁 no sync yet; left when an admin requests one
    PENDING = "pending"  # 🕒 consent DM sent on the primary platform; waiting for the person
    SYNCED = "synced"  # ✅ the person is reachable there; left by unsync or reset
    FAILED = "failed"  # ⚠️ did not complete; the reason is kept; left when an admin re-attempts


ICONS: Mapping[Status, str] = MappingProxyType(
    {Status.NOT_CREATED: "🔁", Status.PENDING: "🕒", Status.SYNCED: "✅", Status.FAILED: "⚠️"}
)
LABELS: Mapping[Status, str] = MappingProxyType(
    {s: s.value.replace("_", " ") for s in Status}  # "not created", as people read it
)


class SyncKind(StrEnum):
    CONSENT = "consent"  # existing account: the person allows, then authorizes (OAuth)
    REPRESENTED = "represented"  # no account there: the bot represents them; done at once


class Event(StrEnum):
    REQUEST_CONSENT = "request_consent"  # admin asked for an existing-account sync; DM queued
    REQUEST_REPRESENTED = "request_represented"  # admin asked for a represented sync
    ALLOWED = "allowed"  # the person pressed Allow; waiting for OAuth
    REMINDED = "reminded"  # a reminder DM was queued
    AUTHORIZED = "authorized"  # OAuth done and the identity is the person's own account
    DECLINED = "declined"  # the person pressed Decline
    UNDELIVERABLE = "undeliverable"  # the consent DM could not be delivered
    OAUTH_FAILED = "oauth_failed"  # the OAuth exchange failed or was cancelled
    IDENTITY_MISMATCH = "identity_mismatch"  # someone else's account was authorized
    EXPIRED = "expired"  # the reminders ran out without an answer
    ACCOUNT_INACTIVE = "account_inactive"  # a needed account vanished or was deactivated
    TOKEN_REVOKED = "token_revoked"  # the platform refused the person's user token (relay)
    UNSYNC = "unsync"  # an admin unsynced this platform
    RESET = "reset"  # an admin reset the person


_N, _P, _S, _F = Status.NOT_CREATED, Status.PENDING, Status.SYNCED, Status.FAILED

TRANSITIONS: Mapping[tuple[Status, Event], Status] = MappingProxyType(
    {
        # not created: an admin requests a sync (or resets, which changes nothing)
        (_N, Event.REQUEST_CONSENT): _P,
        (_N, Event.REQUEST_REPRESENTED): _S,
        (_N, Event.RESET): _N,
        # pending: allowed and authorized → synced; any failure → failed
        (_P, Event.ALLOWED): _P,
        (_P, Event.REMINDED): _P,
        (_P, Event.AUTHORIZED): _S,
        (_P, Event.DECLINED): _F,
        (_P, Event.UNDELIVERABLE): _F,
        (_P, Event.OAUTH_FAILED): _F,
        (_P, Event.IDENTITY_MISMATCH): _F,
        (_P, Event.EXPIRED): _F,
        (_P, Event.ACCOUNT_INACTIVE): _F,
        (_P, Event.UNSYNC): _N,
        (_P, Event.RESET): _N,
        # synced: an admin unsyncs or resets; an account it needs goes away, or its token is refused
        (_S, Event.ACCOUNT_INACTIVE): _F,
        (_S, Event.TOKEN_REVOKED): _F,
        (_S, Event.UNSYNC): _N,
        (_S, Event.RESET): _N,
        # failed: an admin re-attempts, unsyncs or resets
        (_F, Event.REQUEST_CONSENT): _P,
        (_F, Event.REQUEST_REPRESENTED): _S,
        (_F, Event.UNSYNC): _N,
        (_F, Event.RESET): _N,
    }
)

# The reason code stored on a failed sync: exactly the events that lead to FAILED.
FAILURE_REASONS: Mapping[Event, str] = MappingProxyType(
    {
        Event.DECLINED: "declined",
        Event.UNDELIVERABLE: "undeliverable",
        Event.OAUTH_FAILED: "oauth_failed",
        Event.IDENTITY_MISMATCH: "identity_mismatch",
        Event.EXPIRED: "expired",
        Event.ACCOUNT_INACTIVE: "account_inactive",
        Event.TOKEN_REVOKED: "token_revoked",
    }
)


class InvalidTransition(Exception):
    """An event that the table does not allow from the current status: a bug or a race."""

    def __init__(self, status: Status, event: Event) -> None:
        allowed = ", ".join(sorted(allowed_events(status))) or "none"
        super().__init__(
            f"Cannot apply event {event.value!r} to a sync that is {status.value!r} "
            f"(allowed from {status.value!r}: {allowed})."
        )
        self.status = status
        self.event = event


def advance(status: Status, event: Event) -> Status:
    """The only way a status changes, so an illegal move fails loudly instead of persisting."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition(status, event) from None


def allowed_events(status: Status) -> frozenset[Event]:
    """Lets UIs offer only the actions that can succeed from `status`."""
    return frozenset(e for (s, e) in TRANSITIONS if s is status)


def describe_reason(reason: str, platform_label: str | None = None) -> str:
    """A failure reason as an admin should read it; `platform_label` is the sync's platform.

    Never raises: reasons come from the database, which may hold codes newer than this code.
    """
    on = f" on {platform_label}" if platform_label else ""
    known = {
        "declined": "They declined the request.",
        "undeliverable": "The consent message could not be delivered to them.",
        "oauth_failed": f"Signing in{on} did not complete.",
        "identity_mismatch": f"They signed in{on} with an account that is not theirs.",
        "expired": "They did not answer in time, so the request expired.",
        "account_inactive": "An account this sync needs was deactivated or left the directory.",
        "token_revoked": f"Their sign-in{on} stopped working; they were asked to link again.",
    }
    code = str(reason).strip()
    if code in known:
        return known[code]
    readable = code.replace("_", " ")
    return f"The sync failed ({readable})." if readable else "The sync failed."


def reason_for_person(reason: str, platform_label: str | None = None) -> str:
    """The same failure told to the person whose sync it was: addressed to them, with what
    happens next (their admin sees the failure and can send a new request)."""
    on = f" to {platform_label}" if platform_label else ""
    known = {
        "declined": "You declined, so nothing was linked.",
        "undeliverable": "Mio could not deliver the request to you.",
        "oauth_failed": f"Signing in{on} did not complete, so nothing was linked.",
        "identity_mismatch": f"You signed in{on} with an account that is not yours, so nothing "
        "was linked and Mio revoked that sign-in.",
        "expired": "The request expired before you answered.",
        "account_inactive": "An account this link needs was deactivated or left the directory.",
        "token_revoked": f"Your sign-in{on} stopped working, so messages wait until you link "
        "again.",
    }
    told = known.get(str(reason).strip(), "The link could not be completed.")
    return f"{told} Your admin sees this; ask them for a new request if you still want the link."


# --- Rules: whether a sync (or a primary choice) may be made ---------------------------------


@dataclass(frozen=True)
class PersonFacts:
    primary: str | None  # primary platform
    active_platforms: frozenset[str]  # platforms with an active, non-bot account
    statuses: Mapping[str, Status]  # per secondary platform; missing means NOT_CREATED


@dataclass(frozen=True)
class OrgFacts:
    connected: frozenset[str]  # connected platforms
    required_platform: str | None  # every synced person needs an account there; None = off


class Rule(StrEnum):
    NO_PRIMARY = "no_primary"
    PRIMARY_INACTIVE = "primary_inactive"
    SAME_PLATFORM = "same_platform"
    NOT_CONNECTED = "not_connected"
    REQUIRED_PLATFORM_MISSING = "required_platform_missing"
    ALREADY_PENDING = "already_pending"
    ALREADY_SYNCED = "already_synced"
    NO_ACCOUNT = "no_account"  # primary choice: no active account on that platform
    SYNC_IN_USE = "sync_in_use"  # primary choice: that platform is a pending/synced secondary


class Refused(Exception):
    """A rule said no; `message` says which, `fix` says what the admin can do about it."""

    def __init__(self, rule: Rule, message: str, fix: str) -> None:
        super().__init__(f"{message} {fix}")
        self.rule = rule
        self.message = message
        self.fix = fix


class SyncRefused(Refused):
    """A sync cannot be requested."""


class PrimaryRefused(Refused):
    """A platform cannot be made the person's primary."""


Label = Callable[[str], str]


def _listing(platforms: frozenset[str], label: Label) -> str:
    names = [label(p) for p in sorted(platforms)] or ["no platform"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plan_sync(
    person: PersonFacts, org: OrgFacts, secondary: str, label: Label = str.title
) -> SyncKind:
    """Check every rule before anything is written, so a refusal never leaves half a sync."""
    refused = _primary_unusable(person, org, secondary, label) or _secondary_unusable(
        person, org, secondary, label
    )
    if refused is not None:
        raise refused
    return SyncKind.CONSENT if secondary in person.active_platforms else SyncKind.REPRESENTED


def _primary_unusable(
    person: PersonFacts, org: OrgFacts, secondary: str, label: Label
) -> SyncRefused | None:
    """The consent DM goes to the primary platform, so it must exist, be live and differ."""
    primary = person.primary
    if primary is None:
        if person.active_platforms:
            have = _listing(person.active_platforms, label)
            return SyncRefused(
                Rule.NO_PRIMARY,
                f"This person has no primary platform yet (they have accounts on {have}).",
                "Choose one first with `/mio primary <user> <platform>`.",
            )
        return SyncRefused(
            Rule.NO_PRIMARY,
            "This person has no active account on any platform, so no primary platform.",
            "Add them on a platform and run `/mio import`, then set their primary.",
        )
    if primary not in person.active_platforms:
        return SyncRefused(
            Rule.PRIMARY_INACTIVE,
            f"Their {label(primary)} account, on their primary platform, is inactive or gone.",
            f"Choose another primary with `/mio primary <user> <platform>`, or reactivate "
            f"the account and run `/mio import {primary}`.",
        )
    if secondary == primary:
        return SyncRefused(
            Rule.SAME_PLATFORM,
            f"{label(primary)} is their primary platform, so it cannot also be synced to.",
            "Pick another platform, or change their primary first with `/mio primary`.",
        )
    if primary not in org.connected:
        return SyncRefused(
            Rule.NOT_CONNECTED,
            f"{label(primary)}, their primary platform, is not connected.",
            f"Reconnect {label(primary)}, or choose another primary with `/mio primary`.",
        )
    return None


def _secondary_unusable(
    person: PersonFacts, org: OrgFacts, secondary: str, label: Label
) -> SyncRefused | None:
    """The platform synced to must be connected, allowed by the org, and not already done."""
    if secondary not in org.connected:
        return SyncRefused(
            Rule.NOT_CONNECTED,
            f"{label(secondary)} is not connected.",
            f"Add {label(secondary)}'s credentials to the bot's settings, restart it and "
            f"run `/mio import {secondary}`.",
        )
    required = org.required_platform
    if required is not None and required not in person.active_platforms:
        return SyncRefused(
            Rule.REQUIRED_PLATFORM_MISSING,
            f"This person has no active {label(required)} account, and every synced person "
            f"needs one.",
            f"Add them to {label(required)} and run `/mio import {required}`, or turn the "
            f"rule off with an empty MIO_REQUIRED_PLATFORM.",
        )
    current = person.statuses.get(secondary, Status.NOT_CREATED)
    if current is Status.PENDING:
        return SyncRefused(
            Rule.ALREADY_PENDING,
            f"A sync to {label(secondary)} is already waiting for their consent.",
            f"Wait for their answer, or cancel it with `/mio unsync <user> {secondary}` "
            f"and ask again.",
        )
    if current is Status.SYNCED:
        return SyncRefused(
            Rule.ALREADY_SYNCED,
            f"They are already synced to {label(secondary)}.",
            f"Nothing to do; to start over, `/mio unsync <user> {secondary}` first.",
        )
    return None


def check_primary(
    person: PersonFacts, org: OrgFacts, platform: str, label: Label = str.title
) -> None:
    """The primary is where consent DMs go and messages are sent from, so it must be live."""
    if platform not in org.connected:
        raise PrimaryRefused(
            Rule.NOT_CONNECTED,
            f"{label(platform)} is not connected, so it cannot be a primary platform.",
            f"Connect {label(platform)} first, or choose a connected platform.",
        )
    if platform not in person.active_platforms:
        usable = person.active_platforms & org.connected
        fix = (
            f"Choose one where they have an account: {_listing(usable, label)}."
            if usable
            else f"Add them to {label(platform)} and run `/mio import {platform}` first."
        )
        raise PrimaryRefused(
            Rule.NO_ACCOUNT, f"This person has no active {label(platform)} account.", fix
        )
    current = person.statuses.get(platform, Status.NOT_CREATED)
    if platform != person.primary and current in (Status.PENDING, Status.SYNCED):
        raise PrimaryRefused(
            Rule.SYNC_IN_USE,
            f"Their sync to {label(platform)} is {LABELS[current]}, so it cannot become "
            f"their primary platform.",
            f"Unsync it first with `/mio unsync <user> {platform}`.",
        )


def auto_primary(
    active_platforms: frozenset[str], current: str | None, chosen_by_admin: bool
) -> str | None:
    """The primary after a (re-)import: import must never silently override an admin's choice.

    A primary set automatically because the person had one account is only a default: once a
    second account appears, the admin decides (DESIGN.md, Words: primary platform).
    """
    if chosen_by_admin and current in active_platforms:
        return current
    if len(active_platforms) == 1:
        (only,) = active_platforms
        return only
    return None


# --- Consent tokens --------------------------------------------------------------------------


class PressVerdict(StrEnum):
    OK = "ok"
    WRONG_PERSON = "wrong_person"  # pressed by someone the message was not sent to
    USED = "used"  # already answered once
    EXPIRED = "expired"  # past its expiry
    STALE = "stale"  # superseded: not the sync's current token


def check_press(
    *,
    expected_user: str,
    actual_user: str,
    used: bool,
    expires_at: datetime,
    now: datetime,
    token_matches: bool,
) -> PressVerdict:
    """A consent button or OAuth state works once, for one person, until it expires.

    The wrong person is checked first so a stranger learns nothing about the request.
    """
    if actual_user != expected_user:
        return PressVerdict.WRONG_PERSON
    if not token_matches:
        return PressVerdict.STALE
    if used:
        return PressVerdict.USED
    if now >= expires_at:
        return PressVerdict.EXPIRED
    return PressVerdict.OK
