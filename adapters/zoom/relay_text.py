"""Zoom Team Chat message text ↔ `Prose`, for the relay.

Zoom keeps a user message's formatting out of its text (relay-apis §4.1 payload, §4.2 send
body; the OpenAPI of `POST /chat/users/{userId}/messages`): `message` is plain characters and
`rich_text` is a list of `{start_position, end_position, format_type, format_attr}` ranges over
it; mentions are `at_items` `{at_type: 1, at_contact, start_position, end_position}`. So literal
text needs no escaping at all on Zoom: a typed `*`, `<!channel>`, `<b>` or `[x](y)` is just
characters, and nothing a person typed elsewhere can become Zoom formatting.

What maps:
- `Bold`, `Italic`, `Strikethrough` ↔ the prose styles; `AddLink` (format_attr = the URL) ↔ a
  link. Zoom accepts only http(s) links and never across lines (rule 1 of `format_type`), so
  any other link is sent as `text (url)`.
- Zoom's `rich_text` has no code format (the enum is Bold … AddLink), so inline code is sent as
  the text between backticks and a code block between ``` lines: plain characters a reader
  recognises. Backticks typed on Zoom stay literal text (they are not Zoom formatting).
- Emoji are characters in Zoom's text (`Emoji.char()`); incoming emoji stay characters.
- A mention is `@name` in the text plus an `at_items` entry whose `at_contact` is the Zoom
  user id (the list API reports `at_contact` as "The contact's user ID").
- Other formats (Underline, FontSize, colours, lists, quotes, headings) are dropped.

Positions: the docs' own examples disagree on the end. For `rich_text` the end is exclusive
("Hello", bold first character: start 0, end 1); for `at_items` the example "@Shrijana" has
start 0, end 8, i.e. the index of the last character. We follow each example. Positions count
characters of the `message` string (Python code points, the unit JSON Schema's `maxLength:
1024` counts in) [mem: Zoom does not say whether emoji outside the BMP count once or twice].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.prose import CodeBlock, Emoji, Mention, Piece, Prose, Run, Style

MESSAGE_LIMIT = 1024  # `message.maxLength` of the send API (relay-apis §4.2, surprise 19)

_TO_STYLE = {"Bold": Style.BOLD, "Italic": Style.ITALIC, "Strikethrough": Style.STRIKE}
_FROM_STYLE = {style: name for name, style in _TO_STYLE.items()}


@dataclass(frozen=True, slots=True)
class ZoomText:
    """One Zoom message as the send API takes it (and the events/list API give it)."""

    message: str
    rich_text: tuple[dict[str, Any], ...] = ()
    at_items: tuple[dict[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        """The send body's text fields; empty lists are left out."""
        out: dict[str, Any] = {"message": self.message}
        if self.rich_text:
            out["rich_text"] = list(self.rich_text)
        if self.at_items:
            out["at_items"] = list(self.at_items)
        return out


# -- Zoom → Prose ------------------------------------------------------------------------------


@dataclass
class _Char:
    styles: set[Style] = field(default_factory=set)
    link: str | None = None


def _position(value: Any, length: int) -> int | None:
    return max(0, min(int(value), length)) if isinstance(value, int) else None


def _styled(message: str, rich_text: Sequence[Mapping[str, Any]]) -> list[_Char]:
    chars = [_Char() for _ in message]
    for item in rich_text:
        start = _position(item.get("start_position"), len(message))
        end = _position(item.get("end_position"), len(message))
        kind = item.get("format_type")
        if start is None or end is None or start >= end:
            continue
        for char in chars[start:end]:
            if kind in _TO_STYLE:
                char.styles.add(_TO_STYLE[str(kind)])
            elif kind == "AddLink" and _is_web_link(item.get("format_attr")):
                char.link = str(item["format_attr"])
    return chars


def _mentions(message: str, at_items: Sequence[Mapping[str, Any]]) -> dict[int, tuple[int, str]]:
    """start → (end exclusive, user id) of each contact mention that covers `@…` text."""
    found: dict[int, tuple[int, str]] = {}
    for item in at_items:
        start = _position(item.get("start_position"), len(message))
        last = _position(item.get("end_position"), len(message))
        contact = item.get("at_contact")
        if item.get("at_type") != 1 or start is None or last is None or not contact:
            continue
        end = min(last + 1, len(message))  # the docs' example end is the last character
        if end > start and message[start] == "@":
            found[start] = (end, str(contact))
    return found


def parse(
    message: str,
    rich_text: Sequence[Mapping[str, Any]] | None = None,
    at_items: Sequence[Mapping[str, Any]] | None = None,
) -> Prose:
    """A Zoom message (its text, style ranges and mentions) as prose; ranges out of bounds or
    of unknown kinds are ignored, never trusted."""
    chars = _styled(message, rich_text or ())
    mentions = _mentions(message, at_items or ())
    pieces: list[Piece] = []
    index = 0
    while index < len(message):
        if index in mentions:
            end, contact = mentions[index]
            pieces.append(Mention(contact, message[index + 1 : end]))
            index = end
            continue
        start = index
        key = (frozenset(chars[index].styles), chars[index].link)
        index += 1
        while (
            index < len(message)
            and index not in mentions
            and (frozenset(chars[index].styles), chars[index].link) == key
        ):
            index += 1
        pieces.append(Run(message[start:index], key[0], key[1]))
    return Prose.of(pieces)


# -- Prose → Zoom ------------------------------------------------------------------------------


def _is_web_link(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://")) and " " not in url


class _Writer:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.size = 0
        self.rich: list[dict[str, Any]] = []
        self.at: list[dict[str, Any]] = []
        self.after_block = False  # a code block's closing fence wants a line of its own

    def add(self, text: str) -> tuple[int, int]:
        if self.after_block and not text.startswith("\n"):
            self.text.append("\n")
            self.size += 1
        self.after_block = False
        start = self.size
        self.text.append(text)
        self.size += len(text)
        return start, self.size

    def style(self, start: int, end: int, kind: str, attr: str | None = None) -> None:
        if end <= start:
            return
        item: dict[str, Any] = {"start_position": start, "end_position": end, "format_type": kind}
        if attr is not None:
            item["format_attr"] = attr
        self.rich.append(item)

    def run(self, run: Run) -> None:
        text = f"`{run.text}`" if Style.CODE in run.styles else run.text
        link = run.link if _is_web_link(run.link) and "\n" not in text else None
        start, end = self.add(text)
        for style in sorted(run.styles - {Style.CODE}):
            self.style(start, end, _FROM_STYLE[style])
        if link is not None:
            self.style(start, end, "AddLink", link)
        elif run.link and run.link != run.text:
            self.add(f" ({run.link})")

    def code_block(self, block: CodeBlock) -> None:
        before = "" if not self.size or "".join(self.text).endswith("\n") else "\n"
        self.add(f"{before}```\n{block.text.rstrip(chr(10))}\n```")
        self.after_block = True

    def mention(self, mention: Mention) -> None:
        start, end = self.add(f"@{mention.name}")
        self.at.append(
            {
                "at_type": 1,
                "at_contact": mention.user_id,
                "start_position": start,
                "end_position": end - 1,  # the docs' example: the last character's index
            }
        )


def render(prose: Prose) -> ZoomText:
    """The send body's `message`, `rich_text` and `at_items` for `prose`."""
    writer = _Writer()
    for piece in prose.pieces:
        if isinstance(piece, Run):
            writer.run(piece)
        elif isinstance(piece, CodeBlock):
            writer.code_block(piece)
        elif isinstance(piece, Mention):
            writer.mention(piece)
        elif isinstance(piece, Emoji):
            writer.add(piece.char())
    message = "".join(writer.text)
    return ZoomText(message, tuple(writer.rich), tuple(writer.at))


def measure(prose: Prose) -> int:
    """How long `prose` is on Zoom: the characters of its rendered `message`."""
    return len(render(prose).message)


def split(prose: Prose, limit: int = MESSAGE_LIMIT) -> list[ZoomText]:
    """`prose` as consecutive Zoom messages of at most `limit` characters, in order."""
    return [render(part) for part in prose.split(limit, measure) if not part.is_empty()]
