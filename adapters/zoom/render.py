"""Our neutral `Message` as a Zoom chatbot card (the `content` object of /im/chat/messages).

Zoom buttons carry only `text` and `value` back to us (platform-apis.md §I.25), so the
button's action id travels inside the value as `"{action_id}|{value}"`.
Zoom's chatbot markdown is Slack-like (`*bold*`, `_italic_`, `<url|text>`), so message lines
keep our light markdown and ask Zoom to parse it; the header and button labels get plain text.
With `is_markdown_support` the header is markdown too (Zoom's "Markdown" page: header, sub
header and text), so plain spans (names, emails) are escaped in both the Slack way: `&`, `<`
and `>` as entities, which keeps a name from being a `<url|text>` link or an `<!all>`-style
mention. Zoom documents no escape for `*`, `_` or `~`.
"""

from __future__ import annotations

import re
from typing import Any

from bot.types import Button, ButtonStyle, Message, Rich, render

VALUE_SEPARATOR = "|"

ZOOM_STYLES: dict[ButtonStyle, str] = {
    ButtonStyle.PRIMARY: "Primary",
    ButtonStyle.DANGER: "Danger",
    ButtonStyle.DEFAULT: "Default",
}

_LINK = re.compile(r"<([^<>|\s]+)\|([^<>]+)>")
_BARE_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|\s]+)>")
_EMPHASIS = re.compile(r"(?<![\w*_~])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~])")


def encode_value(button: Button) -> str:
    """The one string Zoom will echo back for `button`: action id and value together."""
    if VALUE_SEPARATOR in button.action_id:
        raise ValueError(
            f"Zoom button action_id may not contain {VALUE_SEPARATOR!r}: {button.action_id!r}"
        )
    return f"{button.action_id}{VALUE_SEPARATOR}{button.value}"


def decode_value(raw: str) -> tuple[str, str]:
    """(action_id, value) from an `actionItem.value`; a foreign value has an empty `value`."""
    action_id, _, value = raw.partition(VALUE_SEPARATOR)
    return action_id, value


def escape(text: str) -> str:
    """A plain span inside Zoom markdown: its angle-bracket syntax as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _same(text: str) -> str:
    return text


def plain_text(markdown: str) -> str:
    """Our light markdown without its markup, for the places Zoom shows text verbatim."""
    text = _LINK.sub(lambda m: m.group(2), markdown)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    return _EMPHASIS.sub(lambda m: m.group(2), text)


def _head_and_lines(message: Message) -> tuple[str, list[str]]:
    pieces: list[Rich] = list(message.text.splitlines())
    text_lines = [line for line in pieces if str(line).strip()]
    head: Rich
    if message.title:
        head = message.title
        lines = list(message.lines) if message.lines else text_lines
    else:
        head = text_lines[0] if text_lines else message.text
        lines = list(message.lines) if message.lines else text_lines[1:]
    return render(head, plain_text, escape), [render(line, _same, escape) for line in lines]


def render_content(message: Message) -> dict[str, Any]:
    """The chatbot card: header, one markdown item per line, link items, then one button row."""
    head, lines = _head_and_lines(message)
    body: list[dict[str, Any]] = [
        {"type": "message", "text": line, "is_markdown_support": True} for line in lines
    ]
    actions: list[dict[str, str]] = []
    for button in message.buttons:
        if button.url:
            body.append({"type": "message", "text": plain_text(button.label), "link": button.url})
        else:
            actions.append(
                {
                    "text": plain_text(button.label),
                    "value": encode_value(button),
                    "style": ZOOM_STYLES[button.style],
                }
            )
    if actions:
        body.append({"type": "actions", "items": actions})
    content: dict[str, Any] = {"head": {"text": head}}
    if body:
        content["body"] = body
    return content
