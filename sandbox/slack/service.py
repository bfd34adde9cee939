"""The Slack stand-in: the Web API and response_url (`web_api.py`) plus signed deliveries to
the bot on behalf of the org's people (OAuth v2 is in `oauth.py`, the demo's browser view in
`inbox_view.py`).

The people act exactly as Slack delivers them (signed bodies, retries resent byte for byte), so
tests exercise the bot's real verifier.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sandbox.base import NativeDm
from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.inbox_view import InboxView
from sandbox.slack.payloads import SandboxMessage
from sandbox.slack.web_api import EVENTS_PATH, SlackWebApi


class SlackSandbox(SlackWebApi):
    """The workspace's Web API (`web_api.py`) plus its people: they type commands, press
    buttons and write to the bot, delivered signed to `{bot_url}/slack/events`; they also DM
    each other (a `RelayStandIn`), which fires the user events of whoever authorized the app.
    """

    # When a delivery is not acked with a 2xx, Slack retries it almost at once, after 1 min and
    # after 5 min, with X-Slack-Retry-Num (platform-apis §A.1); tests shorten the waits.
    retry_delays: tuple[float, ...] = (0.0, 60.0, 300.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event_log: list[tuple[str, int]] = []  # (event_id, HTTP status) per attempt
        self._tasks: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().stop()

    async def settle(self) -> None:
        """Wait for the deliveries still under way (events fired by API posts)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        self.oauth.add_routes(app)
        app.router.add_post("/response/{token}", self._response_url)
        InboxView(self).add_routes(app)

    # -- acting as the org's people: signed deliveries to the bot ----------------------------
    def sign(self, body: bytes, ts: int | None = None) -> dict[str, str]:
        """Slack's signature headers for `body`; pass an old `ts` to forge a stale request."""
        return wire.sign(self.signing_secret, body, int(time.time()) if ts is None else ts)

    async def deliver(
        self, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST `body` signed to the bot's /slack/events; (HTTP status, response text)."""
        if self._session is None:
            raise RuntimeError("SlackSandbox.start() must run before delivering to the bot")
        url = self.bot_url.rstrip("/") + EVENTS_PATH
        sent = {"Content-Type": content_type, **self.sign(body), **(headers or {})}
        async with self._session.post(url, data=body, headers=sent) as response:
            return response.status, await response.text()

    async def slash_command(
        self, user_id: str, text: str, *, command: str = "/mio"
    ) -> tuple[int, str]:
        """`user_id` types `{command} {text}` in their DM with the bot (§D.1).

        Slack shows the ack's body as the answer: an ephemeral one lands in `ephemerals`, an
        in_channel one in the DM, where `press` can click its buttons.
        """
        channel = self.dm_channel(self.bot_user_id, user_id)
        form = p.slash_command_form(
            self.workspace,
            self.users[user_id],
            channel=channel,
            command=command,
            text=text,
            response_url=self._new_response_url(user_id),
            trigger_id=self._trigger_id(),
        )
        status, answer = await self.deliver(urlencode(form).encode(), wire.FORM)
        if status == 200 and answer.startswith("{"):
            body = json.loads(answer)
            shown = SandboxMessage(
                channel,
                self._ts(),
                self.bot_user_id,
                str(body.get("text", "")),
                body.get("blocks", []),
            )
            if body.get("response_type") == "in_channel":
                self.messages[(channel, shown.ts)] = shown
            else:
                self.ephemerals.append(shown)
        return status, answer

    async def press(self, user_id: str, message: SandboxMessage, action_id: str) -> tuple[int, str]:
        """`user_id` clicks the button `action_id` of `message` (a block_actions payload, §C.1);
        a message not in the DM's history counts as ephemeral, as a command's answer is."""
        current = self.messages.get((message.channel, message.ts))
        ephemeral = current is None
        shown = message if current is None else current
        block, button = wire.find_button(shown.blocks, action_id)
        payload = p.block_actions(
            self.workspace,
            self.users[user_id],
            shown,
            p.button_action(block, button, self._ts()),
            ephemeral=ephemeral,
            response_url=self._new_response_url(user_id, shown),
            trigger_id=self._trigger_id(),
        )
        return await self.deliver(urlencode({"payload": json.dumps(payload)}).encode(), wire.FORM)

    async def dm_bot(
        self, user_id: str, text: str, *, event_id: str | None = None, retry_num: int | None = None
    ) -> tuple[int, str]:
        """`user_id` writes `text` to the bot (message.im); the same `event_id` with a
        `retry_num` is Slack's retry of that delivery: the same body, signed afresh."""
        if event_id is None or event_id not in self._deliveries:
            event_id = event_id or f"Ev{secrets.token_hex(5).upper()}"
            channel = self.dm_channel(self.bot_user_id, user_id)
            message = SandboxMessage(channel, self._ts(), user_id, text, [])
            self.messages[(channel, message.ts)] = message
            self._deliveries[event_id] = p.dumps(p.im_event(self.workspace, event_id, message))
        headers: dict[str, str] = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.deliver(self._deliveries[event_id], "application/json", headers)

    # -- the relay: people's own 1:1s, and the user events they fire (RelayStandIn) ----------
    async def user_dm(self, sender_id: str, recipient_id: str, text: str) -> str:
        """`sender_id` types `text` in their 1:1 with `recipient_id` (opened as Slack does)."""
        channel = self.dm_channel(sender_id, recipient_id)
        message = SandboxMessage(channel, self._ts(), sender_id, text, [])
        self.messages[(channel, message.ts)] = message
        await self._announce(message)
        return message.ts

    async def user_to_bot(self, sender_id: str, text: str, thread_id: str | None = None) -> str:
        """`sender_id` types `text` in their DM with the bot, in `thread_id` when given: a bot
        event (`message.im`, bot scope im:history, relay-apis §1.7)."""
        channel = self.dm_channel(self.bot_user_id, sender_id)
        message = SandboxMessage(channel, self._ts(), sender_id, text, [], thread_ts=thread_id)
        self.messages[(channel, message.ts)] = message
        event_id = self._event_id()
        self._deliveries[event_id] = p.dumps(p.im_event(self.workspace, event_id, message))
        await self._deliver_event(event_id)
        return message.ts

    def conversation(self, user_id: str, other_id: str) -> list[NativeDm]:
        channel = self._dms.get(frozenset({user_id, other_id}))
        found = sorted(
            (m for m in self.messages.values() if m.channel == channel),
            key=lambda m: float(m.ts),
        )
        return [NativeDm(m.ts, m.user, m.text, m.thread_ts, m.by_app) for m in found]

    def revoke_user_token(self, user_id: str) -> None:
        """Every token of `user_id` stops working (`token_revoked`), and Slack tells the app
        with a `tokens_revoked` event naming them in `tokens.oauth`."""
        self.revoked.update(t for t, owner in self.user_tokens.items() if owner == user_id)
        event_id = self._event_id()
        body = p.tokens_revoked(self.workspace, event_id, [user_id])
        self._deliveries[event_id] = p.dumps(body)
        self._spawn(self._deliver_event(event_id))

    def posted(self, message: SandboxMessage) -> None:
        """A chat.postMessage fires the same user event a typed message does."""
        self._spawn(self._announce(message))

    async def _announce(self, message: SandboxMessage) -> None:
        """One `message.im` user event for a message in a 1:1 between two people, listing ONE
        member who authorized the app with im:history (relay-apis §1.1, surprise 1): once per
        message, even when both did. The bot's own DM is not a user event here."""
        members = self._dm_members.get(message.channel) or frozenset()
        if self.bot_user_id in members:
            return
        owner = next((u for u in sorted(members) if self._listens(u)), None)
        if owner is None:
            return
        event_id = self._event_id()
        body = p.user_event(self.workspace, event_id, message, owner)
        self._deliveries[event_id] = p.dumps(body)
        await self._deliver_event(event_id)

    def _listens(self, user_id: str) -> bool:
        return any(
            owner == user_id
            and token not in self.revoked
            and "im:history" in self.oauth.scopes.get(token, frozenset())
            for token, owner in self.user_tokens.items()
        )

    async def _deliver_event(self, event_id: str, attempt: int = 0) -> None:
        """Deliver once; a non-2xx or no answer is retried later, as Slack does."""
        headers: dict[str, str] = {}
        if attempt:
            headers = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
        try:
            status, _ = await self.deliver(self._deliveries[event_id], "application/json", headers)
        except aiohttp.ClientError:
            status = 0
        self.event_log.append((event_id, status))
        if not 200 <= status < 300 and attempt < len(self.retry_delays):
            self._spawn(self._retry(event_id, attempt + 1))

    async def _retry(self, event_id: str, attempt: int) -> None:
        await asyncio.sleep(self.retry_delays[attempt - 1])
        await self._deliver_event(event_id, attempt)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _event_id(self) -> str:
        return f"Ev{secrets.token_hex(5).upper()}"

    async def url_verification(self, challenge: str | None = None) -> tuple[int, str]:
        """The Events API handshake Slack sends when the request URL is saved (§A.1)."""
        body = {
            "token": self.workspace.verification_token,
            "challenge": challenge or secrets.token_urlsafe(36),
            "type": "url_verification",
        }
        return await self.deliver(p.dumps(body), "application/json")

    async def authorize(self, authorize_url: str, user_id: str, approve: bool = True) -> str:
        """`user_id` opens the consent page and clicks Allow or Cancel; returns the redirect's
        Location (the bot's callback with `code` or `error`), not followed."""
        if self._session is None:
            raise RuntimeError("SlackSandbox.start() must run before authorizing")
        async with self._session.get(authorize_url) as page:
            if page.status != 200:
                raise AssertionError(f"authorize page answered {page.status}: {await page.text()}")
        decision = {"user_id": user_id, "decision": "allow" if approve else "deny"}
        async with self._session.post(
            authorize_url, data=decision, allow_redirects=False
        ) as answer:
            if answer.status != 302:
                raise AssertionError(f"authorize answered {answer.status}: {await answer.text()}")
            return answer.headers["Location"]
