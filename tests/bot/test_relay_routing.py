"""The relay's rules (bot/relay/routing.py), over every combination of the two people's syncs.

The expected verdict of each combination is written out below as the plan states it
(RELAY_PLAN.md "The model", DESIGN.md "Relay"), independently of the code's order of checks;
hypothesis then checks the invariants on arbitrary people and platforms.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.relay.routing import (
    TOKEN_GRACE,
    Deliver,
    NotRelayed,
    PersonView,
    Reason,
    SyncFact,
    Via,
    conversation_key,
    route,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
P, Q, R = "slack", "teams", "zoom"  # written on, the recipient's primary, a third platform
SENDER, RECIPIENT = 1, 2
RECENT = NOW - timedelta(hours=1)
OLD = NOW - TOKEN_GRACE - timedelta(minutes=1)

# Every sync a person may have on one platform (None: no sync row).
SYNCS: dict[str, SyncFact | None] = {
    "none": None,
    "pending": SyncFact(10, "pending", "consent"),
    "consent": SyncFact(11, "synced", "consent"),
    "represented": SyncFact(12, "synced", "represented"),
    "declined": SyncFact(13, "failed", "consent", "declined", RECENT),
    "revoked_recent": SyncFact(14, "failed", "consent", "token_revoked", RECENT),
    "revoked_old": SyncFact(15, "failed", "consent", "token_revoked", OLD),
    "represented_failed": SyncFact(16, "failed", "represented", "account_inactive", RECENT),
}


def person(
    person_id: int, primary: str | None, platform: str, sync: SyncFact | None, account: bool
) -> PersonView:
    accounts = {p: f"{p}-{person_id}" for p in (P, Q, R)}
    if not account and primary is not None:
        accounts.pop(primary)
    syncs = {} if sync is None else {platform: sync}
    return PersonView(person_id, f"Person {person_id}", primary, accounts, syncs)


def expected(
    recipient_primary: str | None,
    recipient_account: bool,
    recipient_sync: str,
    sender_primary: str,
    sender_sync: str,
) -> Deliver | NotRelayed:
    """The plan's rules, written out case by case."""
    if recipient_primary == P:
        return NotRelayed(Reason.NOT_A_RELAY, None)
    if recipient_primary is None:
        return NotRelayed(Reason.NO_PRIMARY, SENDER)
    if not recipient_account:
        return NotRelayed(Reason.NO_ACCOUNT, SENDER)
    prompt = []
    if recipient_sync == "pending":
        prompt.append((RECIPIENT, P))
    if sender_sync == "pending" and sender_primary != Q:
        prompt.append((SENDER, Q))
    if recipient_sync not in ("consent", "represented"):
        reason = Reason.RECIPIENT_PENDING if recipient_sync == "pending" else None
        return NotRelayed(reason or Reason.RECIPIENT_NOT_SYNCED, SENDER, tuple(prompt))
    to_user = f"{Q}-{RECIPIENT}"
    if sender_primary == Q:
        return NotRelayed(Reason.SAME_PRIMARY, SENDER)
    sync = SYNCS[sender_sync]
    if sender_sync == "consent":
        return Deliver(Q, Via.USER, to_user, 11)
    if sender_sync == "represented":
        return Deliver(Q, Via.BOT, to_user, None)
    if sender_sync == "pending":
        return NotRelayed(Reason.SENDER_PENDING, SENDER, tuple(prompt))
    if sender_sync == "revoked_recent":
        assert sync is not None and sync.updated_at is not None
        return Deliver(Q, Via.USER, to_user, 14, waiting_until=sync.updated_at + TOKEN_GRACE)
    if sender_sync == "revoked_old":
        return NotRelayed(Reason.SENDER_TOKEN_REVOKED, SENDER)
    return NotRelayed(Reason.SENDER_NOT_SYNCED, SENDER)


CASES = list(
    itertools.product(
        [Q, P, None],  # the recipient's primary
        [True, False],  # the recipient has an account there
        list(SYNCS),  # the recipient's sync on P
        [P, Q, R],  # the sender's primary
        list(SYNCS),  # the sender's sync on Q
    )
)


@pytest.mark.parametrize(
    ("recipient_primary", "recipient_account", "recipient_sync", "sender_primary", "sender_sync"),
    CASES,
)
def test_every_combination_of_syncs(
    recipient_primary: str | None,
    recipient_account: bool,
    recipient_sync: str,
    sender_primary: str,
    sender_sync: str,
) -> None:
    recipient = person(RECIPIENT, recipient_primary, P, SYNCS[recipient_sync], recipient_account)
    sender = person(SENDER, sender_primary, Q, SYNCS[sender_sync], True)
    verdict = route(sender, recipient, P, NOW)
    assert verdict == expected(
        recipient_primary, recipient_account, recipient_sync, sender_primary, sender_sync
    )


def test_the_combinations_cover_every_outcome() -> None:
    outcomes = {
        (type(v).__name__, v.reason if isinstance(v, NotRelayed) else v.via)
        for v in (expected(*case) for case in CASES)
    }
    assert {r for kind, r in outcomes if kind == "NotRelayed"} == set(Reason)
    assert {r for kind, r in outcomes if kind == "Deliver"} == set(Via)


def test_a_consent_sync_is_an_own_account_and_a_represented_one_is_not() -> None:
    consent = person(1, R, P, SYNCS["consent"], True)
    represented = person(1, R, P, SYNCS["represented"], True)
    assert consent.own_account(P) == f"{P}-1" and consent.own_account(R) == f"{R}-1"
    assert represented.own_account(P) is None
    assert person(1, R, P, SYNCS["pending"], True).own_account(P) is None


def test_one_conversation_key_for_both_directions() -> None:
    assert conversation_key(7, 3) == conversation_key(3, 7) == "relay:3:7"


platforms = st.sampled_from([P, Q, R, "webex"])
sync_facts = st.one_of(st.none(), st.sampled_from([s for s in SYNCS.values() if s is not None]))


@st.composite
def people_views(draw: st.DrawFn, person_id: int) -> PersonView:
    primary = draw(st.one_of(st.none(), platforms))
    on = draw(st.lists(platforms, unique=True))
    syncs = {p: s for p in on if (s := draw(sync_facts)) is not None and p != primary}
    accounts = {p: f"{p}-{person_id}" for p in draw(st.lists(platforms, unique=True))}
    return PersonView(person_id, f"P{person_id}", primary, accounts, syncs)


@given(people_views(SENDER), people_views(RECIPIENT), platforms)
def test_invariants(sender: PersonView, recipient: PersonView, written_on: str) -> None:
    verdict = route(sender, recipient, written_on, NOW)
    if recipient.primary == written_on:
        assert verdict == NotRelayed(Reason.NOT_A_RELAY, None)
        return
    if isinstance(verdict, NotRelayed):
        assert verdict.tell == SENDER  # whoever wrote is told, unless it was no relay at all
        for person_id, platform in verdict.prompt:  # only pending syncs are prompted
            who = sender if person_id == SENDER else recipient
            assert who.syncs[platform].status == "pending"
        return
    assert verdict.target == recipient.primary != written_on  # on the recipient's primary
    assert verdict.to_user_id == recipient.accounts[verdict.target]
    assert recipient.synced(written_on)  # the recipient is reachable where it was written
    sync = sender.syncs[verdict.target]  # the sender is present there, not as their primary
    assert sender.primary != verdict.target
    assert (verdict.via is Via.USER) == (sync.kind == "consent")
    assert verdict.sync_id == (sync.id if verdict.via is Via.USER else None)
    assert (verdict.waiting_until is not None) == (sync.status == "failed")
