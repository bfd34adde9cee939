"""Every adapter against its stand-in: the `ChatPlatform` interface behaves alike everywhere.

Each test asks all four adapters the same question; what differs per platform (paths, how a
reply is addressed) lives in `cases.py`. A platform's own quirks are tested in tests/adapters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.retry import parse_retry_after
from bot.platform import ChatPlatform
from bot.types import (
    DirectoryUser,
    Message,
    MessageRef,
    PermanentFailure,
    PlatformError,
    PlatformUserId,
    RetryLater,
)
from sandbox.org import Org
from tests.contract.cases import (
    ADA,
    BOB,
    CASES,
    GONE,
    PLATFORMS,
    REDIRECT,
    Case,
    query,
    reply_target,
    running,
    small_pages,
)

NOBODY = {
    "slack": "U0NOBODY",
    "zoom": "Znob0000NOBODY",
    "teams": "0dead000-0000-4000-8000-00000000dead",
    "webex": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ub2JvZHk",
}


class Env:
    """One platform's stand-in, its connected adapter and the organisation they serve."""

    def __init__(self, case: Case, service: Any, adapter: ChatPlatform, org: Org) -> None:
        self.case, self.service, self.adapter, self.org = case, service, adapter, org

    def id_of(self, email: str) -> PlatformUserId:
        return PlatformUserId(self.org.find(self.case.platform, email).user_id)

    async def person(self, email: str) -> DirectoryUser:
        found = await self.adapter.lookup_user(self.id_of(email))
        assert found is not None, f"{email} not found on {self.case.platform}"
        return found

    def inbox_text(self, email: str) -> str:
        """Everything in the person's chat with the bot, as one string to search."""
        return "\n".join(repr(m) for m in self.service.inbox(self.id_of(email)))


@pytest.fixture(params=PLATFORMS)
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    async with running(request.param) as (service, adapter, org):
        yield Env(CASES[request.param], service, adapter, org)


def assert_sentence(exc: PlatformError, platform: str) -> None:
    """A mapped error names its platform and says why in one line of words (no repr, no dump)."""
    assert exc.platform == platform
    assert str(exc) == f"{platform}: {exc.reason}"
    reason = exc.reason.strip()
    assert reason and "\n" not in reason and any(ch.isalpha() for ch in reason)
    assert not reason.startswith(("<", "{", "Traceback"))


# -- directory ---------------------------------------------------------------------------------
async def test_workspace_names_the_connected_organisation(env: Env) -> None:
    workspace_id, name = await env.adapter.workspace()
    assert workspace_id and name
    assert workspace_id == env.org.workspaces[env.case.platform]["id"]


async def test_list_users_pages_through_everyone_including_the_deactivated(env: Env) -> None:
    small_pages(env.service)
    pages = [page async for page in env.adapter.list_users()]
    assert len(pages) > 1, "the stand-in paged below the asked size, so there must be pages"
    listed = [user for page in pages for user in page]
    ids = [user.user_id for user in listed]
    assert len(ids) == len(set(ids)), "no account twice across pages"
    people = {a.user_id for a in env.org.on(env.case.platform) if not a.is_bot}
    assert people <= set(ids)
    by_id = {user.user_id: user for user in listed}
    assert not by_id[env.id_of(GONE)].is_active
    assert by_id[env.id_of(ADA)].is_active
    assert all(user.platform == env.case.platform for user in listed)


async def test_lookup_user_finds_a_known_id_and_none_for_an_unknown_one(env: Env) -> None:
    ada = await env.person(ADA)
    assert (ada.platform, ada.user_id) == (env.case.platform, env.id_of(ADA))
    assert (ada.email or "").strip().lower() == ADA and ada.display_name == "Ada Lovelace"
    assert ada.is_active and not ada.is_bot and not ada.is_guest
    assert ada.is_admin  # Webex shows roles to the admin grant's token only (§E.3): it is held
    assert await env.adapter.lookup_user(PlatformUserId(NOBODY[env.case.platform])) is None


async def test_lookup_user_of_a_deactivated_account_says_so(env: Env) -> None:
    gone = await env.person(GONE)
    assert gone.user_id == env.id_of(GONE) and not gone.is_active


async def test_a_429_with_retry_after_is_waited_out_in_a_lookup(env: Env) -> None:
    path = env.case.lookup_path.format(id=env.id_of(ADA))
    env.service.fail(path, 429, headers={"Retry-After": "1"})
    ada = await env.person(ADA)
    assert ada.user_id == env.id_of(ADA)
    assert not env.service.faults.get(path), "the 429 was served"


async def test_a_429_with_retry_after_is_waited_out_while_listing(env: Env) -> None:
    env.service.fail(env.case.users_path, 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    listed = [user for page in [p async for p in env.adapter.list_users()] for user in page]
    assert time.monotonic() - started >= 0.9, "the Retry-After second was waited out"
    assert env.id_of(ADA) in {user.user_id for user in listed}
    assert not env.service.faults.get(env.case.users_path), "the 429 was served"


async def test_a_5xx_is_retried_while_listing(env: Env) -> None:
    env.service.fail(env.case.users_path, 503, headers={"Retry-After": "0"})
    listed = [user for page in [p async for p in env.adapter.list_users()] for user in page]
    assert env.id_of(BOB) in {user.user_id for user in listed}
    assert not env.service.faults.get(env.case.users_path), "the 503 was served"


async def test_user_text_without_platform_markup_is_left_as_typed(env: Env) -> None:
    for typed in ("bob@acme.test", "Bob Marley"):
        assert env.adapter.normalise_user_text(typed) == typed
        assert env.adapter.parse_mention(typed) is None  # names and emails are the core's


# -- messages ----------------------------------------------------------------------------------
async def test_send_dm_update_and_reply_reach_the_persons_chat(env: Env) -> None:
    bob = await env.person(BOB)
    ref = await env.adapter.send_dm(bob, Message(text="Contract ping alpha"))
    assert isinstance(ref, MessageRef) and ref.platform == env.case.platform
    assert ref.channel_id and ref.message_id
    assert "Contract ping alpha" in env.inbox_text(BOB)
    updated = await env.adapter.update_message(ref, Message(text="Contract ping bravo"))
    assert isinstance(updated, MessageRef) and updated.channel_id == ref.channel_id
    assert "Contract ping bravo" in env.inbox_text(BOB)
    await env.adapter.reply(reply_target(env.case, ref), Message(text="Contract ping charlie"))
    assert "Contract ping charlie" in env.inbox_text(BOB)


async def test_a_429_on_send_is_retry_later_after_the_platforms_wait(env: Env) -> None:
    bob = await env.person(BOB)
    env.service.fail(env.case.send_path, 429, headers={"Retry-After": "7"})
    with pytest.raises(RetryLater) as raised:
        await env.adapter.send_dm(bob, Message(text="too fast"))
    assert raised.value.after == parse_retry_after("7")
    assert_sentence(raised.value, env.case.platform)


async def test_a_5xx_on_send_is_retry_later(env: Env) -> None:
    bob = await env.person(BOB)
    env.service.fail(env.case.send_path, 503)
    with pytest.raises(RetryLater) as raised:
        await env.adapter.send_dm(bob, Message(text="busy"))
    assert_sentence(raised.value, env.case.platform)


async def test_a_refused_send_is_a_permanent_failure_with_a_sentence(env: Env) -> None:
    bob = await env.person(BOB)
    env.service.fail(env.case.send_path, 400)
    with pytest.raises(PermanentFailure) as raised:
        await env.adapter.send_dm(bob, Message(text="malformed"))
    assert_sentence(raised.value, env.case.platform)


# -- user OAuth --------------------------------------------------------------------------------
async def test_authorize_exchange_and_revoke_round_trip(env: Env) -> None:
    redirect = REDIRECT.format(platform=env.case.platform)
    url = env.adapter.authorize_url("st/ate=1", redirect)
    location = await env.service.authorize(url, env.id_of(BOB))
    answer = query(location)
    assert location.startswith(redirect + "?") and answer["state"] == "st/ate=1"
    grant = await env.adapter.exchange_code(answer["code"], redirect)
    assert grant.identity.user_id == env.id_of(BOB)
    assert (grant.identity.email or "").strip().lower() == BOB
    assert grant.access_token and grant.access_token not in repr(grant)
    with pytest.raises(PermanentFailure) as raised:  # a code is good for one exchange
        await env.adapter.exchange_code(answer["code"], redirect)
    assert_sentence(raised.value, env.case.platform)
    sentence = await env.adapter.revoke(grant)
    assert sentence and "\n" not in sentence and any(ch.isalpha() for ch in sentence)
    again = await env.adapter.revoke(grant)  # a retried revoke (the outbox) is no failure
    assert again and again != sentence, "the second revoke says the link was already gone"


async def test_a_declined_authorization_carries_no_code(env: Env) -> None:
    redirect = REDIRECT.format(platform=env.case.platform)
    url = env.adapter.authorize_url("st", redirect)
    answer = query(await env.service.authorize(url, env.id_of(BOB), approve=False))
    assert "code" not in answer and answer.get("error") and answer.get("state") == "st"
