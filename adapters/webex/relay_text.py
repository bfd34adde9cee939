"""What a Webex person types, as the relay's `Prose`, and `Prose` as Webex markdown.

A Webex message (relay-apis §3.1: `GET /v1/messages/{id}` answers `text`, and `markdown` and
`html` when the person used formatting) is read from its `markdown` when present, parsed as
CommonMark with strikethrough (what Webex clients write: `**bold**`, `*italic*`, `~~strike~~`,
`` `code` ``, fenced blocks, `[text](url)`), else from its `html` (`relay_html`), else its
`text`. Mentions are `<@personId:ID|Name>` / `<@personEmail:EMAIL|Name>` in markdown
(platform-apis §D.3); they are cut out before CommonMark sees them, so an underscore in an id
never becomes emphasis. Emoji arrive as characters and become `Emoji(shortcode)`.

Rendering escapes every piece of literal text for CommonMark and for Webex's own mention
syntax: `<`, `>` and `&` as entities (so `<@all>` or `<b>` typed on Slack stays text), inline
markers with a backslash, and block markers (`#`, `>`, `-`, `1.`) at the start of each line,
so text from another platform never becomes markup. The limit (7,439 bytes of markdown, §3.2)
is measured on the rendered bytes by `measure`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import emoji as emoji_table
from markdown_it import MarkdownIt
from markdown_it.token import Token

from adapters.webex.relay_html import parse_html
from bot.prose import CodeBlock, Emoji, Mention, Piece, Prose, Run, Style

MAX_BYTES = 7439  # text or markdown of one message (relay-apis §3.2)
ZWSP = "\u200b"  # keeps emphasis markers next to punctuation working (`_flanking`)

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_MENTION = re.compile(r"<@(personId|personEmail):([^|<>\s]+)(?:\|([^<>]*))?>")
_HOLD = re.compile("\ue000(\\d+)\ue001")  # a mention set aside while CommonMark parses
_ID = re.compile(r"^[A-Za-z0-9_=.+@-]+$")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_INLINE = re.compile(r"([\\`*_~\[\]|])")
_LINE_START = re.compile(r"^([ \t]*(?:\d+)?)(#|-|\+|=|[.)])")
_MARKER_END = "\u00a0"  # after a list item's marker: the item's text follows on the same line
_STYLE_OF = {"strong": Style.BOLD, "em": Style.ITALIC, "s": Style.STRIKE}


# -- reading ------------------------------------------------------------------------------------


def parse(message: Mapping[str, Any]) -> Prose:
    """A Webex message object (`markdown`, `html`, `text`) as prose."""
    markdown = message.get("markdown")
    if isinstance(markdown, str) and markdown.strip():
        return parse_markdown(markdown)
    html = message.get("html")
    if isinstance(html, str) and html.strip():
        return Prose.of(_merged(with_emoji(parse_html(html))))
    text = message.get("text")
    return Prose.of(_merged(with_emoji([Run(text)]))) if isinstance(text, str) else Prose()


def parse_markdown(source: str) -> Prose:
    """Webex markdown as prose: CommonMark + strikethrough, mentions, emoji characters."""
    held: list[re.Match[str]] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match)
        return f"\ue000{len(held) - 1}\ue001"

    # The two private-use characters that mark a held mention cannot come from the person.
    source = source.replace("\ue000", "\ufffd").replace("\ue001", "\ufffd")
    tokens = _MARKDOWN.parse(_MENTION.sub(hold, source))
    pieces: list[Piece] = []
    for token in tokens:
        if token.type == "inline":
            if pieces and _needs_break(pieces):
                pieces.append(Run("\n\n" if token.level <= 1 else "\n"))
            pieces.extend(_inline(token.children or [], held))
        elif token.type == "list_item_open":  # the marker the person typed, as text
            if pieces and _needs_break(pieces):
                pieces.append(Run("\n"))
            marker = f"{token.info}{token.markup}" if token.info else token.markup
            pieces.append(Run(marker + _MARKER_END))
        elif token.type in ("fence", "code_block"):
            code = _HOLD.sub(lambda m: held[int(m.group(1))].group(0), token.content)
            if pieces and _needs_break(pieces):
                pieces.append(Run("\n"))
            pieces.append(CodeBlock(code.removesuffix("\n")))
    return Prose.of(_merged(with_emoji(pieces)))


def _needs_break(pieces: list[Piece]) -> bool:
    """Whether the next block starts a new line (not after a break, nor a list marker)."""
    last = pieces[-1]
    return not (isinstance(last, Run) and last.text.endswith(("\n", _MARKER_END)))


def _inline(children: list[Token], held: list[re.Match[str]]) -> Iterator[Piece]:
    styles: set[Style] = set()
    link: str | None = None
    for child in children:
        kind = child.type
        if kind.endswith("_open") and kind[:-5] in _STYLE_OF:
            styles.add(_STYLE_OF[kind[:-5]])
        elif kind.endswith("_close") and kind[:-6] in _STYLE_OF:
            styles.discard(_STYLE_OF[kind[:-6]])
        elif kind == "link_open":
            link = str(child.attrs.get("href") or "") or None
        elif kind == "link_close":
            link = None
        elif kind in ("softbreak", "hardbreak"):
            yield Run("\n", frozenset(styles), link)
        elif kind == "code_inline":
            original = _HOLD.sub(lambda m: held[int(m.group(1))].group(0), child.content)
            yield Run(original, frozenset(styles | {Style.CODE}), link)
        elif kind == "image":
            yield Run(child.content or str(child.attrs.get("src") or ""), frozenset(styles), link)
        elif child.content:  # text, html_inline (shown as typed: html is off)
            text = child.content.replace(ZWSP, "")  # ours, from `_flanking`: invisible anyway
            yield from _with_mentions(text, held, frozenset(styles), link)


def _with_mentions(
    text: str, held: list[re.Match[str]], styles: frozenset[Style], link: str | None
) -> Iterator[Piece]:
    start = 0
    for match in _HOLD.finditer(text):
        if match.start() > start:
            yield Run(text[start : match.start()], styles, link)
        yield _mention(held[int(match.group(1))])
        start = match.end()
    if start < len(text):
        yield Run(text[start:], styles, link)


def _mention(match: re.Match[str]) -> Piece:
    """`<@personId:ID|Name>` → Mention(ID); an email mention keeps the email as its id (the
    core maps accounts by id, so it shows as the name when it cannot place it)."""
    target, name = match.group(2), match.group(3)
    return Mention(target, (name or "").strip() or target)


def with_emoji(pieces: list[Piece]) -> list[Piece]:
    """Emoji characters in runs (not in code) as `Emoji` pieces, by their shortcode."""
    out: list[Piece] = []
    for piece in pieces:
        if not isinstance(piece, Run) or Style.CODE in piece.styles:
            out.append(piece)
            continue
        start = 0
        for found in emoji_table.emoji_list(piece.text):
            name = emoji_table.demojize(found["emoji"], language="alias").strip(":")
            if found["match_start"] > start:
                out.append(Run(piece.text[start : found["match_start"]], piece.styles, piece.link))
            out.append(Emoji(name))
            start = found["match_end"]
        if start < len(piece.text):
            out.append(Run(piece.text[start:], piece.styles, piece.link))
    return out


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Neighbouring runs with the same styles and link as one run; empty runs dropped."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, Run) and not piece.text:
            continue
        last = out[-1] if out else None
        if (
            isinstance(piece, Run)
            and isinstance(last, Run)
            and (last.styles, last.link) == (piece.styles, piece.link)
        ):
            out[-1] = Run(last.text + piece.text, piece.styles, piece.link)
        else:
            out.append(piece)
    while out and isinstance(out[-1], Run) and out[-1].text.endswith("\n"):
        trimmed = out[-1].text.rstrip("\n")
        out[-1:] = [Run(trimmed, out[-1].styles, out[-1].link)] if trimmed else []
    return out


# -- writing ------------------------------------------------------------------------------------


def escape(text: str, line_start: bool = False) -> str:
    """Literal text in Webex markdown: no HTML, no mention, no CommonMark markup.

    Block markers (`#`, `>`, `-`, `1.`) and indentation only count at the start of a line:
    they are escaped after each line break, and at the very start when `line_start`."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index or line_start:
            line = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), line)
            bare = line.lstrip(" \t")
            indent = line[: len(line) - len(bare)]
            lines[index] = "".join(f"&#{ord(char)};" for char in indent) + bare
    return "\n".join(lines)


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.strip() == "" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _flanking(body: str) -> str:
    """`body` made safe to wrap in `*`/`~~`: CommonMark opens emphasis before punctuation (an
    escape, an entity, a backtick) only after a space or punctuation, and the run before may
    end in a letter (`x**\\*b**`), so a zero-width space goes between marker and punctuation."""
    if _punctuation(body[0]):
        body = ZWSP + body
    if _punctuation(body[-1]):
        body += ZWSP
    return body


def _run(run: Run, line_start: bool) -> str:
    if not run.text:
        return ""
    if run.styles and "\n" in run.text:  # emphasis cannot span a blank line: style each line
        lines = run.text.split("\n")
        return "\n".join(
            _run(Run(line, run.styles, run.link), line_start or bool(index))
            for index, line in enumerate(lines)
        )
    if Style.CODE in run.styles:
        body, lead, trail = _code_span(run.text), "", ""
    else:
        stripped = run.text.strip()
        if not stripped:
            return escape(run.text, line_start)
        start = run.text.index(stripped[0])
        lead, trail = run.text[:start], run.text[start + len(stripped) :]
        body = escape(stripped, line_start and not lead)
    for style, marker in ((Style.ITALIC, "*"), (Style.BOLD, "**"), (Style.STRIKE, "~~")):
        if style in run.styles:
            body = f"{marker}{_flanking(body)}{marker}"
    if run.link and run.link.lower().startswith(_SAFE_SCHEMES):
        target = re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group(0)):02X}", run.link)
        body = f"[{body}]({target})"
    return escape(lead, line_start) + body + escape(trail)


def _mention_markup(mention: Mention) -> str:
    name = re.sub(r"[<>|\n]", " ", mention.name).strip() or mention.user_id
    if _ID.match(mention.user_id):
        kind = "personEmail" if "@" in mention.user_id else "personId"
        return f"<@{kind}:{mention.user_id}|{name}>"
    return escape("@" + mention.name)


def render(prose: Prose) -> str:
    """Prose as Webex markdown, every literal character shown as written."""
    out: list[str] = []
    for piece in prose.pieces:
        line_start = not out or out[-1].endswith("\n")
        if isinstance(piece, Run):
            out.append(_run(piece, line_start))
        elif isinstance(piece, Mention):
            out.append(_mention_markup(piece))
        elif isinstance(piece, Emoji):
            out.append(escape(piece.char(), line_start))
        else:
            longest = max((len(run) for run in re.findall(r"`{3,}", piece.text)), default=2)
            fence = "`" * (longest + 1)
            out.append(f"{'' if line_start else chr(10)}{fence}\n{piece.text}\n{fence}\n")
    return "".join(out)


def measure(prose: Prose) -> int:
    """Bytes of the rendered markdown: what Webex counts against its limit (§3.2)."""
    return len(render(prose).encode())
