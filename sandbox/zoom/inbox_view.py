"""The demo's browser view of a Zoom user's chat with the bot: messages and their buttons."""

from __future__ import annotations

import html
import urllib.parse

from aiohttp import web

from sandbox.zoom.events import ZoomEvents
from sandbox.zoom.model import (
    BOT_NAME,
)

_e = html.escape


class ZoomInboxView(ZoomEvents):
    """`/inbox/{user_id}`: a press on the page is delivered to the bot as a signed event."""

    async def _inbox_page(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise web.HTTPNotFound(text="no such sandbox user")
        cards = []
        for message in self.inbox(user.id):
            buttons = "".join(
                f'<button name="value" value="{_e(b.get("value", ""))}">'
                f"{_e(b.get('text', ''))}</button>"
                for b in message.buttons
            )
            form = (
                f'<form method="post" action="/inbox/{_e(user.id)}/press">'
                f'<input type="hidden" name="message_id" value="{_e(message.message_id)}">'
                f"{buttons}</form>"
            )
            edited = " (edited)" if message.edited else ""
            cards.append(
                f"<article><pre>{_e(message.text)}</pre>"
                f"<small>{message.sent_time}{edited}</small>{form}</article>"
            )
        name = _e(user.display_name)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Zoom · {name}</title></head>"
            f"<body><h1>{name}'s chat with {BOT_NAME}</h1>"
            f"{''.join(cards) or '<p>No messages.</p>'}</body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _inbox_press(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        form = await request.post()
        message = self._messages.get(str(form.get("message_id", "")))
        if user_id not in self.users or message is None:
            raise web.HTTPNotFound(text="no such message")
        await self.press(user_id, message, str(form.get("value", "")))
        return web.Response(
            status=303, headers={"Location": f"/inbox/{urllib.parse.quote(user_id)}"}
        )
