"""What differs between the four platforms in the contract suites, and nothing else.

The suites ask every adapter the same questions against its stand-in; this module holds the
few platform facts the questions need (which path a call goes to, how a reply finds the DM it
answers, how the stand-in is told to page in small pieces) and starts one stand-in with its
adapter connected the way `mio serve` connects it (Webex with the admin grant `mio connect
webex` gives).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from adapters import ADAPTERS
from adapters.webex import WebexPlatform
from bot.platform import ChatPlatform
from bot.types import MessageRef, Platform, ReplyTarget
from sandbox.base import FakeService
from sandbox.org import Org, OrgAccount, load_org
from sandbox.runner import Sandbox
from sandbox.webex.model import hydra_id

PLATFORMS = ("slack", "zoom", "teams", "webex")
ADA, BOB = "ada@acme.test", "bob@acme.test"
GONE = "olga@acme.test"  # deactivated on every platform (the demo org has Heidi on two only)
REDIRECT = "https://mio.example/oauth/{platform}/callback"
SMALL_PAGE = 2


@dataclass(frozen=True)
class Case:
    """One platform's facts: the paths its calls go to and how its replies are addressed."""

    platform: str
    users_path: str  # the directory listing, where import faults are injected
    send_path: str  # where a DM's message is posted
    lookup_path: str  # one user by id (`{id}`), where look-up faults are injected
    gone_id: str  # Olga's id on this platform
    reply_data: Callable[[MessageRef], dict[str, Any]]  # a reply into the DM `ref` is in


CASES = {
    "slack": Case(
        "slack",
        "users.list",
        "chat.postMessage",
        "users.info",
        "U0OLGA",
        lambda r: {"channel_id": r.channel_id},
    ),
    "zoom": Case(
        "zoom",
        "/v2/users",
        "/v2/im/chat/messages",
        "/v2/users/{id}",
        "Zolg0000GONE",
        lambda r: {"user_jid": r.data["user_jid"], "account_id": r.data["account_id"]},
    ),
    "teams": Case(
        "teams",
        "/v1.0/users",
        "/activities",
        "/v1.0/users/{id}",
        "0c0c0c0c-0000-4000-8000-0000000001a0",
        lambda r: {"conversation_id": r.channel_id, "service_url": r.data["service_url"]},
    ),
    "webex": Case(
        "webex",
        "/v1/people",
        "/v1/messages",
        "/v1/people/{id}",
        hydra_id("PEOPLE", "olga"),
        lambda r: {"room_id": r.channel_id},
    ),
}


def contract_org() -> Org:
    """The demo organisation plus Olga, whose account is deactivated on every platform."""
    org = load_org()
    gone = [
        OrgAccount(platform=p, user_id=c.gone_id, email=GONE, name="Olga Gone", active=False)
        for p, c in CASES.items()
    ]
    return replace(org, accounts=[*org.accounts, *gone])


def small_pages(service: FakeService, size: int = SMALL_PAGE) -> None:
    """Make the stand-in answer directory pages of at most `size`, whatever was asked."""
    holder: Any = getattr(service, "people", service)  # Webex keeps people in a sub-service
    holder.max_page_size = size


def query(location: str) -> dict[str, str]:
    pairs = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    return {k: v[0] for k, v in pairs.items()}


def reply_target(case: Case, ref: MessageRef) -> ReplyTarget:
    return ReplyTarget(Platform(case.platform), case.reply_data(ref))


@asynccontextmanager
async def running(platform: str) -> AsyncIterator[tuple[FakeService, ChatPlatform, Org]]:
    """One stand-in on loopback and its adapter, started; Webex also holds the admin grant."""
    org = contract_org()
    sandbox = Sandbox(org, [platform])
    await sandbox.start()
    adapter = ADAPTERS[Platform(platform)].from_env(sandbox.env())
    assert adapter is not None
    await adapter.start()
    service: Any = sandbox.services[platform]
    try:
        if isinstance(adapter, WebexPlatform):
            await connect_admin(service, adapter, org.find(platform, ADA).user_id)
        yield service, adapter, org
    finally:
        await adapter.close()
        await sandbox.stop()


async def connect_admin(service: Any, adapter: WebexPlatform, admin_id: str) -> None:
    """`mio connect webex` as the organisation's admin."""
    redirect = REDIRECT.format(platform="webex-admin")
    location = await service.authorize(adapter.admin_authorize_url("st", redirect), admin_id)
    grant = await adapter.exchange_admin_code(query(location)["code"], redirect)

    async def keep(_grant: dict[str, Any]) -> None:
        return None

    adapter.use_admin_grant(grant, keep)
