"""Our neutral `Message` as a Webex message: markdown, plus one Adaptive Card when it has buttons.

Webex renders cards up to schema 1.3 with at most five actions and no `Action.Execute`
(platform-apis.md §B.3, §I.5), and a card message still needs `text`/`markdown` for
notifications and clients without cards. A press reaches us only as the `Action.Submit`'s
`data` (fetched through /attachment/actions), so each button carries `{"action_id", "value"}`.
Our light markdown is Slack-like (`*bold*`, `<url|text>`); Webex markdown and card text blocks
both want `**bold**` and `[text](url)`.

Plain spans (names, emails) are shown as written. In a message's `markdown`, `&`, `<` and `>`
become entities, which keeps a name from being HTML or a `<@all>` / `<@personEmail:…>` mention
(Webex's mention syntax), and a backslash goes before each character that could start other
markup (CommonMark escapes). Card TextBlocks have no HTML or mentions, only the backslashes.
The `text` alternative is plain: plain spans go there unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.markdown import backslash_escape
from adapters.webex.errors import PLATFORM
from bot.types import Button, ButtonStyle, Message, PermanentFailure, Rich, render

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.3"
MAX_ACTIONS = 5
MAX_MARKDOWN_BYTES = 7439  # Webex's limit on a message's text (§B.3)

STYLES: dict[ButtonStyle, str] = {
    ButtonStyle.PRIMARY: "positive",
    ButtonStyle.DANGER: "destructive",
}

_LINK = re.compile(r"<([^<>|\s]+)\|([^<>]+)>")
_BARE_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|\s]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*_~])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~])")
_LEADING_MARKER = re.compile(r"^(\s*(?:\d+)?)([-+>#.)])(?=\s|$|#)")


def escape_card(text: str) -> str:
    """A plain span in a card TextBlock (markdown, no HTML): backslash escapes."""
    return backslash_escape(text, _LEADING_MARKER)


def escape_markdown(text: str) -> str:
    """A plain span in a message's markdown: no HTML, no mention, no markup."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escape_card(text)


def _same(text: str) -> str:
    return text


def to_markdown(text: str) -> str:
    """Our light markdown as Webex markdown: `*b*` → `**b**`, `<url|t>` → `[t](url)`."""
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    return _BOLD.sub(lambda m: f"**{m.group(1)}**", text)


def plain_text(text: str) -> str:
    """Our light markdown without markup, for the `text` alternative of a message."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    return _EMPHASIS.sub(lambda m: m.group(2), text)


def fit(text: str, limit: int = MAX_MARKDOWN_BYTES) -> str:
    """Cut `text` to Webex's byte limit at a character boundary, marking the cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - len("…".encode())].decode(errors="ignore") + "…"


def _paragraphs(message: Message) -> list[Rich]:
    if message.lines:
        return list(message.lines)
    pieces: list[Rich] = list(message.text.splitlines())
    lines = [line for line in pieces if str(line).strip()]
    if message.title and lines and str(lines[0]).strip() == str(message.title).strip():
        lines = lines[1:]
    return lines


def markdown(value: Rich) -> str:
    """Our markdown as Webex markdown, plain spans escaped for it."""
    return render(value, to_markdown, escape_markdown)


def unformatted(value: Rich) -> str:
    """For the plain `text` alternative: no markup, plain spans as written."""
    return render(value, plain_text, _same)


def render_markdown(message: Message) -> str:
    """The whole message as markdown: the title in bold, then one paragraph per line."""
    title = message.title
    parts = [f"**{render(title, plain_text, escape_markdown)}**"] if title else []
    parts += [markdown(line) for line in _paragraphs(message)]
    return fit("\n\n".join(parts) or markdown(message.text))


def _action(button: Button) -> dict[str, Any]:
    title = plain_text(button.label)
    if button.url:
        return {"type": "Action.OpenUrl", "title": title, "url": button.url}
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": title,
        "data": {"action_id": button.action_id, "value": button.value},
    }
    if style := STYLES.get(button.style):
        action["style"] = style
    return action


def render_card(message: Message) -> dict[str, Any]:
    """The Adaptive Card (schema 1.3) for a message with buttons."""
    if len(message.buttons) > MAX_ACTIONS:
        # An outbox retry cannot make Webex accept a sixth button, so this is permanent.
        raise PermanentFailure(
            PLATFORM,
            f"a Webex card holds at most {MAX_ACTIONS} buttons; this message has "
            f"{len(message.buttons)}",
        )
    body: list[dict[str, Any]] = []
    if message.title:
        body.append(
            {
                "type": "TextBlock",
                "text": render(message.title, plain_text, escape_card),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            }
        )
    body += [
        {"type": "TextBlock", "text": render(p, to_markdown, escape_card), "wrap": True}
        for p in _paragraphs(message)
    ]
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "actions": [_action(button) for button in message.buttons],
    }


def render_message(message: Message) -> dict[str, Any]:
    """The fields of POST /messages besides the recipient: text, markdown, attachments."""
    fields: dict[str, Any] = {
        "text": fit(unformatted(message.text)),
        "markdown": render_markdown(message)
        if not message.buttons
        else fit(markdown(message.text)),
    }
    if message.buttons:
        fields["attachments"] = [
            {"contentType": CARD_CONTENT_TYPE, "content": render_card(message)}
        ]
    return fields


def button_inputs(inputs: Any) -> tuple[str, str] | None:
    """(action_id, value) from a press's `inputs`, or None when the card was not ours."""
    if not isinstance(inputs, dict):
        return None
    action_id, value = inputs.get("action_id"), inputs.get("value", "")
    if not isinstance(action_id, str) or not action_id:
        return None
    return action_id, value if isinstance(value, str) else str(value)
