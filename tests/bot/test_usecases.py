"""The pure parts of the use cases (bot/usecases/) and the one declaration per command."""

from __future__ import annotations

import pytest

from bot.commands import chat, grammar
from bot.sync import OrgFacts, PersonFacts, Rule, Status, SyncKind, SyncRefused
from bot.usecases import imports, reset, sync, unsync, users
from store.hub_queries import SEARCH_COUNT_CAP
from store.models import Account, Person
from store.models import Sync as SyncRow

ORG = OrgFacts(connected=frozenset({"slack", "zoom", "teams"}), required_platform=None)


def person(primary: str | None, active: set[str], **statuses: Status) -> PersonFacts:
    return PersonFacts(primary, frozenset(active), statuses)


# --- sync: what would happen on each platform ------------------------------------------------


def test_all_means_every_connected_platform_but_the_primary() -> None:
    assert sync.wanted(["slack", "zoom", "teams"], "slack", None) == ["zoom", "teams"]
    assert sync.wanted(["slack", "zoom"], None, None) == ["slack", "zoom"]


def test_named_platforms_are_planned_once_each_in_the_order_typed() -> None:
    assert sync.wanted(["slack", "zoom", "teams"], "slack", ["teams", "zoom", "teams"]) == [
        "teams",
        "zoom",
    ]


def test_each_platform_is_planned_on_its_own() -> None:
    bob = person("slack", {"slack", "zoom"}, teams=Status.SYNCED)
    items = sync.plan_each(bob, ORG, ["zoom", "teams", "slack"], str.title)
    assert [i.platform for i in items] == ["zoom", "teams", "slack"]
    assert items[0].kind is SyncKind.CONSENT and items[0].refused is None
    assert items[1].kind is None and items[1].refused is not None
    assert items[1].refused.rule is Rule.ALREADY_SYNCED
    assert items[2].refused is not None and items[2].refused.rule is Rule.SAME_PLATFORM


def test_a_plan_offers_only_what_the_rules_allow() -> None:
    bob = person("slack", {"slack"})
    items = sync.plan_each(bob, ORG, ["teams", "slack"], str.title)
    plan = sync.SyncPlan(Person(id=1, display_name="Bob"), items)
    assert plan.doable == ["teams"]
    assert items[0].kind is SyncKind.REPRESENTED


def test_the_offer_says_which_kind_of_sync_and_where_the_dm_goes() -> None:
    consent = sync.offer(SyncKind.CONSENT, "Bob *B*", "Zoom", "Slack")
    assert consent.startswith("Bob *B* has a Zoom account") and "consent DM on Slack" in consent
    assert "(consent sync)" in consent
    represented = sync.offer(SyncKind.REPRESENTED, "Bob", "Teams", "Slack")
    assert "has no Teams account" in represented and "(represented sync)" in represented


def test_a_refusal_says_the_rule_and_the_fix() -> None:
    refused = SyncRefused(Rule.NOT_CONNECTED, "Zoom is not connected.", "Connect it.")
    assert sync.refusal(refused) == "can't sync. Zoom is not connected. Connect it."


# --- the questions asked before something is removed -----------------------------------------


def test_unsync_and_reset_ask_about_the_person_by_name() -> None:
    asked = unsync.question("Bob Marley", "Zoom")
    assert asked.title == "Unsync Bob Marley from Zoom?"
    assert asked.lines == ("Their Zoom link is removed and any tokens are revoked.",)
    asked = reset.question("Bob Marley")
    assert asked.title == "Reset Bob Marley?"
    assert any("imported accounts stay" in line for line in asked.lines)


# --- users and imports -----------------------------------------------------------------------


def row(platform: str, status: Status) -> SyncRow:
    return SyncRow(platform=platform, status=status.value)


def test_each_platform_shows_its_status_and_the_primary_shows_none() -> None:
    bob = Person(id=1, display_name="Bob", primary_platform="slack")
    cells = users.statuses(["slack", "zoom", "teams"], bob, [row("zoom", Status.PENDING)])
    assert cells == [("slack", None), ("zoom", Status.PENDING), ("teams", Status.NOT_CREATED)]


def test_a_person_with_no_live_human_account_is_inactive() -> None:
    gone = Account(platform="slack", is_active=False, is_bot=False)
    bot = Account(platform="zoom", is_active=True, is_bot=True)
    live = Account(platform="teams", is_active=True, is_bot=False)
    assert users.is_inactive([]) and users.is_inactive([gone, bot])
    assert not users.is_inactive([gone, live])


def test_the_primary_is_named_or_not_chosen() -> None:
    assert users.primary_text(str.upper, Person(primary_platform="zoom")) == "ZOOM"
    assert users.primary_text(str.upper, Person(primary_platform=None)) == "not chosen"


@pytest.mark.parametrize(
    ("total", "shown", "more"),
    [(3, 3, ""), (20, 15, "5"), (SEARCH_COUNT_CAP + 1, 15, f"more than {SEARCH_COUNT_CAP - 15}")],
)
def test_a_page_says_how_many_more_match(total: int, shown: int, more: str) -> None:
    people = [Person(id=i, display_name=f"P{i}") for i in range(shown)]
    assert users.UsersPage(people, {}, {}, total).more() == more


def test_an_import_without_a_platform_reads_every_connected_one() -> None:
    assert imports.targets(["slack", "zoom"], None) == ["slack", "zoom"]
    assert imports.targets(["slack", "zoom"], "zoom") == ["zoom"]


# --- one declaration per command ---------------------------------------------------------------


def test_every_declared_command_has_its_chat_handler_and_no_other() -> None:
    assert set(chat.HANDLERS) == {s.name for s in grammar.SPECS}


def test_every_command_that_asks_first_can_be_confirmed() -> None:
    asking = {s.name for s in grammar.SPECS if s.confirm is not None}
    assert asking == set(chat.CONFIRMED) == {"sync", "unsync", "reset"}
    assert {s.name for s in grammar.SPECS if s.danger} == {"unsync", "reset"}


def test_a_parsed_command_knows_its_declaration() -> None:
    for spec in grammar.SPECS:
        command = grammar.parse(spec.example, ["slack", "zoom", "teams"])
        assert grammar.spec_of(command) is spec
        assert spec.terminal.startswith("mio ") and "/mio" not in spec.terminal
