"""The sandbox inbox's people-to-people side: any demo user writes to any other demo user in
their 1:1 on a stand-in, natively, and reads what arrives there (relayed messages included).

Typing goes through the stand-in's `user_dm`, which fires the platform's own user events,
Graph subscriptions or user webhooks exactly as the real platform would: the bot learns of
the message the way it would in production. Reading goes through `conversation`. Texts are
the platform's own markup, escaped, with only a few exact bold/italic/strike/code marks drawn
(`native_html`): this page never interprets anything else people wrote.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import cast
from urllib.parse import quote, urlencode

from aiohttp import web

from sandbox.base import FakeService, NativeDm, RelayStandIn

_e = html.escape


def relay_side(service: FakeService) -> RelayStandIn | None:
    """The stand-in's people-to-people calls, when it offers them."""
    if all(hasattr(service, n) for n in ("user_dm", "conversation", "user_to_bot")):
        return cast(RelayStandIn, service)
    return None


def rail_html(
    platform: str, user_id: str, people: list[tuple[str, str]], other_id: str | None, bot: str
) -> str:
    """The rail's direct messages: the bot first, then everyone else on the platform."""

    def link(target: str | None, name: str) -> str:
        query = {"platform": platform, "user": user_id} | ({"with": target} if target else {})
        current = ' aria-current="page"' if target == other_id else ""
        return f'<a class="dm" href="/sandbox?{_e(urlencode(query))}"{current}>{_e(name)}</a>'

    others = [link(uid, name) for uid, name in people if uid != user_id]
    return link(None, bot) + "".join(others)


def conversation_html(
    platform: str, stand_in: RelayStandIn, user_id: str, other_id: str, names: dict[str, str]
) -> str:
    """The 1:1 between the two people, oldest first; the newest is last."""
    conversation = stand_in.conversation(user_id, other_id)
    items = [_message_html(platform, m, names) for m in conversation]
    body = "".join(items) or '<li class="empty">No messages yet. Say hello.</li>'
    return f'<ol class="messages">{body}</ol>'


# A few of each platform's own marks, drawn as the platform's client would. The text is
# escaped first; only these exact, attribute-free forms are turned back into tags.
_TAGS = re.compile(r"&lt;(/?)(b|strong|i|em|s|strike|del|code|pre)&gt;|&lt;br ?/?&gt;")
_MARKS = {
    "slack": [(r"\*([^*\n]+)\*", "b"), (r"(?<!\w)_([^_\n]+)_(?!\w)", "i"), (r"~([^~\n]+)~", "s")],
    "webex": [(r"\*\*([^*\n]+)\*\*", "b"), (r"(?<!\w)_([^_\n]+)_(?!\w)", "i")],
}


def native_html(platform: str, text: str) -> str:
    """`text` in the platform's markup, escaped, with its bold/italic/strike/code drawn."""
    shown = _e(text)
    if platform == "teams":
        shown = _TAGS.sub(lambda m: f"<{m.group(1)}{m.group(2)}>" if m.group(2) else "<br>", shown)
    for pattern, tag in _MARKS.get(platform, []):
        shown = re.sub(pattern, rf"<{tag}>\1</{tag}>", shown)
    return shown.replace("\n", "<br>")


def _message_html(platform: str, message: NativeDm, names: dict[str, str]) -> str:
    name = names.get(message.sender_id, message.sender_id)
    initial = (name[:1] or "?").upper()
    text = native_html(platform, message.text)
    return (
        f'<li class="msg person"><div class="avatar" aria-hidden="true">{_e(initial)}</div>'
        f'<div class="body"><div class="meta"><strong>{_e(name)}</strong></div>'
        f'<div class="said">{text}</div></div></li>'
    )


def composer_html(platform: str, user_id: str, other_id: str, other_name: str) -> str:
    action = f"/sandbox/{quote(platform)}/{quote(user_id)}/dm/{quote(other_id)}"
    return (
        f'<form class="composer" method="post" action="{_e(action)}">'
        f'<label for="dm-text">Message {_e(other_name)}</label>'
        f'<input id="dm-text" name="text" autocomplete="off" placeholder="Write a message">'
        f"<button>Send</button></form>"
    )


async def send(service: FakeService, platform: str, user_id: str, other_id: str, text: str) -> str:
    """Type `text` to `other_id` as `user_id`; returns where the browser goes next."""
    stand_in = relay_side(service)
    if stand_in is None:
        raise web.HTTPNotFound(text=f"People cannot message each other on {platform} here.")
    if not text.strip():
        raise web.HTTPBadRequest(text="Write a message first.")
    await stand_in.user_dm(user_id, other_id, text)
    await asyncio.sleep(0.3)  # let the relay's post land before the page redraws
    return "/sandbox?" + urlencode({"platform": platform, "user": user_id, "with": other_id})
