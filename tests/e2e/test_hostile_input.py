"""Hostile input that arrives correctly signed: other channels of the Teams bot, old replays.

Each refusal is checked against the whole database: every row of every table is the same
before and after, so "refused" cannot hide a half-applied command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot import connect
from bot.directory import import_platform
from bot.types import DELIVERY_MEMORY
from sandbox.teams import TeamsSandbox
from sandbox.teams.connector import WEBCHAT_SERVICE_URL, webchat_activity
from sandbox.webex import WebexSandbox
from store.models import Account, Base
from tests.e2e.conftest import ADMIN, Harness

BOB = "bob@acme.test"


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with h.core.sessions() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table))
            rows[table.name] = sorted((tuple(r) for r in result), key=repr)
    return rows


async def accounts_on(h: Harness, platform: str) -> list[Account]:
    async with h.core.sessions() as session:
        result = await session.execute(select(Account).where(Account.platform == platform))
        return list(result.scalars())


def teams(h: Harness) -> TeamsSandbox:
    service = h.sandbox.services["teams"]
    assert isinstance(service, TeamsSandbox)
    return service


async def test_a_webchat_activity_claiming_an_admin_is_refused(harness: Harness) -> None:
    """The same bot's Web Chat channel is signed by the Connector's usual key, and its caller
    chooses `from.aadObjectId` and the tenant: it must not run as the Teams admin's command."""
    h = harness
    sandbox = teams(h)
    before = await snapshot(h)
    activity = webchat_activity(
        sandbox,
        f"reset {BOB}",
        **{
            "from": {"id": "29:chosen", "aadObjectId": h.org.find("teams", ADMIN).user_id},
            "conversation": {"id": "DLconv-1", "tenantId": sandbox.tenant_id},
            "channelData": {"tenant": {"id": sandbox.tenant_id}},
        },
    )
    token = sandbox.make_token(serviceurl=WEBCHAT_SERVICE_URL)
    status, _ = await sandbox.deliver(activity, token=token)
    assert status == 403
    assert await snapshot(h) == before


async def test_a_teams_activity_claiming_the_webchat_channel_is_refused(harness: Harness) -> None:
    """A Teams chat whose activity says it comes from another channel is not Teams either."""
    h = harness
    sandbox = teams(h)
    before = await snapshot(h)
    admin = h.org.find("teams", ADMIN).user_id
    activity = sandbox.activity_for(admin, text=f"reset {BOB}", channelId="directline")
    assert (await sandbox.deliver(activity))[0] == 403
    assert await snapshot(h) == before


async def test_tenant_fields_that_disagree_are_not_ours(harness: Harness) -> None:
    """Both places Teams writes the tenant must name ours; one of them is not enough."""
    h = harness
    sandbox = teams(h)
    before = await snapshot(h)
    admin = h.org.find("teams", ADMIN).user_id
    activity = sandbox.activity_for(
        admin, text=f"reset {BOB}", channelData={"tenant": {"id": "another-tenant"}}
    )
    status, _ = await sandbox.deliver(activity)
    assert status == 200  # acknowledged, so Teams does not retry, but ignored
    assert await snapshot(h) == before
    assert sandbox.inbox(admin) == []


async def test_the_admin_typing_in_teams_still_works(harness: Harness) -> None:
    """The control: the same command from Teams itself runs."""
    h = harness
    seen = await h.agents["teams"].command(ADMIN, f"reset {BOB}")
    assert "mio:confirm" in seen.actions


def webex(h: Harness) -> WebexSandbox:
    service = h.sandbox.services["webex"]
    assert isinstance(service, WebexSandbox)
    return service


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_a_webex_delivery_older_than_the_memory_is_refused(harness: Harness) -> None:
    """Webex signs no timestamp, so a body captured long ago is still correctly signed; once
    the processed-id row is pruned it would run again, so its `created` time refuses it."""
    h = harness
    sandbox = webex(h)
    admin = h.org.find("webex", ADMIN).user_id
    before = await snapshot(h)
    old = datetime.now(UTC) - DELIVERY_MEMORY - timedelta(minutes=1)
    delivery = await sandbox.deliver(sandbox.captured_message(admin, f"reset {BOB}", iso(old)))
    assert delivery.status == 401, delivery.text
    assert await snapshot(h) == before


async def test_a_fresh_webex_delivery_runs(harness: Harness) -> None:
    h = harness
    sandbox = webex(h)
    admin = h.org.find("webex", ADMIN).user_id
    recent = datetime.now(UTC) - timedelta(days=1)  # late, but still remembered
    delivery = await sandbox.deliver(sandbox.captured_message(admin, f"reset {BOB}", iso(recent)))
    assert delivery.status == 200, delivery.text
    await h.wait_for(lambda: any("mio:confirm" in d.actions for d in h.agents["webex"].dms(ADMIN)))


async def test_a_directory_grant_from_another_webex_org_is_refused(harness: Harness) -> None:
    """Any Webex organisation's admin can authorize our integration; only the bot's own
    organisation's directory may become Mio's, so another one's grant is not kept."""
    h = harness
    sandbox = webex(h)
    stranger = sandbox.add_other_org_admin("Globex", "hank@globex.test", "Hank Scorpio")
    link = await connect.start(h.core, "webex", ADMIN)
    kept = {name: rows for name, rows in (await snapshot(h)).items() if name != "pending_actions"}
    callback = await sandbox.authorize(link, stranger.id)
    async with h.http.get(callback) as resp:
        page = await resp.text()
        assert resp.status == 400
    assert "another Webex organisation" in page
    after = await snapshot(h)
    assert {name: rows for name, rows in after.items() if name != "pending_actions"} == kept
    await import_platform(h.core, "webex", "test")  # still Acme's directory, with Ada's grant
    assert h.org.find("webex", ADMIN).user_id in [
        a.platform_user_id for a in await accounts_on(h, "webex")
    ]
    assert "hank@globex.test" not in [a.email for a in await accounts_on(h, "webex")]


async def test_the_connector_key_is_endorsed_for_every_channel_as_microsofts_are(
    harness: Harness,
) -> None:
    """The sandbox's JWKS is faithful: the key that signs Teams deliveries signs Web Chat's
    too, which is why the bot must read the activity's channelId."""
    connector, other = teams(harness).keys.jwks()["keys"]
    assert {"msteams", "webchat", "directline"} <= set(connector["endorsements"])
    assert "msteams" not in other["endorsements"]
