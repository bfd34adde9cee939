"""Slack mrkdwn ↔ `Prose`, for relayed direct messages.

Slack's "Formatting text" reference defines the markup read here: `*bold*`, `_italic_`,
`~strike~`, `` `code` ``, ```` ``` ```` code blocks, `<url|text>` and `<url>` links, `<@U…>`
mentions, `<#C…|name>` channels, `<!here>`-style broadcasts, `:shortcode:` emoji, and the
three entities `&amp;` `&lt;` `&gt;` that stand for literal `& < >`. A style marker only
counts at a word boundary and never across a line break.

Text from another platform is data (HELPERS rule 6). `render` therefore escapes `& < >` in
every literal run, which is what makes `<!channel>`, `<@U…>` and `<https://evil|x>` typed on
Teams show up as written instead of notifying, mentioning or linking. mrkdwn has no escape for
`* _ ~` and the backtick, so each such character in literal text is wrapped in zero-width
spaces (U+200B): a marker must touch a word boundary to open or close a style, and a zero-width
space next to it is neither whitespace nor the start of the line, so `*not bold*` typed on
Teams stays as typed. A `>` opening a line (Slack stores a typed quote as `&gt; …`) gets one
too, so it does not become a quote. Slack documents no escape for these, so this rests on how
its clients apply the boundary rule [mem: not in Slack's reference; a `rich_text` block would be
the exact alternative]. `parse` treats a marker with a zero-width space beside it as literal
and drops those spaces, so a relayed message read back (an echo, a backfill) gives the same
prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.prose import CodeBlock, Emoji, Mention, Piece, Prose, Run, Style

ZWSP = "\u200b"
_MARKERS = {"*": Style.BOLD, "_": Style.ITALIC, "~": Style.STRIKE}
_WRAP_ORDER = (Style.BOLD, Style.ITALIC, Style.STRIKE)  # outermost first
_MARK_OF = {style: mark for mark, style in _MARKERS.items()}
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_EMOJI_NAME = re.compile(r"[a-z0-9_+'-]+")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")

_CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE = re.compile(
    r"(?P<angle><[^<>\n]+>)"
    rf"|(?<!{ZWSP})`(?P<code>[^`\n{ZWSP}](?:[^`\n]*[^`\n{ZWSP}])?)`"
    r"|(?<!\w):(?P<emoji>[a-z0-9_+'-]+):(?!\w)"
    # A style: the marker at a word boundary (not after a letter, another marker or a
    # neutralising zero-width space), content that neither starts nor ends with a space, and
    # the same marker closing it at a boundary, all on one line.
    rf"|(?<![\w*_~{ZWSP}])(?P<mark>[*_~])"
    rf"(?P<styled>[^\s{ZWSP}](?:[^\n]*?[^\s{ZWSP}])?)(?P=mark)(?![\w{ZWSP}])"
)
_NEUTRALISED = re.compile(rf"{ZWSP}?([*_~`]){ZWSP}?")
_QUOTE = re.compile(r"(^|\n)&gt;")
_BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


# -- mrkdwn → Prose -----------------------------------------------------------------------
def parse(text: str) -> Prose:
    """A message as Slack delivers it (event `text`, history) as prose."""
    pieces: list[Piece] = []
    position = 0
    for block in _CODE_BLOCK.finditer(text):
        pieces += _inline(text[position : block.start()], frozenset())
        # Slack's client writes ```code```; a fence on its own line adds the line breaks.
        code = unescape(block.group(1)).removeprefix("\n").removesuffix("\n")
        pieces.append(CodeBlock(code))
        position = block.end()
    pieces += _inline(text[position:], frozenset())
    return Prose(tuple(_merged(pieces)))


def unescape(text: str) -> str:
    """Slack's three entities back to the characters they stand for (`&amp;` last)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline(text: str, styles: frozenset[Style]) -> list[Piece]:
    pieces: list[Piece] = []
    position = 0
    for match in _INLINE.finditer(text):
        pieces += _literal(text[position : match.start()], styles)
        position = match.end()
        if match.group("angle"):
            pieces.append(_angle(match.group("angle")[1:-1], styles))
        elif match.group("code") is not None:
            pieces.append(Run(unescape(match.group("code")), styles | {Style.CODE}))
        elif match.group("emoji"):
            pieces.append(Emoji(match.group("emoji")))
        else:
            inner = styles | {_MARKERS[match.group("mark")]}
            pieces += _inline(match.group("styled"), inner)
    return pieces + _literal(text[position:], styles)


def _literal(text: str, styles: frozenset[Style]) -> list[Piece]:
    text = _NEUTRALISED.sub(r"\1", text).replace(f"{ZWSP}&gt;", "&gt;")
    text = unescape(text)
    return [Run(text, styles)] if text else []


def _angle(inside: str, styles: frozenset[Style]) -> Piece:
    """One `<…>` construct: a mention, channel, broadcast, or a link."""
    target, _, label = inside.partition("|")
    label = _NEUTRALISED.sub(r"\1", label)
    if target.startswith("@") and _USER_ID.fullmatch(target[1:]):
        return Mention(target[1:], unescape(label) or target[1:])
    if target.startswith("#"):
        return Run("#" + unescape(label or target[1:]), styles)
    if target.startswith("!"):
        name = target[1:].split("^")[0]
        return Run(unescape(label) or _BROADCASTS.get(name, "@" + name), styles)
    url = unescape(target)
    return Run(unescape(label) or url, styles, link=url)


def _merged(pieces: list[Piece]) -> Iterator[Piece]:
    """Adjacent runs with the same styles and link joined, so equal text gives equal prose."""
    pending: Run | None = None
    for piece in pieces:
        if isinstance(piece, Run) and pending is not None:
            if (piece.styles, piece.link) == (pending.styles, pending.link):
                pending = Run(pending.text + piece.text, pending.styles, pending.link)
                continue
        if pending is not None:
            yield pending
            pending = None
        if isinstance(piece, Run):
            pending = piece
        else:
            yield piece
    if pending is not None:
        yield pending


# -- Prose → mrkdwn -----------------------------------------------------------------------
def render(prose: Prose) -> str:
    """Prose as mrkdwn for chat.postMessage's `text`; literal text can never become markup."""
    return "".join(_render_piece(piece) for piece in prose.pieces)


def measure(prose: Prose) -> int:
    """How long Slack counts the message: the characters of its mrkdwn (`msg_too_long`)."""
    return len(render(prose))


def escape(text: str) -> str:
    """Slack's three control characters as entities (`&` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise(text: str) -> str:
    """Escaped literal text whose `* _ ~` and backticks can open or close nothing, and whose
    line-leading `>` quotes nothing."""
    marked = re.sub(r"([*_~`])", rf"{ZWSP}\1{ZWSP}", escape(text))
    return _QUOTE.sub(rf"\1{ZWSP}&gt;", marked)


def _render_piece(piece: Piece) -> str:
    if isinstance(piece, Mention):
        if _USER_ID.fullmatch(piece.user_id):
            return f"<@{piece.user_id}>"
        return neutralise("@" + piece.name)
    if isinstance(piece, Emoji):
        return f":{piece.name}:" if _EMOJI_NAME.fullmatch(piece.name) else neutralise(piece.name)
    if isinstance(piece, CodeBlock):
        body = escape(piece.text).replace("```", f"`{ZWSP}`{ZWSP}`")
        return f"```{body}```"
    return _render_run(piece)


def _render_run(run: Run) -> str:
    if Style.CODE in run.styles:
        # Nothing is formatted inside code; a backtick would end it, so it becomes a look-alike.
        text = "`" + escape(run.text).replace("`", "\u02cb") + "`"
    else:
        text = neutralise(run.text)
    if run.link is not None and run.link.startswith(_SAFE_SCHEMES):
        url = escape(run.link.replace("|", "%7C"))
        text = f"<{url}|{text}>" if run.text != run.link else f"<{url}>"
    styles = [s for s in _WRAP_ORDER if s in run.styles]
    if not styles:
        return text
    return "\n".join(_wrapped(line, styles) for line in text.split("\n"))


def _wrapped(line: str, styles: list[Style]) -> str:
    """A line inside its style markers, its outer spaces kept outside (Slack opens no style
    on a marker followed by a space)."""
    core = line.strip()
    if not core:
        return line
    lead = line[: len(line) - len(line.lstrip())]
    trail = line[len(line.rstrip()) :]
    opening = "".join(_MARK_OF[s] for s in styles)
    return f"{lead}{opening}{core}{opening[::-1]}{trail}"
