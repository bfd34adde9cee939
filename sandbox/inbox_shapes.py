"""How the `/sandbox` inbox reads a bot message, whatever the stand-in's wire shape.

Block Kit (Slack), Zoom chatbot cards and Adaptive Cards (Teams, Webex) become one `Shown`:
a title, lines of the platforms' light markdown and buttons, recognised by shape rather than by
platform name, so a new stand-in's messages show up without an edit here.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_e = html.escape
_SLACK_LINK = re.compile(r"&lt;(https?://[^\s|]+?)\|(.+?)&gt;")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")
_STRONG = re.compile(r"\*\*(.+?)\*\*|(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_EM = re.compile(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])")
_STYLES = {"primary": "primary", "positive": "primary", "danger": "danger", "destructive": "danger"}


@dataclass
class Button:
    label: str
    action: str = ""  # what `press()` needs to find the button; "" for a plain link
    style: str = ""  # "primary" | "danger" | ""
    url: str = ""


@dataclass
class Shown:
    """One bot message as a person sees it, whatever the platform's wire shape."""

    id: str
    title: str = ""
    lines: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    when: str = ""
    edited: bool = False
    only_you: bool = False  # Slack's ephemeral answers


def markup(text: str) -> str:
    """Slack/Zoom (`*b*`, `<url|t>`) and card (`**b**`, `[t](url)`) markdown as safe HTML."""
    out = _e(text)
    out = _SLACK_LINK.sub(r'<a href="\1">\2</a>', out)
    out = _MD_LINK.sub(r'<a href="\2">\1</a>', out)
    out = _STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def _slack(message: Any, only_you: bool) -> Shown:
    shown = Shown(f"{message.channel}|{message.ts}", when=_clock(message.ts), only_you=only_you)
    shown.edited = bool(getattr(message, "edited", 0))
    for block in message.blocks:
        text = str((block.get("text") or {}).get("text", ""))
        if block.get("type") == "header":
            shown.title = text
        elif text:
            shown.lines.append(text)
        for el in block.get("elements") or []:
            if el.get("type") == "button":
                shown.buttons.append(
                    Button(
                        str((el.get("text") or {}).get("text", "")),
                        str(el.get("action_id", "")),
                        _STYLES.get(str(el.get("style", "")), ""),
                        str(el.get("url", "")),
                    )
                )
    if not (shown.title or shown.lines):
        shown.lines.append(str(message.text))
    return shown


def _clock(ts: str) -> str:
    """Slack's `ts` is seconds since the epoch; its client shows the time of day."""
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M")
    except (ValueError, OverflowError):
        return str(ts)


def _zoom(message: Any) -> Shown:
    content = message.content
    shown = Shown(str(message.message_id), str((content.get("head") or {}).get("text", "")))
    shown.when, shown.edited = str(message.sent_time), bool(message.edited)
    for item in content.get("body") or []:
        if item.get("type") == "message" and item.get("link"):
            shown.buttons.append(Button(str(item.get("text", "")), url=str(item["link"])))
        elif item.get("type") == "message":
            shown.lines.append(str(item.get("text", "")))
        for b in item.get("items") or [] if item.get("type") == "actions" else []:
            style = _STYLES.get(str(b.get("style", "")).lower(), "")
            shown.buttons.append(Button(str(b.get("text", "")), str(b.get("value", "")), style))
    return shown


def _card(message: Any, card: dict[str, Any]) -> Shown:
    """Adaptive Cards (Teams, Webex): TextBlocks, then Action.Submit / Action.OpenUrl."""
    shown = Shown(
        str(message.id),
        when=str(getattr(message, "timestamp", "")) or str(getattr(message, "created", "")),
    )
    shown.edited = bool(getattr(message, "edited", 0) or getattr(message, "edits", 0))
    for block in card.get("body") or []:
        if block.get("type") != "TextBlock":
            continue
        text = str(block.get("text", ""))
        if block.get("weight") == "Bolder" and not shown.title:
            shown.title = text
        else:
            shown.lines.append(text)
    for action in card.get("actions") or []:
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        shown.buttons.append(
            Button(
                str(action.get("title", "")),
                str(data.get("action_id", "")) if action.get("type") != "Action.OpenUrl" else "",
                _STYLES.get(str(action.get("style", "")), ""),
                str(action.get("url", "")) if action.get("type") == "Action.OpenUrl" else "",
            )
        )
    return shown


def message_id(message: Any) -> str:
    if hasattr(message, "blocks"):
        return f"{message.channel}|{message.ts}"
    return str(getattr(message, "message_id", None) or getattr(message, "id", ""))


def as_shown(message: Any, only_you: bool = False) -> Shown:
    """Recognise the message by its shape: Block Kit, a Zoom card, an Adaptive Card, text."""
    if hasattr(message, "blocks"):
        return _slack(message, only_you)
    if isinstance(getattr(message, "content", None), dict):
        return _zoom(message)
    for attachment in getattr(message, "attachments", None) or []:
        if isinstance(attachment, dict) and isinstance(attachment.get("content"), dict):
            return _card(message, attachment["content"])
    text = getattr(message, "shown_text", None) or getattr(message, "text", "") or str(message)
    return Shown(message_id(message), lines=[str(text)])
