"""Outbox rows hold no usable secret in plaintext: a copy of the table (a backup, a replica,
a support dump) must not let anyone press someone's Allow button or finish their sign-in.

The raw table is scanned with plain SQL, before and after delivery, for the consent token and
the sign-in URL the person later received; delivery still works end to end.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from tests.e2e.conftest import ADMIN, Harness

BOB = "bob@acme.test"
# Each platform once as the primary (where the consent DM and its sign-in step are sent).
PAIRS = [("slack", "zoom"), ("zoom", "teams"), ("teams", "webex"), ("webex", "slack")]


async def raw_outbox(h: Harness) -> str:
    """Every column of every outbox row, as the database returns it."""
    async with h.core.sessions() as session:
        rows = (await session.execute(text("SELECT * FROM outbox"))).all()
    assert rows, "nothing was queued"
    return "\n".join(" | ".join(str(value) for value in row) for row in rows)


def assert_absent(secrets: list[str], dump: str) -> None:
    for secret in secrets:
        assert len(secret) >= 16, secret
        if secret in dump:  # not `assert … not in`: its report would print the secret
            pytest.fail(f"{secret[:6]}… is stored in plaintext in the outbox")


@pytest.mark.parametrize(("primary", "secondary"), PAIRS)
async def test_consent_token_and_sign_in_url_are_not_stored_in_plaintext(
    harness: Harness, primary: str, secondary: str
) -> None:
    h = harness
    agent = h.agents[primary]
    await h.command(primary, ADMIN, f"primary {BOB} {primary}")
    seen = await agent.command(ADMIN, f"sync {BOB} {secondary}")
    await h.press_and_read(primary, ADMIN, seen, "mio:confirm")
    queued = await raw_outbox(h)  # the consent DM, not delivered yet
    await h.deliver()
    (dm,) = agent.dms(BOB)
    token = dm.actions["mio:consent:allow"]
    assert_absent([token], queued + await raw_outbox(h))

    assert await agent.press(BOB, dm, "mio:consent:allow") == 200
    queued = await raw_outbox(h)  # the sign-in step, not delivered yet (Webex: a new message)
    await h.deliver()
    (link,) = [link for m in agent.dms(BOB) for link in m.links]
    (state,) = parse_qs(urlsplit(link).query)["state"]
    assert_absent([link, state], queued + await raw_outbox(h))

    callback = await h.agents[secondary].authorize(link, BOB)
    async with h.http.get(callback) as resp:
        assert resp.status == 200, await resp.text()
    await h.deliver()
    assert await h.status(BOB, secondary) == ("synced", None)
    assert any("✅" in m.text for m in agent.dms(BOB))
