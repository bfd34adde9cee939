"""Queueing outbox rows: each kind's row keeps its routing readable and seals the rest, is
queued once per key, and reads back as the same kind. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.core import Core
from bot.delivery import Worker
from bot.outbox_kinds import (
    KINDS,
    ImportAndReport,
    Kind,
    Reply,
    Revoke,
    RevokeSignIn,
    RunImport,
    SendDm,
    UpdateDm,
)
from bot.relay.kinds import RelayCapture, RelayPost
from bot.relay.subscriptions import Backfill, Subscribe, Unsubscribe
from bot.types import Identity, Message, MessageRef, PlatformUserId, ReplyTarget, TokenGrant
from store.models import OutboxItem
from tests.bot.test_delivery import BOB, FAKE, NOW, FakePlatform, make_core

TARGET = ReplyTarget(FAKE, {"response_url": "https://hooks.example.test/secret-path"})


@pytest.fixture
def core(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Core:
    from cryptography.fernet import Fernet

    return make_core(db_sessionmaker, FakePlatform(), Fernet.generate_key())


async def only_row(core: Core) -> OutboxItem:
    async with core.sessions() as session:
        (row,) = (await session.execute(select(OutboxItem))).scalars()
    return row


def read_back(core: Core, row: OutboxItem) -> Kind:
    return KINDS[row.kind].load(outbox.unseal(core, dict(row.payload), row.secret))


async def test_a_dm_keeps_its_text_sealed_and_reads_back_as_itself(core: Core) -> None:
    message = Message(text="Press Allow: https://mio.example.test/consent?token=secret-token")
    async with core.transaction() as session:
        await outbox.send_dm(session, core, BOB, message, key="dm:1", sync_id=None)
        await outbox.send_dm(session, core, BOB, Message(text="again"), key="dm:1")
    row = await only_row(core)
    assert (row.kind, row.platform, row.state, row.attempts) == ("send_dm", FAKE, "pending", 0)
    assert row.next_attempt_at == NOW and row.sync_id is None
    assert "secret-token" not in str(row.payload) and "secret-token" not in (row.secret or "")
    assert row.payload["user"]["user_id"] == "U1"
    assert read_back(core, row) == SendDm(BOB, message)


@pytest.mark.parametrize(
    "queue",
    [
        lambda s, c: outbox.update_dm(
            s, c, MessageRef(FAKE, "D1", "m1"), Message(text="edited"), key="k"
        ),
        lambda s, c: outbox.reply(s, c, TARGET, Message(text="answer"), key="k"),
        lambda s, c: outbox.revoke_sign_in(
            s,
            c,
            FAKE,
            TokenGrant(Identity(PlatformUserId("U1"), "b@x.test"), "tok", "r", scope="s"),
            key="k",
        ),
        lambda s, c: outbox.import_and_report(s, c, ["fake"], "slack:U0ADA", TARGET, key="k"),
        lambda s, c: outbox.run_import(s, c, "fake", "run-1", "hub:ada"),
    ],
    ids=["update_dm", "reply", "revoke_sign_in", "import", "import_run"],
)
async def test_each_kind_round_trips_through_its_row(core: Core, queue: Any) -> None:
    async with core.transaction() as session:
        await queue(session, core)
    row = await only_row(core)
    kind = read_back(core, row)
    assert kind.name == row.kind
    as_stored = json.loads(json.dumps([kind.routing(), kind.sealed()]))  # tuples become lists
    assert as_stored == [row.payload, _opened(core, row.secret)]
    assert "secret-path" not in str(row.payload) and "tok" not in str(row.payload)


def _opened(core: Core, secret: str | None) -> dict[str, Any] | None:
    return core.vault.open(secret) if secret is not None else None


async def test_a_revocation_keeps_the_grant_as_sealed_tokens(core: Core) -> None:
    tokens = core.vault.seal({"user_id": "U1", "access_token": "tok-1", "scope": "chat"})
    async with core.transaction() as session:
        await outbox.revoke(session, core, FAKE, 7, tokens, key="revoke:7")
    row = await only_row(core)
    assert row.payload == {"person_id": 7} and "tok-1" not in (row.secret or "")
    revoke = read_back(core, row)
    assert isinstance(revoke, Revoke) and revoke.person_id == 7
    assert revoke.grant["access_token"] == "tok-1"


async def test_rows_queued_before_sealing_still_read_back(core: Core) -> None:
    """Rows written by an earlier version kept the message in the readable payload."""
    kind = KINDS["reply"].load(
        outbox.unseal(
            core,
            {"platform": "fake", "target": {"platform": "fake"}, "message": {"text": "x"}},
            None,
        )
    )
    assert kind == Reply(ReplyTarget(FAKE, {}), Message(text="x"))


def test_the_table_holds_every_kind_once() -> None:
    relay = (RelayPost, RelayCapture, Subscribe, Unsubscribe, Backfill)
    kinds = (SendDm, UpdateDm, Reply, Revoke, RevokeSignIn, ImportAndReport, RunImport, *relay)
    assert KINDS == {k.name: k for k in kinds}
    assert [k for k in kinds if k.background] == [ImportAndReport, RunImport]
    assert [k for k in kinds if not k.paced] == [ImportAndReport, RunImport]


async def test_the_worker_wakes_when_a_row_is_committed(core: Core) -> None:
    core.outbox_ready.clear()
    async with core.transaction() as session:
        await outbox.reply(session, core, TARGET, Message(text="answer"), key="k")
        assert not core.outbox_ready.is_set()  # not before the commit
    assert core.outbox_ready.is_set()
    await Worker(core).drain()
    assert (await only_row(core)).state == "done"
