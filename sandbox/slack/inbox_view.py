"""A browser view of each person's DM with the bot, for `mio demo`: read it, click, type `/mio`.

Clicks and commands go through the stand-in's real signed deliveries, so the demo exercises
exactly the path the tests do.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.slack import payloads as p
from sandbox.slack import wire
from sandbox.slack.oauth import html

if TYPE_CHECKING:
    from sandbox.slack.service import SlackSandbox

_TYPED_PREFIX = re.compile(r"^[/@]?mio(?:\s+|$)", re.IGNORECASE)


class InboxView:
    """Routes `/inbox/{user_id}` on the stand-in; reads and acts through the stand-in itself."""

    def __init__(self, sandbox: SlackSandbox) -> None:
        self._sandbox = sandbox

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/inbox/{user_id}", self._page)
        app.router.add_post("/inbox/{user_id}/press", self._press)
        app.router.add_post("/inbox/{user_id}/command", self._command)

    async def _page(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if user_id not in self._sandbox.users:
            return web.Response(status=404, text="no such sandbox user")
        return self._render(user_id)

    async def _press(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        form = await request.post()
        message = self._sandbox.messages.get((str(form.get("channel")), str(form.get("ts"))))
        action_id = str(form.get("action_id", ""))
        try:
            if message is None or user_id not in self._sandbox.users:
                raise LookupError("no such message")
            _, button = wire.find_button(message.blocks, action_id)
        except LookupError as missing:
            return web.Response(status=404, text=str(missing))
        await self._sandbox.press(user_id, message, action_id)
        # A link button also opens its URL in the browser, as the Slack client does.
        location = button.get("url") or f"/inbox/{user_id}"
        return web.Response(status=303, headers={"Location": location})

    async def _command(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if user_id not in self._sandbox.users:
            return web.Response(status=404, text="no such sandbox user")
        form = await request.post()
        # The box is labelled `/mio`: someone typing `/mio help` there means `help`.
        text = _TYPED_PREFIX.sub("", str(form.get("text", "")).strip(), count=1)
        status, body = await self._sandbox.slash_command(user_id, text)
        # Slack shows the ack's body as the answer; an empty 200 means "answered elsewhere".
        try:
            answer = str(json.loads(body).get("text", "")) if body.startswith("{") else body
        except ValueError:
            answer = body
        return self._render(user_id, answer if status == 200 else f"HTTP {status}: {body}")

    def _render(self, user_id: str, answer: str | None = None) -> web.Response:
        sandbox = self._sandbox
        notices = [str(r.get("text", "")) for r in sandbox.responses[user_id]]
        notices += [answer] if answer else []
        user = sandbox.users[user_id]
        return html(p.inbox_page(sandbox.workspace, user, sandbox.inbox(user_id), notices))
