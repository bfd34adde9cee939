"""Neutral `Message` → Slack Block Kit.

Slack rejects a whole message (`invalid_blocks`) when one field is over its limit, and the
outbox would then drop it as permanent, so display text is cut to Slack's limits here. Action
ids and values are passed as they are: a cut one would silently point at something else.
"""

from __future__ import annotations

from typing import Any

from bot.types import Button, ButtonStyle, Message

ACTIONS_BLOCK_ID = "mio_actions"
# Slack sends a block_actions payload even for a link button, which must be acked; buttons the
# core gave no action id get one with this prefix so the adapter can recognise and ack them.
LINK_ACTION_PREFIX = "link:"

_HEADER_MAX = 150
_SECTION_MAX = 3000
_BUTTON_TEXT_MAX = 75
_MAX_BLOCKS = 50
_MAX_ELEMENTS = 25


def render_blocks(message: Message) -> list[dict[str, Any]]:
    """Header for the title, one mrkdwn section per line, one row of buttons."""
    blocks: list[dict[str, Any]] = []
    if message.title:
        blocks.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(message.title, _HEADER_MAX)},
            }
        )
    room_for_lines = _MAX_BLOCKS - len(blocks) - (1 if message.buttons else 0)
    for line in message.lines[:room_for_lines]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(line, _SECTION_MAX)}}
        )
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
