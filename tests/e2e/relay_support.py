"""Setting people up for the relay's end-to-end tests: primaries, consent and represented syncs,
and running the outbox until everything due has been tried (retries included)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from itertools import permutations

import pytest
from sqlalchemy import func, select

from store.models import OutboxItem
from store.relay_models import RelayMessage
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_pairs import REPRESENTED as REPRESENTED  # who the bot represents where

PLATFORMS = ("slack", "zoom", "teams", "webex")
PAIRS = [pytest.param(p, q, id=f"{p}-to-{q}") for p, q in permutations(PLATFORMS, 2)]
ADA, BOB = ADMIN, "bob@acme.test"


async def set_primary(h: Harness, who: str, platform: str) -> None:
    answer = await h.command(platform, ADMIN, f"primary {who} {platform}")
    assert "primary platform is now" in answer, answer


async def link(h: Harness, who: str, primary: str, secondary: str) -> None:
    """A consent sync of `who` onto `secondary`: confirmed, allowed, authorized."""
    seen = await h.agents[primary].command(ADMIN, f"sync {who} {secondary}")
    assert "consent sync" in seen.text, seen.text
    before = len(h.agents[primary].dms(who))
    await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    await h.deliver()
    # (where the app's own worker runs too, it may be the one delivering: wait for it)
    await h.wait_for(lambda: len(h.agents[primary].dms(who)) > before, tries=500)
    dm = h.agents[primary].dms(who)[-1]
    assert await h.agents[primary].press(who, dm, "mio:consent:allow") == 200
    await h.deliver()
    await h.wait_for(lambda: h.agents[primary].dms(who)[-1].links, tries=500)
    (url,) = h.agents[primary].dms(who)[-1].links
    callback = await h.agents[secondary].authorize(url, who)
    async with h.http.get(callback) as resp:
        assert resp.status == 200, await resp.text()
    assert await h.status(who, secondary) == ("synced", None)
    await settle(h)  # the subscription is made


async def represent(h: Harness, who: str, primary: str, secondary: str) -> None:
    """A represented sync of `who` onto `secondary` (no account there)."""
    if secondary == "zoom":
        h.core.settings = dataclasses.replace(h.core.settings, required_platform=None)
    seen = await h.agents[primary].command(ADMIN, f"sync {who} {secondary}")
    assert "represented" in seen.text, seen.text
    await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    assert await h.status(who, secondary) == ("synced", None)


async def both_linked(h: Harness, p: str, q: str) -> None:
    """Ada lives on `p`, Bob on `q`; each is linked with consent on the other's platform."""
    await set_primary(h, ADA, p)
    await set_primary(h, BOB, q)
    await link(h, ADA, p, q)
    await link(h, BOB, q, p)


async def pending_rows(h: Harness) -> int:
    async with h.core.sessions() as session:
        query = select(func.count()).where(OutboxItem.state == "pending")
        return int((await session.execute(query)).scalar_one())


async def settle(h: Harness, rounds: int = 40) -> None:
    """Deliver until nothing is pending, moving the clock past each retry's back-off (in
    small steps: the stand-ins date messages by the real clock, which the app's must not
    outrun by much)."""
    for _ in range(rounds):
        await h.deliver()
        if await pending_rows(h) == 0:
            return
        await h.advance(timedelta(seconds=30))
    raise AssertionError("the outbox did not settle")


async def relayed(h: Harness) -> list[tuple[str, str | None, str]]:
    """(source platform, target platform, state) of every captured message, in order."""
    async with h.core.sessions() as session:
        rows = await session.execute(
            select(
                RelayMessage.source_platform, RelayMessage.target_platform, RelayMessage.state
            ).order_by(RelayMessage.id)
        )
        return [(a, b, c) for a, b, c in rows]


def texts(h: Harness, platform: str, email: str, other: str) -> list[str]:
    """What `email` sees in their 1:1 with `other` on `platform`, oldest first."""
    return [m.text for m in h.agents[platform].conversation(email, other)]
