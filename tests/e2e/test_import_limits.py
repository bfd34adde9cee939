"""A directory import against stand-ins that refuse the way the platforms do, mid-pagination.

Each stand-in answers one page with its platform's 429 (Slack `ratelimited` + Retry-After,
Graph and Webex Retry-After, Zoom's per-second 429 with no header at all) and a later page
with a 503: the import must wait, ask for the *same* page again, and end with every account.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from adapters.paging import Pace
from adapters.slack import SlackPlatform
from bot.directory import import_platform
from sandbox.base import Call, FakeService
from sandbox.limits import Window
from sandbox.slack import SlackSandbox
from sandbox.teams import TeamsSandbox
from sandbox.webex import WebexSandbox
from sandbox.zoom import ZoomSandbox
from store.rate_gates import RateGates
from store.repositories import Directory
from tests.e2e.conftest import Harness

PAGE = 2  # small pages, so the seeded organisation spans several

DIRECTORY_PATH = {
    "slack": "/api/users.list",
    "teams": "/v1.0/users",
    "webex": "/v1/people",
    "zoom": "/v2/users",
}


def small_pages(service: FakeService) -> None:
    if isinstance(service, WebexSandbox):
        service.people.max_page_size = PAGE
    elif isinstance(service, SlackSandbox | TeamsSandbox | ZoomSandbox):
        service.max_page_size = PAGE


def refuse_second_then_third_page(service: FakeService, path: str) -> None:
    """The platform's own 429 on the second page, then a 503 on the third."""
    # Zoom's import checks its credentials with one /v2/users call before the first page.
    skip = 2 if isinstance(service, ZoomSandbox) else 1
    if isinstance(service, SlackSandbox):
        service.rate_limit("users.list", 1, skip=skip)
    elif isinstance(service, ZoomSandbox):
        service.rate_limit(path, skip=skip)  # per-second: no Retry-After (§I.24)
    elif isinstance(service, TeamsSandbox):
        service.rate_limit(path, 1, skip=skip)
    elif isinstance(service, WebexSandbox):
        service.rate_limit(path, 1, skip=skip)
    service.fail(path, 503, headers={"Retry-After": "1"}, skip=1)


def page_key(call: Call) -> tuple[Any, ...]:
    """What names a page: its query (cursor, token, skiptoken) and any form body."""
    return tuple(sorted(call.query.items())), call.body


async def active_accounts(h: Harness, platform: str) -> int:
    async with h.core.sessions() as session:
        return await Directory(session).count_on(platform) - await Directory(
            session
        ).count_inactive(platform)


@pytest.mark.parametrize("platform", ["slack", "teams", "webex", "zoom"])
async def test_import_waits_out_429_and_5xx_and_resumes_from_the_same_page(
    harness: Harness, platform: str
) -> None:
    h = harness
    service = h.sandbox.services[platform]
    path = DIRECTORY_PATH[platform]
    small_pages(service)
    clean = await import_platform(h.core, platform, "test")
    active = await active_accounts(h, platform)
    service.calls.clear()

    refuse_second_then_third_page(service, path)
    result = await import_platform(h.core, platform, "test")

    assert (result.seen, result.inactive) == (clean.seen, clean.inactive)
    assert await active_accounts(h, platform) == active
    calls = service.calls_to(path)
    assert [c.status for c in calls].count(429) == 1
    assert [c.status for c in calls].count(503) == 1
    for refused, following in itertools.pairwise(calls):
        if refused.status in (429, 503):  # the next request asks for the same page
            assert page_key(following) == page_key(refused)
    served = [page_key(c) for c in calls if c.status == 200]
    assert len(served) == len(set(served)), "a page was fetched twice"


async def test_slack_import_paces_itself_to_the_tier_instead_of_being_refused(
    harness: Harness,
) -> None:
    h = harness
    slack = h.slack
    slack.max_page_size = PAGE
    adapter = h.core.platforms["slack"]
    assert isinstance(adapter, SlackPlatform)
    assert adapter.directory_pace == Pace(20, 60.0)  # Tier 2 (§E.1, §G)

    # A tier of 3 calls a second, hammered by a client that does not know it: refused, waited
    # out with Slack's Retry-After, and still complete.
    slack.tiers["users.list"] = hammered = Window(3, 1.0)
    everyone = await import_platform(h.core, "slack", "test")
    assert hammered.refused >= 1
    assert [c.status for c in slack.calls_to("users.list")].count(429) == hammered.refused

    # The same tier, known to the client: never refused.
    slack.tiers["users.list"] = paced = Window(3, 1.0)
    adapter.directory_pace = Pace(3, 1.0)
    assert (await import_platform(h.core, "slack", "test")).seen == everyone.seen
    assert paced.refused == 0


async def test_directory_pages_take_their_turns_from_the_shared_gate(harness: Harness) -> None:
    """The app hands its database gate to every adapter, so another process paging the same
    directory counts against the same window."""
    h = harness
    h.slack.max_page_size = PAGE
    adapter = h.core.platforms["slack"]
    assert isinstance(adapter, SlackPlatform)
    adapter.directory_pace = Pace(50, 60.0)
    h.slack.calls.clear()
    async with h.core.sessions() as session:
        before = await RateGates(session).get("slack:directory")
    result = await import_platform(h.core, "slack", "test")
    async with h.core.sessions() as session:
        after = await RateGates(session).get("slack:directory")
    assert after is not None
    pages = len(h.slack.calls_to("users.list"))
    assert pages >= result.seen // PAGE > 1
    assert len(after.marks) - len(before.marks if before else []) == pages
