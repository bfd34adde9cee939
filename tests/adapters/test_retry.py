"""The shared Retry-After parser, each adapter's defaults around it, and the directory pace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.paging import AdminMustFix, Pace, Pacer, fetch_page
from adapters.retry import parse_retry_after
from adapters.slack.errors import _classify as slack_error
from adapters.teams.errors import to_platform_error as teams_error
from adapters.zoom.errors import to_platform_error as zoom_error
from bot.types import PermanentFailure, PlatformError, RetryLater
from sandbox.limits import Window

NOW = datetime(2025, 8, 22, 23, 0, tzinfo=UTC)


def after(error: PlatformError) -> float | None:
    """The wait a retryable error asks for (and that it is retryable at all)."""
    assert isinstance(error, RetryLater)
    return error.after


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),  # delta-seconds (Slack, Graph, Webex)
        (" 30 ", 30.0),
        ("0", 0.0),
        ("Fri, 22 Aug 2025 23:02:00 GMT", 120.0),  # an HTTP date (RFC 9110)
        ("2025-08-23T00:00:00Z", 3600.0),  # Zoom's daily limit: an ISO date-time (§I.24)
        ("2025-08-23T01:00:00+01:00", 3600.0),
        ("2025-08-23T00:00:00", 3600.0),  # no offset: UTC
        ("Fri, 22 Aug 2025 22:00:00 GMT", 1.0),  # a date already past: a short pause, not 0
        ("2020-01-01T00:00:00Z", 1.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "later today", "Fri, 99 Foo"])
def test_parse_retry_after_leaves_garbage_to_the_caller(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_each_adapter_keeps_its_own_default_around_the_shared_parser() -> None:
    http_date = {"Retry-After": "Fri, 22 Aug 2025 23:00:30 GMT"}
    # Slack: a date is read too now (it was `isdigit()` only); none → the caller backs off.
    assert after(slack_error(429, "ratelimited", http_date)) is not None
    assert after(slack_error(429, "ratelimited", {})) is None
    # Teams: a date is read; no header → 5 s for 429, 10 s for 5xx.
    assert after(teams_error(429, http_date, now=NOW)) == 30.0
    assert after(teams_error(429, {}, now=NOW)) == 5.0
    assert after(teams_error(503, {"Retry-After": "garbage"}, now=NOW)) == 10.0
    # Zoom: a per-second 429 has no header (1 s); a daily one without a date waits to midnight.
    assert after(zoom_error(429, {"X-RateLimit-Type": "QPS"}, now=NOW)) == 1.0
    assert after(zoom_error(429, {"X-RateLimit-Type": "Daily-limit"}, now=NOW)) == 3600.0
    assert after(zoom_error(503, {"Retry-After": "2"}, now=NOW)) == 2.0
    assert after(zoom_error(503, {}, now=NOW)) == 10.0


def test_credentials_an_admin_must_fix_are_marked_as_such() -> None:
    assert isinstance(slack_error(200, "invalid_auth", {}), AdminMustFix)
    assert not isinstance(slack_error(200, "ratelimited", {}), AdminMustFix)
    assert isinstance(teams_error(401, {}, {}), AdminMustFix)
    assert isinstance(zoom_error(401, {}, {"code": 124}), AdminMustFix)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_pacer_lets_a_burst_through_then_keeps_to_the_window() -> None:
    time = FakeTime()
    pacer = Pacer(Pace(3, 60.0), clock=time.clock, sleep=time.sleep)
    sent = []
    for _ in range(7):
        await pacer.take()
        sent.append(time.now)
        time.now += 1.0  # each page takes a second to come back
        pacer.answered()
    assert sent == [0.0, 1.0, 2.0, 61.0, 62.0, 63.0, 122.0]
    for i in range(len(sent) - 3):  # never more than 3 calls in any 60 s, however they arrive
        assert sent[i + 3] - (sent[i] + 1.0) >= 60.0


def test_a_pace_needs_calls_and_a_period() -> None:
    with pytest.raises(ValueError, match="positive period"):
        Pace(0, 1.0)
    with pytest.raises(ValueError, match="positive period"):
        Pace(1, 0.0)


async def test_fetch_page_waits_out_retry_later_and_asks_for_the_same_page() -> None:
    time = FakeTime()
    asked: list[str] = []
    answers: list[Exception | str] = [
        RetryLater("slack", "ratelimited", after=7.0),
        RetryLater("slack", "http_503"),
        "page",
    ]

    async def fetch() -> str:
        asked.append("cursor-2")
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    pacer = Pacer(Pace(100, 1.0), clock=time.clock, sleep=time.sleep)
    assert await fetch_page(fetch, pacer, "Slack", sleep=time.sleep) == "page"
    assert asked == ["cursor-2"] * 3
    assert time.slept == [7.0, 2.0]  # Retry-After, then backoff for the 5xx without one


async def test_fetch_page_gives_up_at_once_on_what_an_admin_must_fix() -> None:
    time = FakeTime()

    async def fetch() -> str:
        raise AdminMustFix("slack", "invalid_auth", after=60.0)

    pacer = Pacer(Pace(100, 1.0), clock=time.clock, sleep=time.sleep)
    with pytest.raises(PermanentFailure, match="invalid_auth"):
        await fetch_page(fetch, pacer, "Slack", sleep=time.sleep)
    assert time.slept == []


def test_sandbox_window_refuses_the_call_over_the_limit_with_whole_seconds() -> None:
    now = [0.0]
    window = Window(2, 60.0, clock=lambda: now[0])
    assert window.admit() is None
    now[0] = 10.0
    assert window.admit() is None
    now[0] = 30.5
    assert window.admit() == 30  # the first call leaves the window at 60 s
    now[0] = 60.0
    assert window.admit() is None
    assert window.refused == 1
