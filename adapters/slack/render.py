"""Neutral `Message` → Slack Block Kit.

Slack rejects a whole message (`invalid_blocks`) when one field is over its limit, and the
outbox would then drop it as permanent, so display text is cut to Slack's limits here. Action
ids and values are passed as they are: a cut one would silently point at something else.

Our light markdown is Slack's mrkdwn already. Plain spans (names, emails) are escaped as
Slack's "Formatting text" reference asks of text not meant as markup: `&`, `<` and `>` become
`&amp;`, `&lt;`, `&gt;`, which is what turns `<https://…|…>` links, `<@U…>` mentions and
`<!channel>` broadcasts into literal text (mrkdwn has no escape for `*`, `_`, `~` or a
backtick, so a name can still look bold, but never link, mention or notify). A section that
holds plain spans is `verbatim`, so Slack does not auto-link a bare URL, a `#channel` or an
`@here` written in a name.
"""

from __future__ import annotations

from typing import Any

from bot.types import Button, ButtonStyle, Message, Rich, Text, render

ACTIONS_BLOCK_ID = "mio_actions"
# Slack sends a block_actions payload even for a link button, which must be acked; buttons the
# core gave no action id get one with this prefix so the adapter can recognise and ack them.
LINK_ACTION_PREFIX = "link:"

_HEADER_MAX = 150
_SECTION_MAX = 3000
_BUTTON_TEXT_MAX = 75
_MAX_BLOCKS = 50
_MAX_ELEMENTS = 25


def escape(text: str) -> str:
    """Text shown as written inside mrkdwn: Slack's three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _same(text: str) -> str:
    return text


def mrkdwn(value: Rich) -> str:
    """Our markdown as it is (it is mrkdwn), plain spans escaped."""
    return render(value, _same, escape)


def plain(value: Rich) -> str:
    """For `plain_text` fields, which Slack shows as written: nothing to escape."""
    return render(value, _same, _same)


def fallback_text(message: Message) -> str:
    """The top-level `text` (notifications, and what clients without blocks show): mrkdwn."""
    return mrkdwn(message.text)


def render_blocks(message: Message) -> list[dict[str, Any]]:
    """Header for the title, one mrkdwn section per line, one row of buttons."""
    blocks: list[dict[str, Any]] = []
    if message.title:
        blocks.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(plain(message.title), _HEADER_MAX)},
            }
        )
    room_for_lines = _MAX_BLOCKS - len(blocks) - (1 if message.buttons else 0)
    for line in message.lines[:room_for_lines]:
        text: dict[str, Any] = {"type": "mrkdwn", "text": _cut(mrkdwn(line), _SECTION_MAX)}
        if isinstance(line, Text):
            text["verbatim"] = True
        blocks.append({"type": "section", "text": text})
    if message.buttons:
        elements = [
            _button(button, index) for index, button in enumerate(message.buttons[:_MAX_ELEMENTS])
        ]
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements})
    return blocks


def _button(button: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id or f"{LINK_ACTION_PREFIX}{index}",
        "text": {"type": "plain_text", "text": _cut(button.label, _BUTTON_TEXT_MAX)},
    }
    if button.value:
        element["value"] = button.value
    if button.style is not ButtonStyle.DEFAULT:
        element["style"] = button.style.value
    if button.url:
        element["url"] = button.url
    return element


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
