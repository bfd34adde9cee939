"""Who may run Mio's commands: first contact, refusal before parsing, one rule for admins."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from bot.commands.run import NOT_AN_ADMIN
from sandbox.webex.model import FULL_ADMIN_ROLE, READONLY_ADMIN_ROLE
from store.models import Account, Person
from store.repositories import Audit, Directory
from tests.e2e.conftest import ADMIN, Harness

CAROL = "carol@acme.test"  # on Slack and Zoom, an admin nowhere


def refused(answer: str) -> bool:
    """The fixed refusal and nothing else (a platform may repeat it as fallback text)."""
    return NOT_AN_ADMIN in answer and not answer.replace(NOT_AN_ADMIN, "").strip()


async def forget_everyone(h: Harness) -> None:
    """The database of a fresh install: nobody was ever imported."""
    async with h.core.transaction() as session:
        await session.execute(delete(Account))
        await session.execute(delete(Person))


@pytest.mark.parametrize("platform", ["slack", "zoom", "teams", "webex"])
async def test_an_admin_never_imported_is_looked_up_and_may_import(
    harness: Harness, platform: str
) -> None:
    h = harness
    await forget_everyone(h)
    answer = await h.command(platform, ADMIN, f"import {platform}")
    assert "Only Mio admins" not in answer
    assert "Importing users from" in answer
    uid = h.agents[platform].user_id(ADMIN)
    async with h.core.sessions() as session:
        account = await Directory(session).account(platform, uid)
        assert account is not None and account.email == ADMIN  # stored as an import would
        assert account.person_id is not None
        person = await Directory(session).person(account.person_id)
    assert person is not None and person.match_key == ADMIN  # matched by email
    assert person.primary_platform == platform  # one account: its primary, as import sets


async def test_a_platform_admin_never_imported_counts_and_a_stranger_does_not(
    harness: Harness,
) -> None:
    h = harness
    await forget_everyone(h)
    h.slack.users["U0GRACE"]["is_admin"] = True  # a Slack admin, not in MIO_ADMINS
    assert "People" in await h.command("slack", "grace@acme.test", "users")
    assert refused(await h.command("slack", CAROL, "users"))
    async with h.core.sessions() as session:
        carol = await Directory(session).account("slack", "U0CAROL")
    assert carol is not None and not carol.is_admin  # stored too: known from now on


@pytest.mark.parametrize(
    "text",
    [
        "sync eve zoom",  # today: "`zoom` is not a platform I know" names the platforms
        "sync bob@acme.test myspace",
        "status bob@acme.test",  # would show Bob's accounts
        "primary nobody@acme.test slack",  # would say whether the person exists
        "help nonsense",
        "import teams",
    ],
)
async def test_non_admins_are_refused_before_parsing(harness: Harness, text: str) -> None:
    h = harness
    for platform in ("slack", "zoom"):
        answer = await h.command(platform, CAROL, text)
        assert refused(answer), answer
    async with h.core.sessions() as session:
        audit = [e for e in await Audit(session).recent(20) if e.action == "command.refused"]
    assert audit and audit[0].actor == CAROL and audit[0].detail["text"] == text


async def test_words_that_are_no_command_are_for_the_relay(harness: Harness) -> None:
    """Typed to the bot, a message that starts with no command word is for the relay: a
    person who names nobody is told how to write to someone (nothing about the org); as a
    slash command it is still refused."""
    h = harness
    assert refused(await h.command("slack", CAROL, "frobnicate"))
    answer = await h.command("zoom", CAROL, "frobnicate")
    assert "To write to someone through Mio" in answer, answer


async def test_non_admins_may_read_help_and_learn_what_they_can_do(harness: Harness) -> None:
    answer = await harness.command("slack", CAROL, "help")
    assert "`help [command]`" in answer and "ask one of them to sync you" in answer
    assert "sync <user>" not in answer  # admin commands are not listed for them


async def test_a_deactivated_admin_is_refused(harness: Harness) -> None:
    h = harness
    async with h.core.transaction() as session:
        account = await Directory(session).account("slack", "U0ADA")
        assert account is not None
        account.is_active = False
    assert refused(await h.command("slack", ADMIN, "users"))


async def test_bots_are_never_admins_even_by_email(harness: Harness) -> None:
    from bot import admins

    async with harness.core.sessions() as session:
        bot = await Directory(session).account("slack", "U0DEPLOYBOT")
    assert bot is not None
    bot.email, bot.is_admin = ADMIN, True
    assert not admins.account_is_admin(harness.core.settings.admins, bot)


@pytest.mark.parametrize(
    ("roles", "admin"),
    [
        ([READONLY_ADMIN_ROLE], False),  # a Webex role, but not one that manages people
        (["Y2lzY29zcGFyazovL3VzL1JPTEUvaWRfdXNlcl9hZG1pbg"], True),  # id_user_admin
        ([FULL_ADMIN_ROLE], True),
    ],
)
async def test_only_webex_full_and_user_admins_are_admins(
    harness: Harness, roles: list[str], admin: bool
) -> None:
    from bot.directory import import_platform

    h = harness
    webex = h.sandbox.services["webex"]
    vic = h.org.find("webex", "vic@acme.test").user_id
    webex.state.people[vic].other_roles = list(roles)  # type: ignore[attr-defined]
    await import_platform(h.core, "webex", "test")
    async with h.core.sessions() as session:
        account = await Directory(session).account("webex", vic)
    assert account is not None and account.is_admin is admin
    answer = await h.command("webex", "vic@acme.test", "users")
    assert refused(answer) is not admin


async def test_a_platform_that_cannot_say_who_is_asking_gets_a_try_again(
    harness: Harness,
) -> None:
    h = harness
    await forget_everyone(h)
    h.slack.fail("users.info", 500, times=3)  # every attempt of the look-up
    answer = await h.command("slack", ADMIN, "import slack")
    assert "could not ask Slack who you are" in answer and "Try again" in answer
    assert NOT_AN_ADMIN not in answer
    assert "Importing users from" in await h.command("slack", ADMIN, "import slack")
