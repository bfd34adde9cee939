"""The relay's platform-specific duties against the real app: Graph's validation handshake,
`clientState` checks, renewal and a `missed` backfill; a Webex user webhook repaired at start;
two processes on one database relaying each message once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import WORKER, create_app
from bot.relay import subscriptions
from bot.reminders import repair_subscriptions
from sandbox.teams import TeamsSandbox
from sandbox.webex import WebexSandbox
from store.relay_models import RelayMessage
from tests.e2e.conftest import Harness, free_port
from tests.e2e.relay_support import ADA, BOB, both_linked, relayed, settle, texts


def teams(h: Harness) -> TeamsSandbox:
    service = h.sandbox.services["teams"]
    assert isinstance(service, TeamsSandbox)
    return service


async def relayed_count(h: Harness) -> int:
    async with h.core.sessions() as session:
        return int((await session.execute(select(func.count(RelayMessage.id)))).scalar_one())


@pytest.mark.parametrize("path", ["/teams/notifications", "/teams/lifecycle"])
async def test_graph_validation_is_answered_with_the_decoded_token(
    harness: Harness, path: str
) -> None:
    h = harness
    url = f"{h.url}{path}?validationToken=Validation%3A%20Testing%20client%20%2B%26"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    async with h.http.post(url, data=b"", headers=headers) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert await resp.text() == "Validation: Testing client +&"


async def test_a_forged_client_state_changes_nothing(harness: Harness) -> None:
    """Ada (Slack) is linked on Teams: a notification for her with someone else's clientState
    is refused, and nothing is read or relayed."""
    h = harness
    await both_linked(h, "slack", "teams")
    (subscription,) = teams(h).chats.live(h.agents["teams"].user_id(ADA))
    await teams(h).user_dm(
        h.agents["teams"].user_id(BOB), h.agents["teams"].user_id(ADA), "the real one"
    )
    await settle(h)
    (real,) = [n for n in teams(h).chats.notifications if n.url == subscription.notification_url]
    forged = json.loads(json.dumps(real.body))
    forged["value"][0]["clientState"] = hmac.new(b"guess", b"x", hashlib.sha256).hexdigest()
    forged["value"][0]["resource"] = forged["value"][0]["resource"].replace("')/", "x')/")
    before = await relayed_count(h)
    async with h.http.post(subscription.notification_url, json=forged) as resp:
        assert 400 <= resp.status < 500
    await settle(h)
    assert await relayed_count(h) == before


async def test_subscriptions_are_renewed_before_they_expire(harness: Harness) -> None:
    h = harness
    await both_linked(h, "slack", "teams")
    (subscription,) = teams(h).chats.live(h.agents["teams"].user_id(ADA))
    first_expiry = subscription.expires_at
    h.clock.advance(timedelta(hours=2))  # past the renewal point of a ~1-2 h subscription
    assert await subscriptions.renew_due(h.core) >= 1
    await settle(h)
    (renewed,) = teams(h).chats.live(h.agents["teams"].user_id(ADA))
    assert renewed.id == subscription.id
    assert any(c.method == "PATCH" for c in teams(h).calls_to(f"/subscriptions/{renewed.id}"))
    assert renewed.expires_at >= first_expiry


async def test_missed_notifications_are_backfilled(harness: Harness) -> None:
    """Graph lost notifications (a gap): on `missed` Mio reads the chat since the last
    message it saw, and the message reaches Ada on Slack, once."""
    h = harness
    await both_linked(h, "slack", "teams")
    ada_t, bob_t = h.agents["teams"].user_id(ADA), h.agents["teams"].user_id(BOB)
    await teams(h).user_dm(bob_t, ada_t, "before the gap")
    await settle(h)
    teams(h).chats.paused = True
    await teams(h).user_dm(bob_t, ada_t, "during the gap")
    await settle(h)
    assert texts(h, "slack", ADA, BOB) == ["before the gap"]
    teams(h).chats.paused = False
    (subscription,) = teams(h).chats.live(ada_t)
    notice = await teams(h).chats.lifecycle(subscription, "missed")
    assert 200 <= notice.status < 300
    await settle(h)
    assert texts(h, "slack", ADA, BOB) == ["before the gap", "during the gap"]
    assert [state for _, _, state in await relayed(h)] == ["delivered", "delivered"]


async def test_a_webex_user_webhook_is_repaired_at_start(harness: Harness) -> None:
    h = harness
    await both_linked(h, "slack", "webex")
    webex = h.sandbox.services["webex"]
    assert isinstance(webex, WebexSandbox)
    ada_w = h.agents["webex"].user_id(ADA)
    (hook,) = [k for k in webex.hooks.hooks.values() if k.owner_id == ada_w]
    hook.status = "inactive"  # Webex turned it off after failed deliveries (relay-apis §3.1)
    h.clock.advance(timedelta(days=1))  # a later start: its repair is a new one
    assert await repair_subscriptions(h.core) >= 1
    await settle(h)
    assert hook.status == "active"
    await h.agents["webex"].write_dm(BOB, ADA, "are you there?")
    await settle(h)
    assert texts(h, "slack", ADA, BOB) == ["are you there?"]


async def test_two_processes_relay_each_message_once(harness: Harness) -> None:
    """A second `mio serve` on the same database: each notification also lands there (a
    retry the load balancer routed elsewhere) and both workers run at once; one post each,
    in order."""
    h = harness
    await both_linked(h, "slack", "teams")
    port = free_port()
    app = create_app(h.core.settings, clock=h.clock, background=False)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        service = h.sandbox.services["slack"]
        for text in ("one", "two", "three"):
            await h.agents["slack"].write_dm(ADA, BOB, text)
            sent = service.sent[-1]
            elsewhere = sent.url.replace(h.url, f"http://127.0.0.1:{port}")
            async with h.http.post(elsewhere, data=sent.body, headers=sent.headers) as resp:
                assert resp.status < 300
        await asyncio.gather(h.worker.drain(), app[WORKER].drain())
        await settle(h)
    finally:
        await server.close()
    assert texts(h, "teams", BOB, ADA) == ["one", "two", "three"]
    assert [state for _, _, state in await relayed(h)] == ["delivered"] * 3
