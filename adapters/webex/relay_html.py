"""A Webex message's `html` as prose pieces, for messages that carry no `markdown`.

Webex clients send `html` beside `text` for formatted messages (relay-apis §3.1: the message
object's fields), with mentions as `<spark-mention data-object-type="person"
data-object-id="ID">Name</spark-mention>` (the shape the Webex stand-in serves too). Only what
the relay carries is read: bold, italic, strike, inline code, `<pre>` blocks, links, line and
paragraph breaks, mentions; every other tag is dropped and its text kept. The standard
library's parser decodes entities, so `&lt;b&gt;` stays the text `<b>`.
"""

from __future__ import annotations

from html.parser import HTMLParser

from bot.prose import CodeBlock, Mention, Piece, Run, Style

_STYLES = {
    "b": Style.BOLD,
    "strong": Style.BOLD,
    "i": Style.ITALIC,
    "em": Style.ITALIC,
    "s": Style.STRIKE,
    "del": Style.STRIKE,
    "strike": Style.STRIKE,
    "code": Style.CODE,
}
_BLOCKS = {"p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[Piece] = []
        self._styles: list[Style] = []
        self._link: str | None = None
        self._pre: list[str] | None = None
        self._mention: tuple[str, list[str]] | None = None

    def _text(self, text: str) -> None:
        if text:
            self.pieces.append(Run(text, frozenset(self._styles), self._link))

    def _break(self, text: str) -> None:
        if self.pieces and not (
            isinstance(self.pieces[-1], Run) and self.pieces[-1].text.endswith("\n")
        ):
            self.pieces.append(Run(text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "pre":
            self._break("\n")
            self._pre = []
        elif self._pre is not None:
            return
        elif tag == "spark-mention" and values.get("data-object-type", "person") == "person":
            self._mention = (values.get("data-object-id", ""), [])
        elif tag in _STYLES:
            self._styles.append(_STYLES[tag])
        elif tag == "a":
            self._link = values.get("href") or None
        elif tag == "br":
            self._text("\n")
        elif tag in _BLOCKS:
            self._break("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre is not None:
            self.pieces.append(CodeBlock("".join(self._pre).removesuffix("\n")))
            self._pre = None
        elif self._pre is not None:
            return
        elif tag == "spark-mention" and self._mention is not None:
            user_id, name = self._mention
            self._mention = None
            shown = "".join(name).strip().lstrip("@")
            if user_id:
                self.pieces.append(Mention(user_id, shown or user_id))
            else:
                self._text("".join(name))
        elif tag in _STYLES and _STYLES[tag] in self._styles:
            self._styles.reverse()
            self._styles.remove(_STYLES[tag])
            self._styles.reverse()
        elif tag == "a":
            self._link = None
        elif tag == "p":
            self._break("\n\n")
        elif tag in _BLOCKS:
            self._break("\n")

    def handle_data(self, data: str) -> None:
        if self._pre is not None:
            self._pre.append(data)
        elif self._mention is not None:
            self._mention[1].append(data)
        else:
            self._text(data)


def parse_html(html: str) -> list[Piece]:
    """The pieces of a Webex `html` body, in order (runs not yet merged)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.pieces
