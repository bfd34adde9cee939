"""Teams chat message bodies (Graph `chatMessage.body`, HTML) ↔ the relay's `Prose`.

Graph returns a typed chat message as `body: {contentType: "html", content}` with its mentions
as `<at id="N">Name</at>` tags whose `N` indexes the message's `mentions` array, each entry
naming the account in `mentioned.user.id` (relay-apis §2.2 field table; §2.3 for sending).
Reading goes through the stdlib `html.parser`, never regular expressions over HTML: every
entity is decoded once, so `&lt;b&gt;` typed by a person stays the literal text `<b>`, and a
tag that is not one we know keeps only its text. Writing escapes every literal character, so
`*stars*` from Slack or `<at>` typed as text arrive in Teams exactly as typed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from bot.prose import CodeBlock, Emoji, Mention, Piece, Prose, Run, Style

STYLE_TAGS: dict[str, Style] = {
    "b": Style.BOLD,
    "strong": Style.BOLD,
    "i": Style.ITALIC,
    "em": Style.ITALIC,
    "s": Style.STRIKE,
    "strike": Style.STRIKE,
    "del": Style.STRIKE,
    "code": Style.CODE,
}
STYLE_MARKUP: tuple[tuple[Style, str], ...] = (
    (Style.BOLD, "b"),
    (Style.ITALIC, "i"),
    (Style.STRIKE, "s"),
    (Style.CODE, "code"),
)
BLOCK_TAGS = frozenset({"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "blockquote"})
CODE_BLOCK_TAGS = frozenset({"pre", "codeblock"})
SKIPPED_TAGS = frozenset({"script", "style", "template"})
LINK_SCHEMES = ("http://", "https://", "mailto:")


def safe_link(href: str | None) -> str | None:
    """Only web and mail links travel: a `javascript:` href from anywhere stays text."""
    if href and href.strip().lower().startswith(LINK_SCHEMES):
        return href.strip()
    return None


class _Reader(HTMLParser):
    """Collects pieces while walking the HTML; state is the open styles, link, mention, block."""

    def __init__(self, mentions: Mapping[str, tuple[str, str]]) -> None:
        super().__init__(convert_charrefs=True)
        self.mentions = mentions
        self.pieces: list[Piece] = []
        self.styles: list[Style] = []
        self.links: list[str | None] = []
        self.mention: tuple[str, str] | None = None
        self.in_mention = False
        self.mention_text: list[str] = []
        self.code: list[str] | None = None
        self.code_depth = 0
        self.skip_depth = 0
        self.need_break = False

    # -- output ------------------------------------------------------------------------------
    def _ended_by_break(self) -> bool:
        if not self.pieces:
            return True
        last = self.pieces[-1]
        return isinstance(last, CodeBlock) or (isinstance(last, Run) and last.text.endswith("\n"))

    def _break(self) -> None:
        self.need_break = False
        if not self._ended_by_break():
            self._add(Run("\n"))

    def _add(self, piece: Piece) -> None:
        if self.need_break:
            self._break()
        last = self.pieces[-1] if self.pieces else None
        if (
            isinstance(piece, Run)
            and isinstance(last, Run)
            and (last.styles, last.link) == (piece.styles, piece.link)
        ):
            self.pieces[-1] = Run(last.text + piece.text, last.styles, last.link)
        else:
            self.pieces.append(piece)

    def _text(self, text: str) -> None:
        if text:
            link = next((link for link in reversed(self.links) if link), None)
            self._add(Run(text, frozenset(self.styles), link))

    # -- parser callbacks --------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in SKIPPED_TAGS:
            self.skip_depth += 1
        elif self.code is not None:
            if tag in CODE_BLOCK_TAGS:
                self.code_depth += 1
            elif tag == "br":
                self.code.append("\n")
        elif tag in CODE_BLOCK_TAGS:
            self.code, self.code_depth = [], 1
        elif tag in STYLE_TAGS:
            self.styles.append(STYLE_TAGS[tag])
        elif tag == "a":
            self.links.append(safe_link(attributes.get("href")))
        elif tag == "br":
            self._add(Run("\n"))
            self.need_break = False
        elif tag in BLOCK_TAGS:
            self.need_break = True
        elif tag == "at":
            self.in_mention, self.mention_text = True, []
            self.mention = self.mentions.get(str(attributes.get("id") or ""))
        elif tag == "emoji" or (
            tag == "img" and "emoji" in (attributes.get("itemtype") or "").lower()
        ):
            # Teams writes `<emoji id="…" alt="😀" title="…"></emoji>` (older messages: an
            # `<img itemtype="http://schema.skype.com/Emoji" alt="😀">`): the alt is the emoji.
            self._text(attributes.get("alt") or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "emoji", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif self.code is not None:
            if tag in CODE_BLOCK_TAGS:
                self.code_depth -= 1
                if self.code_depth == 0:
                    text, self.code = "".join(self.code).strip("\n"), None
                    if text:
                        self._add(CodeBlock(text))
        elif tag in STYLE_TAGS and STYLE_TAGS[tag] in self.styles:
            self.styles.reverse()
            self.styles.remove(STYLE_TAGS[tag])
            self.styles.reverse()
        elif tag == "a" and self.links:
            self.links.pop()
        elif tag in BLOCK_TAGS:
            self.need_break = True
        elif tag == "at" and self.in_mention:
            self._end_mention()

    def _end_mention(self) -> None:
        shown = "".join(self.mention_text)
        self.in_mention = False
        if self.mention is not None:
            user_id, name = self.mention
            self._add(Mention(user_id, name or shown))
        else:  # a mention of a bot, a tag or no one we know: its text, as Teams showed it
            self._text(shown)
        self.mention = None

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.code is not None:
            self.code.append(data)
        elif self.in_mention:
            self.mention_text.append(data)
        else:
            self._text(data.replace("\r\n", " ").replace("\n", " "))


def mention_index(mentions: Sequence[Any] | None) -> dict[str, tuple[str, str]]:
    """The message's `mentions` array by `id`: (user id, name) for mentions of people only."""
    found: dict[str, tuple[str, str]] = {}
    for entry in mentions or ():
        if not isinstance(entry, Mapping):
            continue
        mentioned = entry.get("mentioned")
        user = mentioned.get("user") if isinstance(mentioned, Mapping) else None
        if isinstance(user, Mapping) and user.get("id"):
            name = str(entry.get("mentionText") or user.get("displayName") or "")  # as shown
            found[str(entry.get("id"))] = (str(user["id"]), name)
    return found


def _trimmed(pieces: list[Piece]) -> tuple[Piece, ...]:
    """Without the line breaks that block tags leave at either end."""
    while pieces and isinstance(pieces[-1], Run) and not pieces[-1].text.strip("\n"):
        pieces.pop()
    if pieces and isinstance(pieces[-1], Run):
        last = pieces[-1]
        pieces[-1] = Run(last.text.rstrip("\n"), last.styles, last.link)
    return tuple(pieces)


def parse(body: Mapping[str, Any] | None, mentions: Sequence[Any] | None = None) -> Prose:
    """A Graph `chatMessage.body` (plus its `mentions`) as prose; a `text` body is literal."""
    if not isinstance(body, Mapping):
        return Prose()
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "text").lower() != "html":
        return Prose.text(content)
    reader = _Reader(mentions=mention_index(mentions))
    reader.feed(content)
    reader.close()
    if reader.in_mention:
        reader._end_mention()
    return Prose(_trimmed(reader.pieces))


# -- Prose → Teams HTML --------------------------------------------------------------------------


def _escape(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def _run(run: Run) -> str:
    out = _escape(run.text)
    for style, tag in STYLE_MARKUP:
        if style in run.styles:
            out = f"<{tag}>{out}</{tag}>"
    link = safe_link(run.link)
    if link:
        out = f'<a href="{html.escape(link, quote=True)}">{out}</a>'
    return out


def render(prose: Prose) -> tuple[str, list[dict[str, Any]]]:
    """HTML for `chatMessage.body.content` and the `mentions` array that goes with it.

    Each mention is `<at id="N">Name</at>` plus an entry `{id: N, mentionText, mentioned:
    {user: {id, displayName, userIdentityType: "aadUser"}}}` (the shape Graph returns, §2.2).
    """
    parts: list[str] = []
    mentions: list[dict[str, Any]] = []
    for piece in prose.pieces:
        if isinstance(piece, Run):
            parts.append(_run(piece))
        elif isinstance(piece, CodeBlock):
            parts.append(f"<pre>{html.escape(piece.text, quote=False)}</pre>")
        elif isinstance(piece, Mention):
            index = len(mentions)
            parts.append(f'<at id="{index}">{html.escape(piece.name, quote=False)}</at>')
            mentions.append(
                {
                    "id": index,
                    "mentionText": piece.name,
                    "mentioned": {
                        "user": {
                            "id": piece.user_id,
                            "displayName": piece.name,
                            "userIdentityType": "aadUser",
                        }
                    },
                }
            )
        elif isinstance(piece, Emoji):
            parts.append(_escape(piece.char()))
    return "".join(parts), mentions
