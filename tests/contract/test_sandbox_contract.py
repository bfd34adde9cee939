"""Every stand-in keeps the promises the adapters rely on, as the real platform does.

Signed deliveries that the adapter's verifier accepts (and refuses with the wrong secret),
directory pages smaller than the page size asked for (so paging is exercised with a small
organisation), and a 429 of the platform's own shape that the adapter reads as "later".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters import ADAPTERS
from adapters.webex import WebexPlatform
from bot.platform import ChatPlatform
from bot.types import InboundEvent, Message, Platform, PlatformUserId, RetryLater
from sandbox.org import Org
from tests.adapters.support import Recorder, serving
from tests.contract.cases import ADA, BOB, CASES, PLATFORMS, SMALL_PAGE, running, small_pages

# The setting holding the secret a delivery is checked with (Teams: the app id is the JWT's
# audience), and the query parameter each listing call names its page size in.
SECRET = {
    "slack": "SLACK_SIGNING_SECRET",
    "zoom": "ZOOM_WEBHOOK_SECRET",
    "teams": "TEAMS_APP_ID",
    "webex": "WEBEX_WEBHOOK_SECRET",
}
PAGE_SIZE_PARAM = {"slack": "limit", "zoom": "page_size", "teams": "$top", "webex": "max"}


@pytest.fixture(params=PLATFORMS)
async def running_case(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[str, Any, ChatPlatform, Org]]:
    async with running(request.param) as (service, adapter, org):
        yield request.param, service, adapter, org


async def deliver_command(platform: str, service: Any, user_id: str) -> list[int]:
    """`user_id` asks the bot for help the platform's usual way; the statuses the bot answered."""
    if platform in ("slack", "zoom"):
        status, _ = await service.slash_command(user_id, "help")
        return [status]
    if platform == "teams":
        status, _ = await service.send_text(user_id, "help")
        return [status]
    return [delivery.status for delivery in await service.send_text(user_id, "help")]


async def delivered_to(
    platform: str, service: Any, adapter: ChatPlatform, hooks_by: ChatPlatform, user_id: str
) -> tuple[list[int], list[InboundEvent]]:
    """Serve `adapter`'s routes, point the stand-in (and Webex's webhooks, registered by
    `hooks_by` with its secret) at them, and deliver one command."""
    recorder = Recorder(answer=Message(text="ok"))
    async with serving(adapter, recorder) as url:
        service.bot_url = url
        if isinstance(hooks_by, WebexPlatform):
            await hooks_by.prepare(url)
        statuses = await deliver_command(platform, service, user_id)
        if isinstance(hooks_by, WebexPlatform):
            await service.settle()
    return statuses, recorder.events


async def test_signed_deliveries_pass_and_a_wrong_secret_is_refused(
    running_case: tuple[str, Any, ChatPlatform, Org],
) -> None:
    platform, service, adapter, org = running_case
    user_id = org.find(platform, ADA).user_id
    statuses, events = await delivered_to(platform, service, adapter, adapter, user_id)
    assert statuses and all(200 <= s < 300 for s in statuses), statuses
    assert events and all(e.user_id == user_id for e in events)

    env = {**service.env(), SECRET[platform]: "not-the-secret"}
    impostor = ADAPTERS[Platform(platform)].from_env(env)
    assert impostor is not None
    await impostor.start()
    try:
        statuses, events = await delivered_to(platform, service, impostor, adapter, user_id)
    finally:
        await impostor.close()
    assert statuses and all(s in (401, 403) for s in statuses), statuses
    assert events == []


async def test_directory_pages_come_smaller_than_asked(
    running_case: tuple[str, Any, ChatPlatform, Org],
) -> None:
    platform, service, adapter, org = running_case
    small_pages(service)
    pages = [page async for page in adapter.list_users()]
    assert len(pages) > 1 and all(len(page) <= SMALL_PAGE for page in pages)
    listings = service.calls_to(CASES[platform].users_path)
    asked = [int(c.query[PAGE_SIZE_PARAM[platform]]) for c in listings if c.query]
    assert asked and asked[-1] > SMALL_PAGE, "the adapter asked for more than it was given"
    listed = {user.user_id for page in pages for user in page}
    assert {a.user_id for a in org.on(platform) if not a.is_bot} <= listed


async def test_the_stand_ins_429_is_read_as_retry_later(
    running_case: tuple[str, Any, ChatPlatform, Org],
) -> None:
    platform, service, adapter, org = running_case
    bob = await adapter.lookup_user(PlatformUserId(org.find(platform, BOB).user_id))
    assert bob is not None
    service.rate_limit(CASES[platform].send_path)
    with pytest.raises(RetryLater) as raised:
        await adapter.send_dm(bob, Message(text="too fast"))
    assert raised.value.after is not None and raised.value.after > 0
    assert [c.status for c in service.calls_to(CASES[platform].send_path)][-1] == 429
