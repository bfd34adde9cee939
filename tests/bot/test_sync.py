"""The sync state machine, the sync rules, reminders and consent tokens (bot/sync.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reminder_policy import (
    Due,
    ReminderPolicy,
    next_due_at,
    parse_duration,
    parse_durations,
    reminder_step,
    reminders_passed,
)
from bot.sync import (
    FAILURE_REASONS,
    ICONS,
    Event,
    InvalidTransition,
    OrgFacts,
    PersonFacts,
    PressVerdict,
    PrimaryRefused,
    Rule,
    Status,
    SyncKind,
    SyncRefused,
    advance,
    allowed_events,
    auto_primary,
    check_press,
    check_primary,
    describe_reason,
    plan_sync,
    reason_for_person,
)

# --- the transition table, written out from DESIGN.md independently of TRANSITIONS ----------

# Rows are events, columns the status before; "-" means the move is illegal.
EXPECTED = """
event                 not_created  pending      synced       failed
request_consent       pending      -            -            pending
request_represented   synced       -            -            synced
allowed               -            pending      -            -
reminded              -            pending      -            -
authorized            -            synced       -            -
declined              -            failed       -            -
undeliverable         -            failed       -            -
oauth_failed          -            failed       -            -
identity_mismatch     -            failed       -            -
expired               -            failed       -            -
account_inactive      -            failed       failed       -
token_revoked         -            -            failed       -
unsync                -            not_created  not_created  not_created
reset                 not_created  not_created  not_created  not_created
"""


def _expected() -> dict[tuple[str, str], str | None]:
    header, *rows = [line.split() for line in EXPECTED.strip().splitlines()]
    return {
        (status, row[0]): (None if cell == "-" else cell)
        for row in rows
        for status, cell in zip(header[1:], row[1:], strict=True)
    }


TABLE = _expected()


def test_table_covers_every_status_and_event() -> None:
    assert {s for s, _ in TABLE} == {s.value for s in Status}
    assert {e for _, e in TABLE} == {e.value for e in Event}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("event", list(Event))
def test_every_status_event_pair(status: Status, event: Event) -> None:
    expected = TABLE[(status.value, event.value)]
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            advance(status, event)
        assert info.value.status is status
        assert info.value.event is event
        assert status.value in str(info.value)
        assert event.value in str(info.value)
    else:
        assert advance(status, event) == Status(expected)


def test_allowed_events_match_the_table() -> None:
    for status in Status:
        legal = {Event(e) for (s, e), after in TABLE.items() if s == status and after}
        assert allowed_events(status) == legal


def test_every_status_has_its_icon() -> None:
    assert ICONS == {
        Status.NOT_CREATED: "🔁",
        Status.PENDING: "🕒",
        Status.SYNCED: "✅",
        Status.FAILED: "⚠️",
    }


def test_failure_reasons_are_the_events_that_fail_a_sync() -> None:
    assert dict(FAILURE_REASONS) == {
        Event.DECLINED: "declined",
        Event.UNDELIVERABLE: "undeliverable",
        Event.OAUTH_FAILED: "oauth_failed",
        Event.IDENTITY_MISMATCH: "identity_mismatch",
        Event.EXPIRED: "expired",
        Event.ACCOUNT_INACTIVE: "account_inactive",
        Event.TOKEN_REVOKED: "token_revoked",
    }


@given(
    start=st.sampled_from(Status),
    events=st.lists(st.sampled_from(Event), max_size=60),
)
def test_random_event_sequences_keep_the_invariants(start: Status, events: list[Event]) -> None:
    status = start
    reason: str | None = "unknown" if start is Status.FAILED else None
    for event in events:
        try:
            after = advance(status, event)
        except InvalidTransition:
            continue
        assert isinstance(after, Status)
        if event is Event.RESET:
            assert after is Status.NOT_CREATED
        if after is Status.FAILED:
            assert event in FAILURE_REASONS  # every failure has a reason to show
            reason = FAILURE_REASONS[event]
        else:
            reason = None
        if after is Status.SYNCED and status is not Status.SYNCED:
            assert event in (Event.AUTHORIZED, Event.REQUEST_REPRESENTED)
        assert (after is Status.FAILED) == (reason is not None)
        status = after


@pytest.mark.parametrize("reason", list(FAILURE_REASONS.values()))
def test_every_reason_reads_as_a_sentence(reason: str) -> None:
    text = describe_reason(reason)
    assert text[0].isupper() and text.endswith(".")
    assert "_" not in text


@pytest.mark.parametrize("reason", [*FAILURE_REASONS.values(), "scope_missing", ""])
def test_the_person_is_told_in_the_second_person_with_a_next_step(reason: str) -> None:
    text = reason_for_person(reason, "Zoom")
    assert text[0].isupper() and text.endswith(".")
    assert "They " not in text and "their" not in text and "_" not in text
    assert "ask them for a new request" in text


def test_describe_reason_examples() -> None:
    assert describe_reason("declined") == "They declined the request."
    assert "Teams" in describe_reason("identity_mismatch", "Teams")
    assert "Webex" in describe_reason("oauth_failed", "Webex")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("scope_missing", "The sync failed (scope missing)."),
        ("", "The sync failed."),
        ("  ", "The sync failed."),
    ],
)
def test_unknown_reasons_are_readable(reason: str, expected: str) -> None:
    assert describe_reason(reason) == expected


@given(st.text())
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        assert parse_duration(text) >= timedelta(0)
    except ValueError as exc:
        assert repr(text) in str(exc)


@given(st.text())
def test_describe_reason_never_raises(reason: str) -> None:
    assert describe_reason(reason, "Zoom").endswith(".")


# --- sync rules ---------------------------------------------------------------------------

ALL = frozenset({"slack", "teams", "webex", "zoom"})
ORG = OrgFacts(connected=ALL, required_platform="zoom")
BOB = PersonFacts(primary="slack", active_platforms=frozenset({"slack", "zoom"}), statuses={})
LABELS = {"slack": "Slack", "teams": "Microsoft Teams", "webex": "Webex", "zoom": "Zoom"}


def label(name: str) -> str:
    return LABELS[name]


def refusal(person: PersonFacts, org: OrgFacts, secondary: str) -> SyncRefused:
    with pytest.raises(SyncRefused) as info:
        plan_sync(person, org, secondary, label)
    return info.value


def test_existing_account_needs_consent() -> None:
    assert plan_sync(BOB, ORG, "zoom") is SyncKind.CONSENT


def test_no_account_is_represented() -> None:
    assert plan_sync(BOB, ORG, "teams") is SyncKind.REPRESENTED


def test_a_failed_sync_may_be_retried() -> None:
    bob = PersonFacts("slack", BOB.active_platforms, {"teams": Status.FAILED})
    assert plan_sync(bob, ORG, "teams") is SyncKind.REPRESENTED


def test_required_platform_off() -> None:
    alice = PersonFacts("slack", frozenset({"slack"}), {})
    assert plan_sync(alice, OrgFacts(ALL, None), "teams") is SyncKind.REPRESENTED


@pytest.mark.parametrize(
    ("person", "org", "secondary", "rule", "in_message", "in_fix"),
    [
        (
            PersonFacts(None, frozenset({"slack", "teams"}), {}),
            ORG, "zoom", Rule.NO_PRIMARY, "Slack and Microsoft Teams", "/mio primary",
        ),
        (
            PersonFacts(None, frozenset(), {}),
            ORG, "zoom", Rule.NO_PRIMARY, "no active account", "/mio import",
        ),
        (
            PersonFacts("webex", frozenset({"slack", "zoom"}), {}),
            ORG, "teams", Rule.PRIMARY_INACTIVE, "Webex", "/mio import webex",
        ),
        (BOB, ORG, "slack", Rule.SAME_PLATFORM, "Slack", "/mio primary"),
        (
            BOB, OrgFacts(frozenset({"slack", "zoom"}), "zoom"),
            "webex", Rule.NOT_CONNECTED, "Webex", "credentials",
        ),
        (
            BOB, OrgFacts(frozenset({"teams", "zoom"}), "zoom"),
            "teams", Rule.NOT_CONNECTED, "Slack, their primary", "/mio primary",
        ),
        (
            PersonFacts("slack", frozenset({"slack"}), {}),
            ORG, "teams", Rule.REQUIRED_PLATFORM_MISSING, "Zoom", "MIO_REQUIRED_PLATFORM",
        ),
        (
            PersonFacts("slack", frozenset({"slack"}), {}),
            ORG, "zoom", Rule.REQUIRED_PLATFORM_MISSING, "Zoom", "/mio import zoom",
        ),
        (
            PersonFacts("slack", BOB.active_platforms, {"zoom": Status.PENDING}),
            ORG, "zoom", Rule.ALREADY_PENDING, "Zoom", "/mio unsync <user> zoom",
        ),
        (
            PersonFacts("slack", BOB.active_platforms, {"teams": Status.SYNCED}),
            ORG, "teams", Rule.ALREADY_SYNCED, "Microsoft Teams", "/mio unsync <user> teams",
        ),
    ],
)  # fmt: skip
def test_each_rule_refuses_with_message_and_fix(
    person: PersonFacts,
    org: OrgFacts,
    secondary: str,
    rule: Rule,
    in_message: str,
    in_fix: str,
) -> None:
    refused = refusal(person, org, secondary)
    assert refused.rule is rule
    assert in_message in refused.message
    assert in_fix in refused.fix
    assert refused.message.endswith(".") and refused.fix.endswith(".")
    assert str(refused) == f"{refused.message} {refused.fix}"


def test_rules_name_platforms_by_title_without_a_label_function() -> None:
    with pytest.raises(SyncRefused) as info:
        plan_sync(BOB, OrgFacts(frozenset({"slack", "zoom"}), "zoom"), "webex")
    assert "Webex is not connected." == info.value.message


def test_no_primary_is_checked_before_the_required_platform() -> None:
    nobody = PersonFacts(None, frozenset(), {})
    assert refusal(nobody, OrgFacts(frozenset(), "zoom"), "teams").rule is Rule.NO_PRIMARY


def test_primary_choice_allowed() -> None:
    check_primary(BOB, ORG, "zoom", label)
    check_primary(BOB, ORG, "slack", label)  # choosing the current one again is harmless


@pytest.mark.parametrize(
    ("person", "org", "platform", "rule", "in_message", "in_fix"),
    [
        (BOB, OrgFacts(frozenset({"slack"}), None), "zoom", Rule.NOT_CONNECTED, "Zoom", "Zoom"),
        (BOB, ORG, "teams", Rule.NO_ACCOUNT, "Microsoft Teams", "Slack and Zoom"),
        (
            PersonFacts(None, frozenset(), {}), ORG, "teams",
            Rule.NO_ACCOUNT, "Microsoft Teams", "/mio import teams",
        ),
        (
            PersonFacts("slack", BOB.active_platforms, {"zoom": Status.SYNCED}), ORG, "zoom",
            Rule.SYNC_IN_USE, "sync to Zoom is synced", "/mio unsync <user> zoom",
        ),
        (
            PersonFacts("slack", BOB.active_platforms, {"zoom": Status.PENDING}), ORG, "zoom",
            Rule.SYNC_IN_USE, "is pending", "/mio unsync",
        ),
    ],
)  # fmt: skip
def test_primary_refusals(
    person: PersonFacts, org: OrgFacts, platform: str, rule: Rule, in_message: str, in_fix: str
) -> None:
    with pytest.raises(PrimaryRefused) as info:
        check_primary(person, org, platform, label)
    assert info.value.rule is rule
    assert in_message in info.value.message
    assert in_fix in info.value.fix


@pytest.mark.parametrize(
    ("active", "current", "by_admin", "expected"),
    [
        ({"slack"}, None, False, "slack"),  # one account: that one
        ({"slack"}, "teams", True, "slack"),  # admin's choice gone: the only one left
        ({"slack", "teams"}, "teams", True, "teams"),  # admin's choice kept
        ({"slack", "teams"}, "teams", False, None),  # auto choice was a default: admin decides
        ({"slack", "teams"}, None, False, None),  # several, none chosen: the admin decides
        ({"slack", "teams"}, "zoom", True, None),  # admin's choice gone, several left
        (set(), "slack", True, None),  # no accounts at all
        (set(), None, False, None),
    ],
)
def test_auto_primary(
    active: set[str], current: str | None, by_admin: bool, expected: str | None
) -> None:
    assert auto_primary(frozenset(active), current, by_admin) == expected


# --- reminders ------------------------------------------------------------------------------

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SEC = timedelta(seconds=1)
POLICY = ReminderPolicy(after=(DAY, 3 * DAY), expires_after=7 * DAY)


@pytest.mark.parametrize(
    ("sent", "elapsed", "expected"),
    [
        (0, timedelta(0), Due.WAIT),
        (0, DAY - SEC, Due.WAIT),
        (0, DAY, Due.REMIND),
        (0, DAY + SEC, Due.REMIND),
        (1, DAY + SEC, Due.WAIT),
        (1, 3 * DAY - SEC, Due.WAIT),
        (1, 3 * DAY, Due.REMIND),
        (1, 3 * DAY + SEC, Due.REMIND),
        (2, 3 * DAY + SEC, Due.WAIT),
        (2, 7 * DAY - SEC, Due.WAIT),
        (2, 7 * DAY, Due.EXPIRE),
        (2, 7 * DAY + SEC, Due.EXPIRE),
        (0, 7 * DAY, Due.EXPIRE),  # expiry wins over a reminder never sent
    ],
)
def test_reminder_step_boundaries(sent: int, elapsed: timedelta, expected: Due) -> None:
    assert reminder_step(T0, sent, T0 + elapsed, POLICY) is expected


def test_an_outage_sends_one_catch_up_reminder_not_a_burst() -> None:
    now = T0 + 3 * DAY + DAY // 2
    assert reminder_step(T0, 0, now, POLICY) is Due.REMIND
    sent = reminders_passed(T0, now, POLICY)
    assert sent == 2
    assert reminder_step(T0, sent, now, POLICY) is Due.WAIT


@pytest.mark.parametrize(
    ("sent", "expected"), [(0, T0 + DAY), (1, T0 + 3 * DAY), (2, T0 + 7 * DAY), (5, T0 + 7 * DAY)]
)
def test_next_due_at(sent: int, expected: datetime) -> None:
    assert next_due_at(T0, sent, POLICY) == expected


def test_no_reminders_only_expiry() -> None:
    policy = ReminderPolicy((), 2 * DAY)
    assert next_due_at(T0, 0, policy) == T0 + 2 * DAY
    assert reminder_step(T0, 0, T0 + 2 * DAY - SEC, policy) is Due.WAIT
    assert reminder_step(T0, 0, T0 + 2 * DAY, policy) is Due.EXPIRE


@given(
    after=st.lists(st.integers(1, 10_000), max_size=4, unique=True).map(sorted),
    extra=st.integers(1, 10_000),
)
def test_a_scheduler_waking_when_due_reminds_each_time_then_expires(
    after: list[int], extra: int
) -> None:
    policy = ReminderPolicy(
        tuple(timedelta(minutes=m) for m in after), timedelta(minutes=max(after, default=0) + extra)
    )
    sent, steps = 0, []
    while True:
        due_at = next_due_at(T0, sent, policy)
        assert reminder_step(T0, sent, due_at - SEC, policy) is Due.WAIT
        step = reminder_step(T0, sent, due_at, policy)
        steps.append(step)
        if step is Due.EXPIRE:
            break
        sent += 1
    assert steps == [Due.REMIND] * len(after) + [Due.EXPIRE]


@pytest.mark.parametrize(
    ("after", "expires"),
    [
        ((3 * DAY, DAY), 7 * DAY),  # not sorted
        ((DAY, DAY), 7 * DAY),  # repeated
        ((timedelta(0),), 7 * DAY),  # at once
        ((DAY, 7 * DAY), 7 * DAY),  # at expiry: never sent
        ((), timedelta(0)),
    ],
)
def test_bad_policies_are_refused(after: tuple[timedelta, ...], expires: timedelta) -> None:
    with pytest.raises(ValueError, match="Reminder times"):
        ReminderPolicy(after, expires)


def test_policy_from_settings_strings() -> None:
    assert ReminderPolicy.parse("1d,3d", "7d") == POLICY
    assert ReminderPolicy.parse("", "7d") == ReminderPolicy((), 7 * DAY)


# --- consent tokens -------------------------------------------------------------------------

LATER = T0 + DAY


def press(**changes: object) -> PressVerdict:
    args: dict[str, object] = dict(
        expected_user="U1", actual_user="U1", used=False, expires_at=LATER, now=T0,
        token_matches=True,
    )  # fmt: skip
    args.update(changes)
    return check_press(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({}, PressVerdict.OK),
        ({"now": LATER - SEC}, PressVerdict.OK),
        ({"actual_user": "U2"}, PressVerdict.WRONG_PERSON),
        ({"used": True}, PressVerdict.USED),
        ({"now": LATER}, PressVerdict.EXPIRED),
        ({"token_matches": False}, PressVerdict.STALE),
        # a stranger learns nothing, whatever the token's state
        ({"actual_user": "U2", "used": True, "now": LATER}, PressVerdict.WRONG_PERSON),
        ({"token_matches": False, "used": True}, PressVerdict.STALE),
        ({"used": True, "now": LATER}, PressVerdict.USED),
    ],
)
def test_check_press(changes: dict[str, object], verdict: PressVerdict) -> None:
    assert press(**changes) is verdict


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", DAY),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        (" 3D ", 3 * DAY),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "1", "d", "1.5d", "-1d", "1y", "1d2h", "one day", "d1", "٣d", "9" * 20 + "w"]
)
def test_parse_duration_refuses_and_names_the_input(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert "1d" in str(info.value)  # shows the right form


def test_parse_durations() -> None:
    assert parse_durations("1d,3d") == (DAY, 3 * DAY)
    assert parse_durations(" 12h , 2d ") == (timedelta(hours=12), 2 * DAY)
    assert parse_durations("") == ()


@pytest.mark.parametrize(("text", "bad"), [("1d,x", "'x'"), ("1d,,3d", "''"), ("1d;3d", "'1d;3d'")])
def test_parse_durations_names_the_bad_part(text: str, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_durations(text)
    assert f"duration {bad}" in str(info.value)
    assert repr(text) in str(info.value)
