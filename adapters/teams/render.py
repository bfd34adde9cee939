"""Our neutral `Message` as an Adaptive Card activity for the Bot Connector.

Cards are version 1.4 (what Teams renders everywhere, and what `Action.Execute` would need,
§B.2). Action buttons are `Action.Submit` with data `{"action_id", "value"}`, which Teams sends
back as the `value` of a message activity (§C.2, §I.23); link buttons are `Action.OpenUrl`.
Adaptive Card markdown differs from ours: `**bold**` instead of `*bold*`, `[text](url)` instead
of `<url|text>`, and no inline code, so lines are translated rather than passed through.

Every TextBlock, the title's included, is read as markdown, so plain spans (names, emails) are
escaped the CommonMark way, a backslash before each character that could start inline markup
(`*`, `_`, `~`, a backtick, `[`, `]`, `<` of an autolink, the backslash itself) and before a
leading list or quote marker: `[x](https://evil)` then shows as typed instead of as a link.
`fallbackText` and `summary` are shown as plain text, so plain spans go there unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.markdown import backslash_escape
from bot.types import ButtonStyle, Message, Rich, render

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"

STYLES: dict[ButtonStyle, str] = {
    ButtonStyle.PRIMARY: "positive",
    ButtonStyle.DANGER: "destructive",
    ButtonStyle.DEFAULT: "default",
}

_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|\s]+)\|([^<>]+)>")
_BARE_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|\s]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]*)`")
_MARKUP = re.compile(r"\*\*|(?<!\w)_(?=\S)|(?<=\S)_(?!\w)|\[([^\]]*)\]\([^)]*\)")
_LEADING_MARKER = re.compile(r"^(\s*(?:\d+)?)([-+>.)])(?=\s|$)")


def escape(text: str) -> str:
    """A plain span inside card markdown: shown as written, never as markup."""
    return backslash_escape(text, _LEADING_MARKER)


def _same(text: str) -> str:
    return text


def to_card_markdown(line: str) -> str:
    """One line of our light markdown as Adaptive Card TextBlock markdown."""
    text = _CODE.sub(lambda m: m.group(1), line)
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: f"[{m.group(1)}]({m.group(1)})", text)
    text = _STRIKE.sub(lambda m: m.group(1), text)
    return _BOLD.sub(lambda m: f"**{m.group(1)}**", text)


def plain_text(line: str) -> str:
    """A line without any markup, for titles, button labels and the notification fallback."""
    return _MARKUP.sub(lambda m: m.group(1) or "", to_card_markdown(line))


def card_text(value: Rich) -> str:
    """A TextBlock's markdown: ours translated, plain spans escaped."""
    return render(value, to_card_markdown, escape)


def card_title(value: Rich) -> str:
    """A title or label: our markup dropped, plain spans escaped (TextBlocks read markdown)."""
    return render(value, plain_text, escape)


def unformatted(value: Rich) -> str:
    """For fields Teams shows as plain text (`fallbackText`, `summary`)."""
    return render(value, plain_text, _same)


def _lines(message: Message) -> list[Rich]:
    if message.lines:
        return list(message.lines)
    pieces: list[Rich] = list(message.text.splitlines())
    return [line for line in pieces if str(line).strip()]


def render_card(message: Message) -> dict[str, Any]:
    """The Adaptive Card: a bold title, one wrapped TextBlock per line, then the buttons."""
    body: list[dict[str, Any]] = []
    if message.title:
        body.append(
            {
                "type": "TextBlock",
                "text": card_title(message.title),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            }
        )
    body += [
        {"type": "TextBlock", "text": card_text(line), "wrap": True} for line in _lines(message)
    ]
    actions: list[dict[str, Any]] = []
    for button in message.buttons:
        if button.url:
            actions.append(
                {"type": "Action.OpenUrl", "title": plain_text(button.label), "url": button.url}
            )
            continue
        action: dict[str, Any] = {
            "type": "Action.Submit",
            "title": plain_text(button.label),
            "data": {"action_id": button.action_id, "value": button.value},
        }
        if button.style is not ButtonStyle.DEFAULT:
            action["style"] = STYLES[button.style]
        actions.append(action)
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "fallbackText": unformatted(message.text),
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


def render_activity(message: Message) -> dict[str, Any]:
    """A message activity carrying the card; `summary` is what notifications show.

    No `text` beside the card: Teams would show it above the card, saying everything twice.
    """
    return {
        "type": "message",
        "summary": unformatted(message.text)[:250],
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": render_card(message)}],
    }
