"""The relay for every ordered pair of platforms, end to end: people type natively on the
stand-ins, signed user events reach the real app, the outbox posts on the other platform.

In each pair the sender lives on `p` and the recipient on `q`."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.relay_support import (
    ADA,
    BOB,
    PAIRS,
    REPRESENTED,
    both_linked,
    link,
    relayed,
    represent,
    set_primary,
    settle,
    texts,
)

# Where the relay posts as a person on each stand-in (a fault there hits the relayed post).
POST_PATH = {
    "slack": "chat.postMessage",
    "teams": "/messages",
    "webex": "/messages",
    "zoom": "/users/me/messages",
}
NAMES = {
    "carol": "Carol Danvers",
    "erin": "Erin Zoomer",
    "teri": "Teri Teams",
    "wes": "Wes Webex",
    "dan": "Dan Brown",
    "tess": "Tess Teamsonly",
    "vic": "Vic Webexonly",
}


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_consent_both_ways(harness: Harness, p: str, q: str) -> None:
    h = harness
    await both_linked(h, p, q)
    await h.agents[p].write_dm(ADA, BOB, "Are we still on for 3pm?")
    await settle(h)
    assert texts(h, q, BOB, ADA) == ["Are we still on for 3pm?"]
    # The platform delivers the same notification again (a retry): nothing is doubled.
    assert h.sandbox.services[p].sent, "the stand-in delivered nothing to the bot"
    assert await h.sandbox.services[p].send_again() < 300
    await settle(h)
    assert texts(h, q, BOB, ADA) == ["Are we still on for 3pm?"]
    ada_on_q = h.agents[q].user_id(ADA)
    assert [m.sender_id for m in h.agents[q].conversation(BOB, ADA)] == [ada_on_q]
    await h.agents[q].write_dm(BOB, ADA, "Yes, see you there")
    await settle(h)
    assert texts(h, p, ADA, BOB) == ["Are we still on for 3pm?", "Yes, see you there"]
    # Each relayed post echoes through the sender's own subscription: neither came back.
    assert texts(h, q, BOB, ADA) == ["Are we still on for 3pm?", "Yes, see you there"]
    assert await relayed(h) == [(p, q, "delivered"), (q, p, "delivered")]


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_represented_sender_and_recipient(harness: Harness, p: str, q: str) -> None:
    """`who` has no account on q: the bot speaks for them there, and Bob answers the bot."""
    h = harness
    short = REPRESENTED[(p, q)]
    who = f"{short}@acme.test"
    await set_primary(h, who, p)
    await set_primary(h, BOB, q)
    await represent(h, who, p, q)
    await link(h, BOB, q, p)
    before = len(h.agents[q].dms(BOB))
    await h.agents[p].write_dm(who, BOB, "Lunch at noon?")
    await settle(h)
    (shown,) = h.agents[q].dms(BOB)[before:]
    assert "Lunch at noon?" in shown.text and NAMES[short] in shown.text
    # Bob answers the bot: a reply in the correspondent's thread on Slack, else plain text
    # to the bot's 1:1, whose current correspondent is the last one who wrote.
    thread = shown.raw.ts if q == "slack" else None
    await h.agents[q].write_to_bot(BOB, "Noon works", thread_id=thread)
    await settle(h)
    assert texts(h, p, who, BOB) == ["Lunch at noon?", "Noon works"]
    assert await relayed(h) == [(p, q, "delivered"), (q, p, "delivered")]


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_retries_keep_the_order(harness: Harness, p: str, q: str) -> None:
    """A lost answer, a 5xx and a 429 while posting: each message arrives once, in order."""
    h = harness
    await both_linked(h, p, q)
    service = h.sandbox.services[q]
    service.drop_answer(POST_PATH[q])  # posted, but the answer is lost: found, not re-posted
    service.fail(POST_PATH[q], 503)
    service.fail(POST_PATH[q], 429, headers={"Retry-After": "1"})
    for text in ("first", "second", "third"):
        await h.agents[p].write_dm(ADA, BOB, text)
    await settle(h)
    assert texts(h, q, BOB, ADA) == ["first", "second", "third"]
    assert [state for _, _, state in await relayed(h)] == ["delivered"] * 3


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_unsynced_sender_is_told_once(harness: Harness, p: str, q: str) -> None:
    h = harness
    await set_primary(h, ADA, p)
    await set_primary(h, BOB, q)
    await link(h, BOB, q, p)  # Bob is reachable on p; Ada is not synced on q
    before = len(h.agents[p].dms(ADA))
    await h.agents[p].write_dm(ADA, BOB, "one")
    await h.agents[p].write_dm(ADA, BOB, "two")
    await settle(h)
    told = h.agents[p].dms(ADA)[before:]
    assert len(told) == 1, [s.text for s in told]
    assert "sync" in told[0].text.lower()
    assert texts(h, q, BOB, ADA) == []
    assert [state for _, _, state in await relayed(h)] == ["refused", "refused"]


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_pending_recipient_is_prompted_once(harness: Harness, p: str, q: str) -> None:
    h = harness
    await set_primary(h, ADA, p)
    await set_primary(h, BOB, q)
    await link(h, ADA, p, q)
    seen = await h.agents[q].command(ADA, f"sync {BOB} {p}")
    await h.press_and_read(q, ADA, seen, "mio:confirm")
    await settle(h)
    assert await h.status(BOB, p) == ("pending", None)
    asked = len(h.agents[q].dms(BOB))
    told = len(h.agents[p].dms(ADA))
    for text in ("hello?", "anyone?"):
        await h.agents[p].write_to_bot(ADA, f"dm {BOB} {text}")
    await settle(h)
    assert len(h.agents[q].dms(BOB)) == asked + 1  # the consent DM again, once
    assert "mio:consent:allow" in h.agents[q].dms(BOB)[-1].actions
    notes = [s.text for s in h.agents[p].dms(ADA)[told:]]
    assert sum("Bob" in n for n in notes) == 1, notes
    assert texts(h, q, BOB, ADA) == []


@pytest.mark.parametrize(("p", "q"), PAIRS)
async def test_revoked_token_waits_for_consent(harness: Harness, p: str, q: str) -> None:
    h = harness
    await both_linked(h, p, q)
    service = h.sandbox.services[q]
    service.revoke_user_token(h.agents[q].user_id(ADA))  # type: ignore[attr-defined]
    before = len(h.agents[p].dms(ADA))
    await h.agents[p].write_dm(ADA, BOB, "kept safe")
    await settle(h)
    assert await h.status(ADA, q) == ("failed", "token_revoked")
    assert texts(h, q, BOB, ADA) == []
    news = h.agents[p].dms(ADA)[before:]
    consent = [s for s in news if "mio:consent:allow" in s.actions]
    assert len(consent) == 1, [s.text for s in news]
    assert await h.agents[p].press(ADA, consent[0], "mio:consent:allow") == 200
    await settle(h)
    (url,) = [link for s in h.agents[p].dms(ADA)[before:] for link in s.links]
    callback = await h.agents[q].authorize(url, ADA)
    async with h.http.get(callback) as resp:
        assert resp.status == 200, await resp.text()
    await settle(h)
    assert await h.status(ADA, q) == ("synced", None)
    assert texts(h, q, BOB, ADA) == ["kept safe"]
