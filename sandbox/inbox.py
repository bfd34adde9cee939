"""`/sandbox` for `mio demo`: be any demo user on any stand-in platform, in the browser.

Pick a platform and a person; see the bot's DMs drawn close to that platform's look (Block
Kit, Zoom chatbot cards, Adaptive Cards), press their buttons, type a command as that person.
Nothing is re-implemented: reading goes through each stand-in's `inbox()`, acting through its
own `press()` and `slash_command()` / `send_text()`, which sign and deliver the webhook the
real platform would. Link buttons open the stand-in's own pages (the OAuth consent page).

Written over `Sandbox.services`, by message shape rather than by platform name, so a new
stand-in appears here as soon as it is registered. Mounted on the bot's server by the demo only.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web

from sandbox import inbox_dm
from sandbox.base import FakeService
from sandbox.inbox_shapes import Button, Shown, as_shown, markup, message_id
from sandbox.runner import Sandbox

__all__ = ["Button", "InboxPage", "Shown", "as_shown", "markup", "message_id"]

_e = html.escape
_BOT = "Mio User Sync"
_CSS = Path(__file__).with_name("inbox.css").read_text()


class InboxPage:
    """The `/sandbox` routes over one running `Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        # (platform, user) → (typed by the person?, text): commands and their plain-text acks
        self.answers: dict[tuple[str, str], list[tuple[bool, str]]] = {}
        # (platform, user) → every item's key in the order this page first saw it: the
        # stand-ins' clocks differ in format and resolution, so arrival order is the one order
        # that fits typed commands, acks and messages together.
        self.seen: dict[tuple[str, str], dict[str, None]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sandbox", self.page),
            web.post("/sandbox/{platform}/{user_id}/press", self.press),
            web.post("/sandbox/{platform}/{user_id}/command", self.command),
            web.post("/sandbox/{platform}/{user_id}/dm/{other_id}", self.dm),
        ]

    # -- reading -------------------------------------------------------------------------------
    def _service(self, platform: str) -> FakeService:
        service = self.sandbox.services.get(platform)
        if service is None:
            raise web.HTTPNotFound(text=f"No sandbox platform called “{platform[:40]}”.")
        return service

    def _people(self, platform: str) -> list[tuple[str, str]]:
        return [
            (a.user_id, a.name) for a in self.sandbox.org.on(platform) if a.active and not a.is_bot
        ]

    def _user(self, platform: str, user_id: str) -> str:
        if user_id not in {uid for uid, _ in self._people(platform)}:
            raise web.HTTPNotFound(text=f"No active demo user {user_id[:60]} on {platform}.")
        return user_id

    def _messages(self, service: FakeService, user_id: str) -> list[tuple[Any, bool]]:
        inbox = getattr(service, "inbox", None)
        found: list[tuple[Any, bool]] = [(m, False) for m in (inbox(user_id) if inbox else [])]
        if hasattr(service, "ephemerals") and hasattr(service, "dm_channel"):  # Slack's
            channel = service.dm_channel(getattr(service, "bot_user_id", ""), user_id)
            found += [(m, True) for m in service.ephemerals if m.channel == channel]
            found.sort(key=lambda pair: str(pair[0].ts))
        return found

    async def page(self, request: web.Request) -> web.Response:
        names = list(self.sandbox.services)
        if not names:
            raise web.HTTPNotFound(text="No sandbox platform is running.")
        platform = request.query.get("platform") or names[0]
        service = self._service(platform)
        people = self._people(platform)
        user_id = request.query.get("user") or (people[0][0] if people else "")
        user_id = self._user(platform, user_id) if user_id else ""
        other_id = request.query.get("with")
        if other_id and user_id:
            return self._conversation(request, service, platform, user_id, other_id, people)
        shown = [as_shown(m, only) for m, only in self._messages(service, user_id)]
        for button in (b for m in shown for b in m.buttons):
            button.url = self._as_viewer(button.url, platform, user_id)
        items = {f"m:{m.id}": m for m in shown} | self._notes(service, platform, user_id)
        order = self._observe(platform, user_id, list(items))
        messages = _messages_html(platform, user_id, [items[k] for k in order if k in items])
        if request.query.get("fragment") == "1":
            return web.Response(text=messages, content_type="text/html")
        composer = _composer(service, platform, user_id)
        return web.Response(
            text=_page_html(self.sandbox, platform, user_id, people, messages, composer),
            content_type="text/html",
        )

    def _conversation(
        self,
        request: web.Request,
        service: FakeService,
        platform: str,
        user_id: str,
        other_id: str,
        people: list[tuple[str, str]],
    ) -> web.Response:
        """The person's 1:1 with another demo user, and a composer to write to them."""
        self._user(platform, other_id)
        stand_in = inbox_dm.relay_side(service)
        if stand_in is None:
            raise web.HTTPNotFound(text=f"People cannot message each other on {platform} here.")
        names = dict(people)
        messages = inbox_dm.conversation_html(platform, stand_in, user_id, other_id, names)
        if request.query.get("fragment") == "1":
            return web.Response(text=messages, content_type="text/html")
        composer = inbox_dm.composer_html(platform, user_id, other_id, names[other_id])
        page = _page_html(
            self.sandbox, platform, user_id, people, messages, composer, other_id=other_id
        )
        return web.Response(text=page, content_type="text/html")

    async def dm(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        service = self._service(platform)
        user_id = self._user(platform, request.match_info["user_id"])
        other_id = self._user(platform, request.match_info["other_id"])
        typed = str((await request.post()).get("text", ""))
        location = await inbox_dm.send(service, platform, user_id, other_id, typed)
        return web.Response(status=303, headers={"Location": location})

    def _as_viewer(self, url: str, platform: str, user_id: str) -> str:
        """A link to a stand-in's page, opened by the person whose inbox this is.

        On the real platforms the browser is already signed in as that person, so their
        sign-in page shows them; the stand-ins have no browser session, so the link says who
        is looking (`login_hint`). Links elsewhere are left alone."""
        if not any(url.startswith(f"{s.url}/") for s in self.sandbox.services.values()):
            return url
        account = next((a for a in self.sandbox.org.on(platform) if a.user_id == user_id), None)
        if account is None or not account.email:
            return url
        joiner = "&" if urlsplit(url).query else "?"
        return f"{url}{joiner}{urlencode({'login_hint': account.email.strip()})}"

    def _notes(
        self, service: FakeService, platform: str, user_id: str
    ) -> dict[str, tuple[bool, str]]:
        """Typed commands, plain acks and Slack's response_url posts, each under its own key."""
        notes = {f"a:{i}": n for i, n in enumerate(self.answers.get((platform, user_id), []))}
        responses = getattr(service, "responses", {}).get(user_id, [])
        return notes | {f"r:{i}": (False, str(r.get("text", ""))) for i, r in enumerate(responses)}

    def _observe(self, platform: str, user_id: str, keys: list[str]) -> list[str]:
        """Remember keys not seen before, after those that were; returns the whole order."""
        seen = self.seen.setdefault((platform, user_id), {})
        seen.update(dict.fromkeys(k for k in keys if k not in seen))
        return list(seen)

    def _look(self, service: FakeService, platform: str, user_id: str) -> None:
        shown = [f"m:{message_id(m)}" for m, _ in self._messages(service, user_id)]
        self._observe(platform, user_id, [*shown, *self._notes(service, platform, user_id)])

    def _note(self, platform: str, user_id: str, mine: bool, text: str) -> None:
        notes = self.answers.setdefault((platform, user_id), [])
        notes.append((mine, text))
        self._observe(platform, user_id, [f"a:{len(notes) - 1}"])

    # -- acting --------------------------------------------------------------------------------
    def _back(self, platform: str, user_id: str) -> web.Response:
        query = urlencode({"platform": platform, "user": user_id})
        return web.Response(status=303, headers={"Location": f"/sandbox?{query}"})

    async def press(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        service = self._service(platform)
        user_id = self._user(platform, request.match_info["user_id"])
        form = await request.post()
        wanted, action = str(form.get("message", "")), str(form.get("action", ""))
        for message, _ in self._messages(service, user_id):
            if message_id(message) != wanted:
                continue
            button = next((b for b in as_shown(message).buttons if b.action == action), None)
            if button is None or not action:
                break
            await service.press(user_id, message, action)  # type: ignore[attr-defined]
            await asyncio.sleep(0.3)  # let the bot's answer land before the page redraws
            if button.url:  # a Slack link button is a press *and* opens its page
                location = self._as_viewer(button.url, platform, user_id)
                return web.Response(status=303, headers={"Location": location})
            return self._back(platform, user_id)
        raise web.HTTPNotFound(text="That message or button is no longer there. Go back.")

    async def command(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        service = self._service(platform)
        user_id = self._user(platform, request.match_info["user_id"])
        typed = str((await request.post()).get("text", "")).strip()
        if not typed:
            raise web.HTTPBadRequest(text="Type a command first, e.g. help.")
        self._look(service, platform, user_id)  # what was there before the command
        prefix = _command_prefix(service)
        text = _after_prefix(typed) if prefix else typed
        self._note(platform, user_id, True, f"{prefix}{text}".strip())
        if prefix:
            status, body = await service.slash_command(user_id, text)  # type: ignore[attr-defined]
            answer = _ack_text(status, body)
        else:
            await service.send_text(user_id, text)  # type: ignore[attr-defined]
            answer = ""
        self._look(service, platform, user_id)  # an ack the stand-in shows as a message
        if answer:
            self._note(platform, user_id, False, answer)
        await asyncio.sleep(0.3)
        return self._back(platform, user_id)


def _ack_text(status: int, body: str) -> str:
    """What a command's ack says beyond what the stand-in already shows as a message (a JSON
    ack becomes an ephemeral message there, so only a plain-text ack is repeated here)."""
    if status != 200:
        return f"The bot answered HTTP {status}."
    return "" if body.startswith("{") else body


def _command_prefix(service: FakeService) -> str:
    return "/mio " if hasattr(service, "slash_command") else ""


_TYPED_PREFIX = re.compile(r"[/@]?mio(?:\s+|$)", re.IGNORECASE)


def _after_prefix(typed: str) -> str:
    """The composer already says `/mio`: typing `/mio help` (or `mio help`) means `help`."""
    match = _TYPED_PREFIX.match(typed)
    return typed[match.end() :] if match else typed


def _button_html(platform: str, user_id: str, shown: Shown, button: Button) -> str:
    css = f"btn {button.style}".strip()
    if not button.action:
        return f'<a class="{css}" href="{_e(button.url)}">{_e(button.label)}</a>'
    return (
        f'<form method="post" action="/sandbox/{quote(platform)}/{quote(user_id)}/press">'
        f'<input type="hidden" name="message" value="{_e(shown.id)}">'
        f'<button class="{css}" name="action" value="{_e(button.action)}">'
        f"{_e(button.label)}</button></form>"
    )


def _note_html(mine: bool, text: str) -> str:
    if mine:
        return f'<li class="note mine"><strong>You</strong> <code>{_e(text)}</code></li>'
    return f'<li class="note"><em>Only visible to you:</em> {markup(text)}</li>'


def _messages_html(platform: str, user_id: str, timeline: list[Shown | tuple[bool, str]]) -> str:
    """Bot messages and notes, oldest first; the newest is last, where the page scrolls to."""
    items = []
    for m in timeline:
        if isinstance(m, tuple):
            items.append(_note_html(*m))
            continue
        buttons = "".join(_button_html(platform, user_id, m, b) for b in m.buttons)
        tag = '<span class="only">Only visible to you</span>' if m.only_you else ""
        edited = ' <span class="edited">(edited)</span>' if m.edited else ""
        items.append(
            f'<li class="msg"><div class="avatar" aria-hidden="true">M</div><div class="body">'
            f'<div class="meta"><strong>{_BOT}</strong> <span class="tag">APP</span> '
            f"<time>{_e(m.when)}</time>{edited}{tag}</div>"
            f'<div class="card">{f"<h3>{markup(m.title)}</h3>" if m.title else ""}'
            + "".join(f"<p>{markup(line)}</p>" for line in m.lines)
            + (f'<div class="actions">{buttons}</div>' if buttons else "")
            + "</div></div></li>"
        )
    body = "".join(items) or '<li class="empty">No messages from Mio yet.</li>'
    return f'<ol class="messages">{body}</ol>'


def _composer(service: FakeService, platform: str, user_id: str) -> str:
    """The bot chat's composer: a slash command where the platform has them, else a message."""
    if not user_id:
        return ""
    prefix = _command_prefix(service)
    return (
        f'<form class="composer" method="post" '
        f'action="/sandbox/{quote(platform)}/{quote(user_id)}/command">'
        f'<label for="command">{_e(prefix.strip() or "Message Mio")}</label>'
        f'<input id="command" name="text" autocomplete="off" placeholder="help">'
        f"<button>Send</button></form>"
    )


def _page_html(
    sandbox: Sandbox,
    platform: str,
    user_id: str,
    people: list[tuple[str, str]],
    messages: str,
    composer: str,
    *,
    other_id: str | None = None,
) -> str:
    platforms = "".join(
        f'<option value="{_e(n)}"{" selected" if n == platform else ""}>{_e(n.title())}</option>'
        for n in sandbox.services
    )
    users = "".join(
        f'<option value="{_e(uid)}"{" selected" if uid == user_id else ""}>{_e(name)}</option>'
        for uid, name in people
    )
    name = next((n for uid, n in people if uid == user_id), "nobody")
    workspace = sandbox.org.workspaces.get(platform, {}).get("name", sandbox.org.name)
    own = f"{sandbox.services[platform].url}/inbox/{quote(user_id)}"
    rail = inbox_dm.rail_html(platform, user_id, people, other_id, _BOT)
    title = dict(people).get(other_id or "", _BOT)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox · {_e(name)} on {_e(platform.title())}</title><style>{_CSS}</style></head>
<body class="theme-{_e(platform)}">
<form class="picker" method="get" action="/sandbox" aria-label="Act as">
<strong>Mio sandbox</strong>
<label>Platform <select name="platform">{platforms}</select></label>
<label>Person <select name="user">{users}</select></label>
<button>Open</button>
<a href="{_e(own)}">{_e(platform.title())} stand-in's own page</a></form>
<div class="app"><nav class="rail" aria-label="{_e(platform.title())}">
<div class="ws">{_e(workspace)}</div><div class="you">Signed in as {_e(name)}</div>
<div class="section">Direct messages</div>{rail}</nav>
<main class="chat"><h1>{_e(title)}</h1>{messages}{composer}</main></div>
<script>{_JS}</script></body></html>"""


_JS = """
(() => {
  const list = () => document.querySelector('.messages');
  const root = document.documentElement;
  const atEnd = () => innerHeight + scrollY >= root.scrollHeight - 80;
  const toEnd = () => scrollTo(0, root.scrollHeight);
  toEnd();  // a chat opens at its newest message, as every chat client does
  let last = null;
  setInterval(async () => {
    if (document.hidden || !list() || list().contains(document.activeElement)) return;
    const url = new URL(location.href); url.searchParams.set('fragment', '1');
    const r = await fetch(url); if (!r.ok) return;
    const html = await r.text();
    if (html !== last) {
      const follow = atEnd();  // only someone already reading the end is moved along
      list().outerHTML = html;
      if (follow) toEnd();
    }
    last = html;
  }, 1500);
})();
"""
