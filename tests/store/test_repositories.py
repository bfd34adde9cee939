"""The repositories against a real database, on SQLite and on PostgreSQL (tests/conftest.py).

Each test writes through one repository and reads back what the callers rely on: upserts by
key, the compare-and-set writes that let several processes share state (a token used once, a
reminder counted once, an import guard held by one run, a rate gate turn taken once), and the
queries the Hub and the commands page through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.imports import ImportRuns
from store.models import Sync
from store.rate_gates import RateGates
from store.repositories import (
    Audit,
    Connections,
    Directory,
    Events,
    Grants,
    PendingActions,
    Syncs,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


async def tx[T](sessions: Sessions, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with sessions() as session, session.begin():
        return await work(session)


def account(platform: str, uid: str, person: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "platform": platform,
        "platform_user_id": uid,
        "person_id": person,
        "email": extra.pop("email", None),
        "display_name": extra.pop("name", uid),
        "is_bot": False,
        "is_guest": False,
        "is_active": True,
        "is_admin": False,
        "extra": {},
        "seen_at": NOW,
        **extra,
    }


async def seed(sessions: Sessions) -> dict[str, int]:
    """Ada on Slack and Zoom, Bob on Slack, a Slack bot."""

    async def work(session: AsyncSession) -> dict[str, int]:
        people: list[dict[str, Any]] = [
            {"match_key": "ada@acme.test", "email": "ada@acme.test", "display_name": "Ada"},
            {"match_key": "bob@acme.test", "email": "bob@acme.test", "display_name": "Bob"},
            {"match_key": "slack:B1", "email": None, "display_name": "Deploy bot"},
        ]
        ids = await Directory(session).upsert_people([{**p, "created_at": NOW} for p in people])
        await Directory(session).upsert_accounts(
            [
                account("slack", "U1", ids["ada@acme.test"], email="ada@acme.test", name="Ada"),
                account("zoom", "Z1", ids["ada@acme.test"], email="ADA@acme.test ", name="Ada"),
                account("slack", "U2", ids["bob@acme.test"], email="bob@acme.test", name="Bob"),
                account("slack", "B1", ids["slack:B1"], name="Deploy bot", is_bot=True),
            ]
        )
        return ids

    return await tx(sessions, work)


async def test_people_and_accounts_upsert_by_key(db_sessionmaker: Sessions) -> None:
    ids = await seed(db_sessionmaker)
    again = {"match_key": "ada@acme.test", "email": "ada@acme.test", "display_name": "Ada L."}

    async def rename(session: AsyncSession) -> dict[str, int]:
        return await Directory(session).upsert_people([{**again, "created_at": NOW}] * 2)

    assert await tx(db_sessionmaker, rename) == {"ada@acme.test": ids["ada@acme.test"]}
    async with db_sessionmaker() as session:
        directory = Directory(session)
        ada = await directory.person(ids["ada@acme.test"])
        assert ada is not None and ada.display_name == "Ada L."
        assert [a.platform for a in await directory.accounts_of(ada.id)] == ["slack", "zoom"]
        assert await directory.count_on("slack") == 3
        assert (await directory.account("zoom", "Z1")).person_id == ada.id  # type: ignore[union-attr]
        assert await directory.account("zoom", "nobody") is None
        assert await directory.count_apart() == {"bots": 1, "guests": 0}
        assert await directory.active_platforms([ada.id, ids["slack:B1"]]) == {
            ada.id: {"slack", "zoom"},
            ids["slack:B1"]: set(),
        }


async def test_find_people_by_email_then_name_then_part(db_sessionmaker: Sessions) -> None:
    ids = await seed(db_sessionmaker)
    async with db_sessionmaker() as session:
        directory = Directory(session)
        assert [p.id for p in await directory.find_people(" ADA@acme.test ")] == [
            ids["ada@acme.test"]
        ]
        assert [p.display_name for p in await directory.find_people("bob")] == ["Bob"]
        assert [p.display_name for p in await directory.find_people("acme")] == ["Ada", "Bob"]
        assert await directory.find_people("nobody at all") == []


async def test_a_search_reads_like_wildcards_as_characters(db_sessionmaker: Sessions) -> None:
    await seed(db_sessionmaker)
    async with db_sessionmaker() as session:
        directory = Directory(session)
        assert [p.display_name for p in await directory.find_people("a_a")] == []  # not "Ada"
        assert [p.display_name for p in await directory.find_people("%")] == []
        assert [p.display_name for p in await directory.find_people("da")] == ["Ada"]


async def test_vanished_accounts_go_inactive_and_name_the_syncs_they_break(
    db_sessionmaker: Sessions,
) -> None:
    ids = await seed(db_sessionmaker)
    ada = ids["ada@acme.test"]

    async def sync_ada(session: AsyncSession) -> None:
        session.add(
            Sync(
                person_id=ada,
                platform="zoom",
                status="synced",
                kind="consent",
                primary_platform="slack",
                requested_at=NOW,
                updated_at=NOW,
            )
        )
        await Directory(session).upsert_accounts(
            [account("slack", "U1", ada, seen_at=NOW + timedelta(hours=1))]
        )

    await tx(db_sessionmaker, sync_ada)

    async def vanish(session: AsyncSession) -> list[tuple[int, int | None]]:
        return await Directory(session).mark_vanished("zoom", NOW + timedelta(minutes=1))

    (gone,) = await tx(db_sessionmaker, vanish)
    assert gone[1] == ada
    async with db_sessionmaker() as session:
        assert await Directory(session).count_inactive("zoom") == 1
        assert await Directory(session).inactive_people_on("zoom") == [ada]
        assert await Directory(session).inactive_people_on("slack") == []


async def test_people_on_walks_by_id_and_primaries_are_set_in_bulk(
    db_sessionmaker: Sessions,
) -> None:
    ids = await seed(db_sessionmaker)
    ada, bob = ids["ada@acme.test"], ids["bob@acme.test"]

    async def set_primaries(session: AsyncSession) -> None:
        await Directory(session).set_primaries(
            [{"id": ada, "primary_platform": "zoom", "primary_chosen_by_admin": True}]
        )

    await tx(db_sessionmaker, set_primaries)
    async with db_sessionmaker() as session:
        directory = Directory(session)
        first = await directory.people_on("slack", 0, 2)
        assert [p.id for p in first] == sorted([ada, bob])[:2]
        rest = await directory.people_on("slack", first[-1].id, 2)
        assert [p.id for p in rest] == [ids["slack:B1"]]
        assert (await directory.person(ada)).primary_platform == "zoom"  # type: ignore[union-attr]
        found = await directory.accounts_for([ada, bob])
        assert {pid: len(accounts) for pid, accounts in found.items()} == {ada: 2, bob: 1}


async def add_sync(sessions: Sessions, person: int, **values: Any) -> int:
    async def work(session: AsyncSession) -> int:
        sync = Sync(
            person_id=person,
            platform=values.pop("platform", "zoom"),
            status=values.pop("status", "pending"),
            kind="consent",
            primary_platform="slack",
            requested_at=NOW,
            updated_at=NOW,
            **values,
        )
        session.add(sync)
        await session.flush()
        return sync.id

    return await tx(sessions, work)


async def test_a_consent_token_is_used_once(db_sessionmaker: Sessions) -> None:
    ids = await seed(db_sessionmaker)
    sync_id = await add_sync(db_sessionmaker, ids["bob@acme.test"], token_hash="h1")

    async def claim(session: AsyncSession) -> bool:
        return await Syncs(session).claim_token(sync_id, "h1")

    assert [await tx(db_sessionmaker, claim), await tx(db_sessionmaker, claim)] == [True, False]
    async with db_sessionmaker() as session:
        assert (await Syncs(session).by_token("h1", lock=False)).id == sync_id  # type: ignore[union-attr]


async def test_a_reminder_is_counted_once_and_due_syncs_are_found(
    db_sessionmaker: Sessions,
) -> None:
    ids = await seed(db_sessionmaker)
    bob = ids["bob@acme.test"]
    due_id = await add_sync(db_sessionmaker, bob, next_due_at=NOW)
    await add_sync(db_sessionmaker, bob, platform="teams", next_due_at=NOW + timedelta(days=1))

    async def due(session: AsyncSession) -> list[Sync]:
        return await Syncs(session).due(NOW, 10)

    (found,) = await tx(db_sessionmaker, due)
    assert found.id == due_id

    async def advance(session: AsyncSession) -> bool:
        # Both processes read reminders_sent == 0 before either wrote.
        return await Syncs(session).advance_reminder(found, 1, NOW + timedelta(days=2))

    assert [await tx(db_sessionmaker, advance), await tx(db_sessionmaker, advance)] == [True, False]
    async with db_sessionmaker() as session:
        assert await Syncs(session).counts() == {("zoom", "pending"): 1, ("teams", "pending"): 1}
        assert [s.platform for s in await Syncs(session).of_person(bob)] == ["teams", "zoom"]

    async def delete(session: AsyncSession) -> None:
        await Syncs(session).delete([due_id])

    await tx(db_sessionmaker, delete)
    async with db_sessionmaker() as session:
        assert await Syncs(session).get(bob, "zoom") is None
        assert list((await Syncs(session).for_people([bob]))[bob]) != []


async def test_a_grant_is_replaced_per_person_and_platform(db_sessionmaker: Sessions) -> None:
    ids = await seed(db_sessionmaker)
    bob = ids["bob@acme.test"]

    def grant(tokens: str) -> dict[str, Any]:
        return {
            "person_id": bob,
            "platform": "zoom",
            "platform_user_id": "Z2",
            "tokens": tokens,
            "expires_at": None,
            "created_at": NOW,
        }

    for tokens in ("sealed-1", "sealed-2"):
        await tx(db_sessionmaker, lambda s, t=tokens: Grants(s).save(grant(t)))  # type: ignore[misc]
    async with db_sessionmaker() as session:
        (kept,) = await Grants(session).of_person(bob)
        assert kept.tokens == "sealed-2"
        assert await Grants(session).of_person(bob, "teams") == []
    await tx(db_sessionmaker, lambda s: Grants(s).delete([kept.id]))
    async with db_sessionmaker() as session:
        assert await Grants(session).of_person(bob) == []


async def test_a_delivery_is_processed_once_until_pruned(db_sessionmaker: Sessions) -> None:
    async def first(session: AsyncSession) -> bool:
        return await Events(session).first_time("slack", "Ev1", NOW)

    assert [await tx(db_sessionmaker, first), await tx(db_sessionmaker, first)] == [True, False]
    await tx(db_sessionmaker, lambda s: Events(s).prune(NOW + timedelta(seconds=1)))
    assert await tx(db_sessionmaker, first)


async def test_a_confirmation_is_taken_once(db_sessionmaker: Sessions) -> None:
    async def ask(session: AsyncSession) -> None:
        PendingActions(session).add(
            token_hash="c1",
            actor="ada@acme.test",
            platform="slack",
            platform_user_id="U1",
            command={"op": "reset", "person": 1},
            expires_at=NOW + timedelta(minutes=15),
        )

    await tx(db_sessionmaker, ask)

    async def take(session: AsyncSession) -> dict[str, Any] | None:
        action = await PendingActions(session).take("c1")
        return action.command if action is not None else None

    assert await tx(db_sessionmaker, take) == {"op": "reset", "person": 1}
    assert await tx(db_sessionmaker, take) is None


async def test_connections_and_the_audit_log(db_sessionmaker: Sessions) -> None:
    await seed(db_sessionmaker)
    await tx(db_sessionmaker, lambda s: Connections(s).save("slack", workspace_name="Acme"))
    await tx(db_sessionmaker, lambda s: Connections(s).save("slack", account_count=3))

    async def log(session: AsyncSession) -> None:
        Audit(session).add(NOW, "system", "first", 1, why="x")
        Audit(session).add(NOW, "system", "second", 2)

    await tx(db_sessionmaker, log)
    async with db_sessionmaker() as session:
        slack = (await Connections(session).all())["slack"]
        assert (slack.workspace_name, slack.account_count) == ("Acme", 3)
        assert await Connections(session).count_accounts("slack") == 2  # the bot is left out
        assert [e.action for e in await Audit(session).recent()] == ["second", "first"]
        (first,) = await Audit(session).recent(person_id=1)
        assert first.detail == {"why": "x"}


async def test_the_import_guard_is_held_by_one_run(db_sessionmaker: Sessions) -> None:
    lease = timedelta(minutes=2)

    def claim(run: str, at: datetime) -> Callable[[AsyncSession], Awaitable[bool]]:
        return lambda s: ImportRuns(s).claim("slack", run, "ada", at, lease)

    assert await tx(db_sessionmaker, claim("a", NOW))
    assert not await tx(db_sessionmaker, claim("b", NOW + timedelta(minutes=1)))
    assert await tx(db_sessionmaker, lambda s: ImportRuns(s).beat("slack", "a", NOW, seen=5))
    assert await tx(db_sessionmaker, claim("b", NOW + lease + timedelta(seconds=1)))  # a died
    assert not await tx(db_sessionmaker, lambda s: ImportRuns(s).beat("slack", "a", NOW))

    def finish(run: str) -> Callable[[AsyncSession], Awaitable[bool]]:
        return lambda s: ImportRuns(s).finish("slack", run, ok=True, sentence="ok", seen=9, now=NOW)

    assert not await tx(db_sessionmaker, finish("a"))  # a cannot overwrite its successor
    assert await tx(db_sessionmaker, finish("b"))
    async with db_sessionmaker() as session:
        run = await ImportRuns(session).get("slack")
        assert run is not None and (run.run_id, run.state, run.seen) == ("b", "done", 9)
        assert set(await ImportRuns(session).all()) == {"slack"}


async def test_a_rate_gate_turn_is_a_compare_and_set(db_sessionmaker: Sessions) -> None:
    async with db_sessionmaker() as session:
        assert await RateGates(session).get("slack:send") is None
    await tx(db_sessionmaker, lambda s: RateGates(s).create("slack:send"))
    await tx(db_sessionmaker, lambda s: RateGates(s).create("slack:send"))  # already there
    assert await tx(db_sessionmaker, lambda s: RateGates(s).swap("slack:send", 0, [1.5]))
    assert not await tx(db_sessionmaker, lambda s: RateGates(s).swap("slack:send", 0, [2.5]))
    await tx(db_sessionmaker, lambda s: RateGates(s).pause("slack:send", NOW))
    async with db_sessionmaker() as session:
        state = await RateGates(session).get("slack:send")
    assert state is not None and (state.marks, state.version) == ([1.5], 1)
    assert state.paused_until == NOW
