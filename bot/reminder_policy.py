"""When a pending sync is reminded or expires, from the settings' durations.

Pure, like `bot.sync`: callers pass the request time, the reminders sent and `now`, so the
schedule can be tested without a clock and the reminder loop only stores what it returns.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE | re.ASCII)


def parse_duration(text: str) -> timedelta:
    """Durations as operators write them in settings: `90m`, `36h`, `1d`, `2w`."""
    match = _DURATION.fullmatch(text)
    if match is not None:
        with contextlib.suppress(OverflowError):  # too large: refused below like any typo
            return timedelta(**{_UNITS[match[2].lower()]: int(match[1])})
    raise ValueError(
        f"Unrecognised duration {text!r}: use a whole number and a unit (s, m, h, d or w), "
        f"like 90m, 36h, 1d or 2w."
    )


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """A comma-separated list (`1d,3d`); empty means none, e.g. no reminders."""
    if not text.strip():
        return ()
    result = []
    for part in text.split(","):
        try:
            result.append(parse_duration(part))
        except ValueError as exc:
            raise ValueError(f"{exc} (in {text!r})") from None
    return tuple(result)


@dataclass(frozen=True)
class ReminderPolicy:
    after: tuple[timedelta, ...]  # since the consent request, e.g. (1d, 3d)
    expires_after: timedelta  # since the consent request, e.g. 7d

    def __post_init__(self) -> None:
        # Validated here so a bad setting stops the bot at start, not a reminder months later.
        steps = (timedelta(0), *self.after, self.expires_after)
        for before, step in pairwise(steps):
            if step <= before:
                raise ValueError(
                    f"Reminder times must be positive, increasing and before the expiry "
                    f"({self.expires_after}); got {step} after {before}."
                )

    @classmethod
    def parse(cls, after: str, expires_after: str) -> ReminderPolicy:
        """From the settings' strings (`MIO_REMINDER_AFTER`, `MIO_PENDING_EXPIRES_AFTER`)."""
        return cls(parse_durations(after), parse_duration(expires_after))


class Due(StrEnum):
    WAIT = "wait"  # nothing to do yet
    REMIND = "remind"  # send the next reminder
    EXPIRE = "expire"  # fail the sync as expired


def reminders_passed(requested_at: datetime, now: datetime, policy: ReminderPolicy) -> int:
    """How many reminder times have passed; store it after reminding so an outage that
    missed several reminders sends one, not a burst."""
    return sum(1 for step in policy.after if now >= requested_at + step)


def reminder_step(
    requested_at: datetime, reminders_sent: int, now: datetime, policy: ReminderPolicy
) -> Due:
    """What a pending sync needs at `now`; expiry wins over a late reminder."""
    if now >= requested_at + policy.expires_after:
        return Due.EXPIRE
    if reminders_sent < reminders_passed(requested_at, now, policy):
        return Due.REMIND
    return Due.WAIT


def next_due_at(requested_at: datetime, reminders_sent: int, policy: ReminderPolicy) -> datetime:
    """When to look at the sync again, so the scheduler can index due work instead of polling."""
    if 0 <= reminders_sent < len(policy.after):
        return requested_at + policy.after[reminders_sent]
    return requested_at + policy.expires_after
