"""A browser view of each person's 1:1 space with the bot, for `mio demo`: read, press, type;
and of their 1:1 with another person (`/inbox/{person}/dm/{other}`), where they type natively
and read what the relay posted as their correspondents.

Presses and typed messages go through the stand-in's real signed deliveries, so the demo
exercises exactly the path the tests do.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from sandbox.webex.model import SandboxMessage

if TYPE_CHECKING:
    from sandbox.webex.service import WebexSandbox

_e = html.escape


class InboxView:
    """Routes `/inbox/{person_id}` on the stand-in."""

    def __init__(self, sandbox: WebexSandbox) -> None:
        self._sandbox = sandbox

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/inbox/{person_id}", self._page)
        app.router.add_post("/inbox/{person_id}/press", self._press)
        app.router.add_post("/inbox/{person_id}/send", self._send)
        app.router.add_get("/inbox/{person_id}/dm/{other_id}", self._dm_page)
        app.router.add_post("/inbox/{person_id}/dm/{other_id}", self._dm_send)

    def _known(self, request: web.Request, key: str = "person_id") -> str:
        person_id = request.match_info[key]
        if person_id not in self._sandbox.state.people:
            raise web.HTTPNotFound(text="no such sandbox person")
        return person_id

    async def _dm_page(self, request: web.Request) -> web.Response:
        person_id, other_id = self._known(request), self._known(request, "other_id")
        sandbox = self._sandbox
        names = {p: sandbox.person(p).display_name for p in (person_id, other_id)}
        items = "".join(
            f"<article><small>{_e(names.get(m.sender_id, m.sender_id))}"
            f"{' · via app' if m.by_app else ''}</small><pre>{_e(m.text)}</pre></article>"
            for m in sandbox.conversation(person_id, other_id)
        )
        action = f"/inbox/{quote(person_id)}/dm/{quote(other_id)}"
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Webex · {_e(names[person_id])} ↔ {_e(names[other_id])}</title></head><body>
<h1>{_e(names[person_id])}'s 1:1 with {_e(names[other_id])}</h1>
{items or "<p>No messages.</p>"}
<form method="post" action="{action}">
<input name="text" placeholder="**hello**" size="40"><button>Send</button></form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _dm_send(self, request: web.Request) -> web.Response:
        person_id, other_id = self._known(request), self._known(request, "other_id")
        form = await request.post()
        await self._sandbox.user_dm(person_id, other_id, str(form.get("text", "")))
        raise web.HTTPSeeOther(f"/inbox/{quote(person_id)}/dm/{quote(other_id)}")

    async def _page(self, request: web.Request) -> web.Response:
        person_id = self._known(request)
        sandbox = self._sandbox
        room = sandbox.state.direct_room(person_id)
        items = "".join(self._item(person_id, m) for m in sandbox.room_messages(room.id))
        name = _e(sandbox.person(person_id).display_name)
        others = " · ".join(
            f'<a href="/inbox/{quote(person_id)}/dm/{quote(p.id)}">{_e(p.display_name)}</a>'
            for p in sandbox.state.people.values()
            if p.id != person_id and p.type == "person" and p.active
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Webex · {name}</title></head><body>
<h1>{name}'s space with {_e(sandbox.bot.display_name)}</h1>
<p>1:1 with: {others}</p>
{items or "<p>No messages.</p>"}
<form method="post" action="/inbox/{quote(person_id)}/send">
<input name="text" placeholder="help" size="40"><button>Send</button></form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    def _item(self, person_id: str, message: SandboxMessage) -> str:
        who = "bot" if message.person_id == self._sandbox.bot.id else "you"
        forms = []
        for button in message.buttons:
            title = _e(str(button.get("title", "")))
            if button.get("type") == "Action.OpenUrl":
                forms.append(f'<a href="{_e(str(button.get("url", "")))}">{title}</a>')
            elif button.get("type") == "Action.Submit":
                action_id = _e(str((button.get("data") or {}).get("action_id", "")))
                forms.append(
                    f'<form method="post" action="/inbox/{quote(person_id)}/press" '
                    f'style="display:inline"><input type="hidden" name="message_id" '
                    f'value="{_e(message.id)}"><button name="action_id" value="{action_id}">'
                    f"{title}</button></form>"
                )
        thread = " ↳ " if message.parent_id else ""
        return (
            f"<article><small>{thread}{who} · {_e(message.created)}</small>"
            f"<pre>{_e(message.shown_text)}</pre>{''.join(forms)}</article>"
        )

    async def _press(self, request: web.Request) -> web.Response:
        person_id = self._known(request)
        form = await request.post()
        message = self._sandbox.state.messages.get(str(form.get("message_id", "")))
        if message is None:
            raise web.HTTPNotFound(text="no such message")
        try:
            await self._sandbox.press(person_id, message, str(form.get("action_id", "")))
        except LookupError as missing:
            raise web.HTTPNotFound(text=str(missing)) from missing
        raise web.HTTPSeeOther(f"/inbox/{quote(person_id)}")

    async def _send(self, request: web.Request) -> web.Response:
        person_id = self._known(request)
        form = await request.post()
        await self._sandbox.send_text(person_id, str(form.get("text", "")))
        raise web.HTTPSeeOther(f"/inbox/{quote(person_id)}")
