"""Message text as the relay carries it from one platform to another: a small tree of pieces.

Each adapter parses its own markup into a `Prose` and renders a `Prose` into its own markup,
escaping the literal text for it. Nothing is ever converted from one platform's markup to
another's as a string, so a `*` typed on Teams cannot become bold on Slack, and a name like
`<!channel>` stays a name. What the four platforms share is kept: bold, italic, strike, inline
code, code blocks, links, line breaks (as "\\n" in the text), emoji and user mentions.

A `Mention` holds an account id on the platform the prose belongs to: the relay core maps the
mentions of a captured message to the recipient platform's accounts (or to plain names) before
the adapter renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Style(StrEnum):
    BOLD = "bold"
    ITALIC = "italic"
    STRIKE = "strike"
    CODE = "code"  # inline code


@dataclass(frozen=True, slots=True)
class Run:
    """Literal text with the styles it carries; `link` makes it the text of a link."""

    text: str
    styles: frozenset[Style] = frozenset()
    link: str | None = None


@dataclass(frozen=True, slots=True)
class CodeBlock:
    text: str


@dataclass(frozen=True, slots=True)
class Mention:
    """A user mention: the account id on this prose's platform, and the name to show."""

    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Emoji:
    """An emoji by its shortcode without colons (`thumbsup`), as Slack writes it; platforms
    without shortcodes get the character (`Emoji.char`)."""

    name: str

    def char(self) -> str:
        """The Unicode character, or `:name:` when the shortcode is not a known emoji."""
        import emoji  # a table of every shortcode; imported where text is rendered only

        text = f":{self.name}:"
        return str(emoji.emojize(text, language="alias"))


Piece = Run | CodeBlock | Mention | Emoji


@dataclass(frozen=True, slots=True)
class Prose:
    pieces: tuple[Piece, ...] = ()

    @classmethod
    def text(cls, text: str) -> Prose:
        """Plain text, no markup."""
        return cls((Run(text),)) if text else cls()

    @classmethod
    def of(cls, pieces: Iterable[Piece]) -> Prose:
        return cls(tuple(pieces))

    def __add__(self, other: Prose) -> Prose:
        return Prose(self.pieces + other.pieces)

    def plain(self) -> str:
        """The characters a reader sees: mentions as `@name`, emoji as characters."""
        return "".join(_plain(piece) for piece in self.pieces)

    def is_empty(self) -> bool:
        return not self.plain().strip()

    def map_mentions(self, change: Callable[[Mention], Piece]) -> Prose:
        """Each mention replaced by what `change` makes of it (a mention on another platform,
        or a `Run` with the plain name)."""
        return Prose(tuple(change(p) if isinstance(p, Mention) else p for p in self.pieces))

    def mentions(self) -> list[Mention]:
        return [p for p in self.pieces if isinstance(p, Mention)]

    def split(self, limit: int, measure: Callable[[Prose], int] | None = None) -> list[Prose]:
        """Consecutive parts, each at most `limit` long by `measure` (default: characters of
        `plain`), cut between pieces where possible, else inside a run or code block at a
        line break or space; never inside a mention or emoji. Order is kept."""
        size = measure or (lambda prose: len(prose.plain()))
        parts: list[Prose] = []
        current: list[Piece] = []
        queue = list(self.pieces)
        while queue:
            piece = queue.pop(0)
            if size(Prose((*current, piece))) <= limit:
                current.append(piece)
                continue
            alone = not current
            head, tail = _cut(piece, current, limit, size)
            if head is not None:
                current.append(head)
            if current:
                parts.append(Prose(tuple(current)))
                current = []
            if tail is not None:
                if head is None and alone:  # even alone it does not fit: cut it hard
                    head, tail = _hard_cut(tail, limit, size)
                    parts.append(Prose((head,)))
                if tail is not None:
                    queue.insert(0, tail)
        if current:
            parts.append(Prose(tuple(current)))
        return parts

    def dump(self) -> list[dict[str, Any]]:
        """JSON for the sealed outbox row."""
        return [_dump(piece) for piece in self.pieces]

    @classmethod
    def load(cls, data: list[dict[str, Any]]) -> Prose:
        return cls(tuple(_load(item) for item in data))


def _plain(piece: Piece) -> str:
    if isinstance(piece, Mention):
        return f"@{piece.name}"
    if isinstance(piece, Emoji):
        return piece.char()
    return piece.text


def _cut(
    piece: Piece, before: list[Piece], limit: int, size: Callable[[Prose], int]
) -> tuple[Piece | None, Piece | None]:
    """The longest head of `piece` that fits after `before`, cut at a line break or a space,
    and the rest; (None, piece) when no head fits."""
    if not isinstance(piece, Run | CodeBlock):
        return None, piece
    text = piece.text
    best = 0
    for index, char in enumerate(text):
        head = replace(piece, text=text[: index + 1])
        if char in "\n " and size(Prose((*before, head))) <= limit:
            best = index + 1
    if best == 0:
        return None, piece
    return replace(piece, text=text[:best]), replace(piece, text=text[best:])


def _hard_cut(piece: Piece, limit: int, size: Callable[[Prose], int]) -> tuple[Piece, Piece | None]:
    """A piece too long even alone, with no break to cut at: cut at the longest prefix that fits."""
    if not isinstance(piece, Run | CodeBlock):
        return piece, None  # a mention or emoji is never cut; it is sent as it is
    text = piece.text
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if size(Prose((replace(piece, text=text[:middle]),))) <= limit:
            low = middle
        else:
            high = middle - 1
    rest = text[low:]
    return replace(piece, text=text[:low]), (replace(piece, text=rest) if rest else None)


def _dump(piece: Piece) -> dict[str, Any]:
    if isinstance(piece, Run):
        out: dict[str, Any] = {"t": "run", "text": piece.text}
        if piece.styles:
            out["styles"] = sorted(piece.styles)
        if piece.link:
            out["link"] = piece.link
        return out
    if isinstance(piece, CodeBlock):
        return {"t": "code", "text": piece.text}
    if isinstance(piece, Mention):
        return {"t": "mention", "user_id": piece.user_id, "name": piece.name}
    return {"t": "emoji", "name": piece.name}


def _load(item: dict[str, Any]) -> Piece:
    kind = item["t"]
    if kind == "run":
        styles = frozenset(Style(s) for s in item.get("styles", ()))
        return Run(item["text"], styles, item.get("link"))
    if kind == "code":
        return CodeBlock(item["text"])
    if kind == "mention":
        return Mention(item["user_id"], item["name"])
    if kind == "emoji":
        return Emoji(item["name"])
    raise ValueError(f"unknown prose piece {kind!r}")
