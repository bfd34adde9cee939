"""A browser view of each person's DM with the bot, for `mio demo`: read it, click, type `/mio`.

Clicks and commands go through the stand-in's real signed deliveries, so the demo exercises
exactly the path the tests do.
"""

from __future__ import annotations

import json
import re
from html import escape
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
        app.router.add_get("/inbox/{user_id}/dms", self._dms)
        app.router.add_post("/inbox/{user_id}/dms", self._write)

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

    # -- people's own 1:1s (the relay): read them and type in them ---------------------------
    async def _dms(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if user_id not in self._sandbox.users:
            return web.Response(status=404, text="no such sandbox user")
        return html(p.page(self._dms_html(user_id)))

    async def _write(self, request: web.Request) -> web.Response:
        """`user_id` types in their 1:1 with `to`, which fires the user events (relay)."""
        user_id = request.match_info["user_id"]
        form = await request.post()
        to, text = str(form.get("to", "")), str(form.get("text", "")).strip()
        people = {u["id"] for u in self._sandbox._people()}
        if user_id not in people or to not in people or to == user_id or not text:
            return web.Response(status=400, text="choose someone else and type a message")
        await self._sandbox.user_dm(user_id, to, text)
        return web.Response(status=303, headers={"Location": f"/inbox/{user_id}/dms"})

    def _dms_html(self, user_id: str) -> str:
        sandbox = self._sandbox
        name = sandbox.users[user_id].get("real_name", user_id)
        sections = []
        for other in sandbox._people():
            if other["id"] == user_id:
                continue
            lines = "".join(
                f"<p><b>{escape(sandbox.users[m.sender_id].get('real_name', m.sender_id))}"
                f"</b>{' (via Mio)' if m.by_app else ''}: {escape(m.text)}</p>"
                for m in sandbox.conversation(user_id, other["id"])
            )
            if lines:
                sections.append(f"<h2>{escape(other.get('real_name', other['id']))}</h2>{lines}")
        options = "".join(
            f'<option value="{escape(u["id"])}">{escape(u.get("real_name", u["id"]))}</option>'
            for u in sandbox._people()
            if u["id"] != user_id
        )
        return (
            f"<h1>{escape(name)}'s direct messages</h1>"
            f"{''.join(sections) or '<p>No direct messages yet.</p>'}"
            f'<form method="post" action="/inbox/{escape(user_id)}/dms">'
            f'<label>To <select name="to">{options}</select></label> '
            f'<input name="text" size="40"> <button>Send</button></form>'
        )
