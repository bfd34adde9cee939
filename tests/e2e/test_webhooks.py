"""Forged, stale, malformed and repeated deliveries; platform outages. Nothing changes twice."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

from store.repositories import Audit
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_consent_flow import BOB, request_consent


async def audit_count(h: Harness) -> int:
    async with h.core.sessions() as session:
        return len(await Audit(session).recent(10_000))


def slack_command_body(h: Harness, text: str) -> bytes:
    return urlencode(
        {
            "command": "/mio",
            "text": text,
            "user_id": h.org.find("slack", ADMIN).user_id,
            "team_id": h.org.workspaces["slack"]["id"],
            "channel_id": "D1",
            "response_url": f"{h.slack.url}/response/x",
            "trigger_id": "1.2.3",
        }
    ).encode()


async def test_forged_and_stale_slack_signatures_are_401_and_change_nothing(
    harness: Harness,
) -> None:
    h = harness
    before = await audit_count(h)
    body = slack_command_body(h, f"reset {BOB}")
    headers = {**h.slack.sign(body), "Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=headers) as resp:
        assert resp.status == 401
    stale = {
        **h.slack.sign(body, ts=int(time.time()) - 6 * 60),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=stale) as resp:
        assert resp.status == 401
    assert await audit_count(h) == before


async def test_forged_and_stale_zoom_signatures_are_401(harness: Harness) -> None:
    h = harness
    before = await audit_count(h)
    body = json.dumps(
        {
            "event": "bot_notification",
            "payload": {"cmd": "users", "userId": h.org.find("zoom", ADMIN).user_id},
        }
    ).encode()
    forged = {**h.zoom.sign(body), "content-type": "application/json"}
    forged["x-zm-signature"] = "v0=" + "1" * 64
    async with h.http.post(f"{h.url}/zoom/events", data=body, headers=forged) as resp:
        assert resp.status == 401
    stale = {**h.zoom.sign(body, ts=int(time.time()) - 3600), "content-type": "application/json"}
    async with h.http.post(f"{h.url}/zoom/events", data=body, headers=stale) as resp:
        assert resp.status == 401
    assert await audit_count(h) == before


async def test_malformed_bodies_are_400(harness: Harness) -> None:
    h = harness
    body = b"{not json"
    headers = {**h.zoom.sign(body), "content-type": "application/json"}
    async with h.http.post(f"{h.url}/zoom/events", data=body, headers=headers) as resp:
        assert resp.status == 400
    body = b'{"event": "bot_notification", "payload": "nope"}'
    headers = {**h.zoom.sign(body), "content-type": "application/json"}
    async with h.http.post(f"{h.url}/zoom/events", data=body, headers=headers) as resp:
        assert resp.status == 400
    async with h.http.get(f"{h.url}/oauth/zoom/callback?code=x") as resp:
        assert resp.status == 400
    async with h.http.get(f"{h.url}/oauth/zoom/callback?code=x&state=forged") as resp:
        assert resp.status == 400
        assert "already used or withdrawn" in await resp.text()


async def test_slack_event_retries_run_the_command_once(harness: Harness) -> None:
    h = harness
    uid = h.org.find("slack", ADMIN).user_id
    status, _ = await h.slack.dm_bot(uid, "users", event_id="Ev0001")
    assert status == 200
    status, _ = await h.slack.dm_bot(uid, "users", event_id="Ev0001", retry_num=1)
    assert status == 200
    async with h.core.sessions() as session:
        commands = [e for e in await Audit(session).recent(100) if e.action == "command"]
    assert len(commands) == 1


async def test_zoom_redelivery_changes_state_once(harness: Harness) -> None:
    h = harness
    await request_consent(h, "zoom", "slack")
    (dm,) = h.agents["zoom"].dms(BOB)
    await h.agents["zoom"].press(BOB, dm, "mio:consent:decline")
    assert await h.status(BOB, "slack") == ("failed", "declined")
    before = await audit_count(h)
    status, _ = await h.zoom.redeliver()
    assert status == 200
    assert await audit_count(h) == before


async def test_payload_word_in_a_slash_command_still_works(harness: Harness) -> None:
    h = harness
    answer = await h.command("slack", ADMIN, "users payload")
    assert "People" in answer


async def test_consent_dm_survives_429_and_500_and_arrives_once(harness: Harness) -> None:
    h = harness
    h.slack.fail("chat.postMessage", 429, times=2, headers={"Retry-After": "3"})
    h.slack.fail("chat.postMessage", 500, times=1)
    await request_consent(h, "slack", "zoom")  # delivers what is due now: the first 429
    assert h.agents["slack"].dms(BOB) == []
    for _ in range(6):
        h.clock.advance(timedelta(seconds=30))
        await h.deliver()
    assert len(h.agents["slack"].dms(BOB)) == 1
    assert len(h.slack.calls_to("chat.postMessage")) == 4
    assert await h.status(BOB, "zoom") == ("pending", None)


async def test_undeliverable_consent_dm_fails_the_sync(harness: Harness) -> None:
    h = harness
    h.slack.fail("chat.postMessage", 200, body={"ok": False, "error": "user_not_found"})
    await request_consent(h, "slack", "zoom")
    assert await h.status(BOB, "zoom") == ("failed", "undeliverable")
