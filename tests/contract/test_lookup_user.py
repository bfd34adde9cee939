"""`lookup_user` on every adapter against its stand-in: the account as the directory would list
it, None for an id nobody has, and a 429 waited out rather than passed on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters import ADAPTERS
from bot.platform import ChatPlatform
from bot.types import Platform, PlatformUserId
from sandbox.org import load_org
from sandbox.runner import Sandbox
from sandbox.webex.model import hydra_id

ADA = "ada@acme.test"
NOBODY = {
    "slack": "U0NOBODY",
    "zoom": "Znob0000NOBODY",
    "teams": "0dead000-0000-4000-8000-00000000dead",
    "webex": hydra_id("PEOPLE", "nobody"),
}
# The path each platform's look-up calls (platform-apis §E): where a 429 is injected.
LOOKUP_PATH = {
    "slack": "users.info",
    "zoom": "/v2/users/{id}",
    "teams": "/v1.0/users/{id}",
    "webex": "/v1/people/{id}",
}
RETRY_HEADERS = {"slack": {"Retry-After": "0"}, "teams": {"Retry-After": "0"}, "zoom": {}}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    service = Sandbox(load_org())
    await service.start()
    yield service
    await service.stop()


async def adapter_for(sandbox: Sandbox, platform: str) -> ChatPlatform:
    adapter = ADAPTERS[Platform(platform)].from_env(sandbox.env())
    assert adapter is not None
    await adapter.start()
    return adapter


@pytest.mark.parametrize("platform", ["slack", "zoom", "teams", "webex"])
async def test_lookup_finds_an_account_and_nobody(sandbox: Sandbox, platform: str) -> None:
    org = load_org()
    adapter = await adapter_for(sandbox, platform)
    try:
        ada = org.find(platform, ADA)
        found = await adapter.lookup_user(PlatformUserId(ada.user_id))
        assert found is not None
        assert (found.platform, found.user_id) == (platform, ada.user_id)
        assert (found.email or "").lower() == ADA and found.display_name == "Ada Lovelace"
        assert found.is_active and not found.is_bot and not found.is_guest
        if platform != "webex":  # Webex shows roles to admin tokens only (§E.3)
            assert found.is_admin
        assert await adapter.lookup_user(PlatformUserId(NOBODY[platform])) is None
    finally:
        await adapter.close()


@pytest.mark.parametrize("platform", ["slack", "zoom", "teams", "webex"])
async def test_lookup_waits_out_a_429(sandbox: Sandbox, platform: str) -> None:
    org = load_org()
    adapter = await adapter_for(sandbox, platform)
    service: Any = sandbox.services[platform]
    ada = org.find(platform, ADA).user_id
    service.fail(
        LOOKUP_PATH[platform].format(id=ada),
        429,
        headers=RETRY_HEADERS.get(platform, {"Retry-After": "1"}),
    )
    try:
        found = await adapter.lookup_user(PlatformUserId(ada))
    finally:
        await adapter.close()
    assert found is not None and found.user_id == ada
    assert not service.faults.get(LOOKUP_PATH[platform].format(id=ada))  # the 429 was served


async def test_lookup_of_a_deactivated_account_says_so(sandbox: Sandbox) -> None:
    org = load_org()
    for platform in ("slack", "zoom"):
        adapter = await adapter_for(sandbox, platform)
        try:
            heidi = org.find(platform, "heidi@acme.test").user_id
            found = await adapter.lookup_user(PlatformUserId(heidi))
        finally:
            await adapter.close()
        assert found is not None and not found.is_active
