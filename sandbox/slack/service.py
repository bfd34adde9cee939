"""The Slack stand-in: the Web API and response_url (`web_api.py`) plus signed deliveries to
the bot on behalf of the org's people (OAuth v2 is in `oauth.py`, the demo's browser view in
`inbox_view.py`).

The people act exactly as Slack delivers them (signed bodies, retries resent byte for byte), so
tests exercise the bot's real verifier.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web

from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.inbox_view import InboxView
from sandbox.slack.payloads import SandboxMessage
from sandbox.slack.web_api import EVENTS_PATH, SlackWebApi


class SlackSandbox(SlackWebApi):
    """The workspace's Web API (`web_api.py`) plus its people: they type commands, press
    buttons and write to the bot, delivered signed to `{bot_url}/slack/events`."""

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
