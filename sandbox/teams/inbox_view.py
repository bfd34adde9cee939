"""A browser view of each person's 1:1 chat with the bot, for `mio demo`: read, click, type.

Clicks and typed messages go through the stand-in's real signed deliveries, so the demo
exercises exactly the path the tests do.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.teams.state import ChatActivity, xml_lines

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

_e = html.escape
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")
_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
    "article{border:1px solid #d1d1d1;border-radius:6px;padding:.5rem 1rem;margin:.75rem 0}"
    "article.you{background:#e8ebfa}h3{margin:.4rem 0}button,a.button{margin-right:.5rem}"
)


def _block_html(block: dict[str, object]) -> str:
    """One TextBlock, with the card markdown Teams would render (bold, links)."""
    text = _LINK.sub(r'<a href="\2">\1</a>', _BOLD.sub(r"<b>\1</b>", _e(str(block["text"]))))
    return f"<h3>{text}</h3>" if block.get("weight") == "Bolder" else f"<p>{text}</p>"


def _card_html(user_id: str, message: ChatActivity) -> str:
    blocks = [
        b
        for b in (message.card or {}).get("body", [])
        if isinstance(b, dict) and b.get("type") == "TextBlock" and "text" in b
    ]
    lines = "".join(_block_html(b) for b in blocks) or "".join(
        f"<p>{_e(line)}</p>" for line in message.lines
    )
    buttons = []
    for action in message.actions:
        title = _e(str(action.get("title", "")))
        if action.get("type") == "Action.OpenUrl":
            url = _e(str(action.get("url", "")))
            buttons.append(f'<a class="button" href="{url}">{title}</a>')
        elif isinstance(action.get("data"), dict):
            buttons.append(
                f'<button name="action_id" value="{_e(str(action["data"].get("action_id", "")))}"'
                f">{title}</button>"
            )
    form = (
        f'<form method="post" action="/inbox/{_e(user_id)}/press">'
        f'<input type="hidden" name="activity_id" value="{_e(message.id)}">'
        f"{' '.join(buttons)}</form>"
    )
    edited = " (edited)" if message.edited else ""
    who = "Mio User Sync" if message.from_bot else "You"
    return f"<article><small>{who} · {_e(message.timestamp)}{edited}</small>{lines}{form}</article>"


class InboxView:
    """Routes `/inbox/{user_id}` on the stand-in; reads and acts through the stand-in itself."""

    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/inbox/{user_id}", self._page)
        app.router.add_post("/inbox/{user_id}/press", self._press)
        app.router.add_post("/inbox/{user_id}/send", self._send)
        app.router.add_post("/inbox/{user_id}/dm", self._dm)

    def _back(self, user_id: str) -> web.Response:
        return web.Response(
            status=303, headers={"Location": f"/inbox/{urllib.parse.quote(user_id)}"}
        )

    async def _page(self, request: web.Request) -> web.Response:
        user = self._s.users.get(request.match_info["user_id"])
        if user is None:
            return web.Response(status=404, text="no such sandbox user")
        cards = "".join(_card_html(user.id, m) for m in self._s.chat(user.id))
        name = _e(user.display_name)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Teams · {name}</title>"
            f"<style>{_STYLE}</style></head><body>"
            f"<h1>{name}'s chat with {_e(self._s.bot_name)}</h1>"
            f"{cards or '<p>No messages.</p>'}"
            f'<form method="post" action="/inbox/{_e(user.id)}/send">'
            '<input name="text" placeholder="Type a message, e.g. help" size="60">'
            f"<button>Send</button></form>{self._dms_html(user.id)}</body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    def _dms_html(self, user_id: str) -> str:
        """The person's 1:1 chats with other people (Graph chats, the relay's side), and a
        form to write to anyone natively, which notifies subscriptions as Graph would."""
        chats = []
        for chat in self._s.chats.of(user_id):
            other = next(m for m in chat.members if m != user_id)
            name = self._s.users[other].display_name if other in self._s.users else other
            lines = "".join(
                f"<p><small>{'You' if m.sender_id == user_id else _e(name)}</small> "
                f"{_e(' / '.join(xml_lines(m.content)))}</p>"
                for m in chat.messages
            )
            chats.append(f"<article><h3>{_e(name)}</h3>{lines}</article>")
        people = "".join(
            f'<option value="{_e(u.id)}">{_e(u.display_name)}</option>'
            for u in self._s.users.values()
            if u.id != user_id
        )
        return (
            f"<h2>Direct messages</h2>{''.join(chats) or '<p>None yet.</p>'}"
            f'<form method="post" action="/inbox/{_e(user_id)}/dm"><select name="to">{people}'
            '</select> <input name="text" size="50"> <button>Send</button></form>'
        )

    async def _dm(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        form = await request.post()
        other, text = str(form.get("to", "")), str(form.get("text", "")).strip()
        if user_id not in self._s.users or other not in self._s.users:
            return web.Response(status=404, text="no such sandbox user")
        if text:  # typed as plain text: Teams stores it as HTML
            await self._s.user_dm(user_id, other, f"<p>{html.escape(text)}</p>")
        return self._back(user_id)

    async def _press(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        form = await request.post()
        message = self._s.activities.get(str(form.get("activity_id", "")))
        if user_id not in self._s.users or message is None:
            return web.Response(status=404, text="no such message")
        try:
            await self._s.press(user_id, message, str(form.get("action_id", "")))
        except LookupError as missing:
            return web.Response(status=404, text=str(missing))
        return self._back(user_id)

    async def _send(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if user_id not in self._s.users:
            return web.Response(status=404, text="no such sandbox user")
        text = str((await request.post()).get("text", "")).strip()
        if text:
            await self._s.send_text(user_id, text)
        return self._back(user_id)
