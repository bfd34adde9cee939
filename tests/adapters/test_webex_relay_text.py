"""Webex markdown ↔ Prose: what people type is read faithfully, and text from elsewhere is
rendered so that Webex shows it exactly as written (never as markup or a mention)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.webex.relay_messages import header, parts
from adapters.webex.relay_text import MAX_BYTES, escape, measure, parse, parse_markdown, render
from bot.prose import CodeBlock, Emoji, Mention, Prose, Run, Style
from bot.types import Sender

B, IT, S, C = Style.BOLD, Style.ITALIC, Style.STRIKE, Style.CODE
BOB = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I"

HOSTILE = [
    "<!channel> <!here> <@U123> <@all>",
    "*not bold* _not italic_ ~not strike~ ~~nor this~~ **nor this**",
    "<b>bold?</b> <script>alert(1)</script> &amp; &lt; &#42;",
    "[x](https://evil.example) ![img](https://evil.example/i.png) <https://auto.example>",
    "# heading\n- list\n+ plus\n1. one\n2) two\n> quote\n===\n---",
    "    four spaces make code\n\ttab",
    "`tick` ``double`` \\ backslash \\* escaped",
    "<@personId:Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib2I|Bob> <@personEmail:a@b.example>",
    "pipes | in | text and {braces} and a_snake_case_name",
    "trailing backslash \\",
]


def run(text: str, *styles: Style, link: str | None = None) -> Run:
    return Run(text, frozenset(styles), link)


# -- reading ---------------------------------------------------------------------------------


def test_markdown_styles_links_and_breaks() -> None:
    prose = parse_markdown(
        "**bold** *italic* _also_ ~~gone~~ `x = 1` [site](https://s.example)\nnext  \nhard"
    )
    assert prose.pieces == (
        run("bold", B),
        run(" "),
        run("italic", IT),
        run(" "),
        run("also", IT),
        run(" "),
        run("gone", S),
        run(" "),
        run("x = 1", C),
        run(" "),
        run("site", link="https://s.example"),
        run("\nnext\nhard"),
    )


def test_nested_styles() -> None:
    assert parse_markdown("***both*** ~~**bold strike**~~").pieces == (
        run("both", B, IT),
        run(" "),
        run("bold strike", B, S),
    )


def test_mentions_are_cut_out_before_commonmark_reads_ids() -> None:
    prose = parse_markdown(
        f"hi <@personId:{BOB}_x_y_|Bob B> and <@personEmail:eve@acme.test|Eve>, `<@personId:Z|Z>`"
    )
    assert prose.pieces == (
        run("hi "),
        Mention(BOB + "_x_y_", "Bob B"),
        run(" and "),
        Mention("eve@acme.test", "Eve"),
        run(", "),
        run("<@personId:Z|Z>", C),
    )


def test_typed_placeholders_cannot_forge_a_mention() -> None:
    prose = parse_markdown(f"<@personId:{BOB}|Bob> \ue0000\ue001 \ue00099\ue001")
    assert prose.mentions() == [Mention(BOB, "Bob")]
    assert prose.plain() == "@Bob \ufffd0\ufffd \ufffd99\ufffd"


def test_fenced_code_is_kept_verbatim() -> None:
    prose = parse_markdown("before\n\n```python\nif a < b:\n    **x**\n```\nafter")
    assert prose.pieces == (
        run("before\n"),
        CodeBlock("if a < b:\n    **x**"),
        run("\n\nafter"),
    )


def test_emoji_characters_become_shortcodes() -> None:
    assert parse_markdown("ok 👍 **🎉**").pieces == (
        run("ok "),
        Emoji("thumbsup"),
        run(" "),
        Emoji("tada"),
    )
    assert Emoji("thumbsup").char() == "👍"


def test_paragraphs_and_lists_keep_their_shape() -> None:
    prose = parse_markdown("one\n\ntwo\n\n- a\n- b")
    assert prose.plain() == "one\n\ntwo\n-\u00a0a\n-\u00a0b"


def test_html_is_read_when_there_is_no_markdown() -> None:
    html = (
        '<p>Hi <spark-mention data-object-type="person" data-object-id="P1">Bob</spark-mention>'
        " <strong>bold &lt;x&gt;</strong> <em>it</em> <del>s</del> <code>c</code>"
        '<br/><a href="https://l.example">link</a></p><pre>a\nb</pre>'
    )
    prose = parse({"html": html, "text": "ignored"})
    assert prose.pieces == (
        run("Hi "),
        Mention("P1", "Bob"),
        run(" "),
        run("bold <x>", B),
        run(" "),
        run("it", IT),
        run(" "),
        run("s", S),
        run(" "),
        run("c", C),
        run("\n"),
        run("link", link="https://l.example"),
        run("\n\n"),
        CodeBlock("a\nb"),
    )


def test_plain_text_is_the_last_resort_and_is_never_markup() -> None:
    assert parse({"text": "*x* <b>"}).pieces == (run("*x* <b>"),)
    assert parse({"markdown": "   ", "text": "t"}).pieces == (run("t"),)
    assert parse({}).pieces == ()


# -- writing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_itself(text: str) -> None:
    markdown = render(Prose.text(text))
    assert "<" not in markdown.replace("&lt;", "")  # no HTML tag, no Webex mention
    assert parse_markdown(markdown).plain() == text
    assert parse_markdown(markdown).pieces == (run(text),)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_inside_styles_stays_text(text: str) -> None:
    prose = Prose((run("lead "), run(text.strip(), B, IT), run(" tail")))
    again = parse_markdown(render(prose))
    assert again.plain() == prose.plain()
    assert all(not isinstance(p, Mention) for p in again.pieces)


def test_every_style_round_trips() -> None:
    prose = Prose(
        (
            run("bold", B),
            run(" "),
            run("it", IT),
            run(" "),
            run("gone", S),
            run(" "),
            run("a`b", C),
            run(" "),
            run("all", B, IT, S),
            run(" "),
            run("see", link="https://x.example/a b(c)"),
            run("\nline two"),
        )
    )
    markdown = render(prose)
    assert "**bold**" in markdown and "~~gone~~" in markdown and "``a`b``" in markdown
    back = parse_markdown(markdown)
    assert back.pieces[:-2] == prose.pieces[:-2]
    assert back.pieces[-2] == run("see", link="https://x.example/a%20b%28c%29")


def test_spaces_stay_outside_the_markers() -> None:
    assert render(Prose((run("a"), run(" b ", B), run("c")))) == "a **b** c"


def test_styles_across_lines_are_styled_line_by_line() -> None:
    prose = Prose((run("one\n\n- two", B),))
    assert render(prose) == "**one**\n\n**\u200b\\- two**"  # see _flanking
    assert parse_markdown(render(prose)).pieces == (run("one", B), run("\n\n"), run("- two", B))


def test_unsafe_links_are_shown_as_text() -> None:
    markdown = render(Prose((run("click", link="javascript:alert(1)"),)))
    assert markdown == "click"


def test_mentions_and_emoji() -> None:
    prose = Prose(
        (
            Mention(BOB, "Bob <B>|x"),
            run(" "),
            Mention("not an id!", "Eve_"),
            run(" "),
            Emoji("thumbsup"),
            Emoji("no_such_emoji_here"),
        )
    )
    assert render(prose) == f"<@personId:{BOB}|Bob  B  x> @Eve\\_ 👍:no\\_such\\_emoji\\_here:"
    back = parse_markdown(render(prose))
    assert back.pieces[0] == Mention(BOB, "Bob  B  x")


def test_code_blocks_fence_around_backticks() -> None:
    prose = Prose((run("see"), CodeBlock("```\ninner\n```"), run("done")))
    markdown = render(prose)
    assert markdown == "see\n````\n```\ninner\n```\n````\ndone"
    assert parse_markdown(markdown).pieces == (
        run("see\n"),
        CodeBlock("```\ninner\n```"),
        run("\n\ndone"),
    )


def test_escape_only_marks_line_starts() -> None:
    assert escape("a - b # c 1. d") == "a - b # c 1. d"
    assert escape("- b", line_start=True) == "\\- b"
    assert escape("x\n# y\n3. z") == "x\n\\# y\n3\\. z"


# -- size ------------------------------------------------------------------------------------


def test_measure_counts_bytes_of_the_markdown() -> None:
    assert measure(Prose.text("é")) == 2
    assert measure(Prose.text("*")) == 2  # the escape counts too


def test_long_text_is_split_into_parts_webex_accepts() -> None:
    prose = Prose.text(("ü" * 30 + " ") * 400)
    bodies = parts(prose)
    assert len(bodies) >= 2
    assert all(len(body.encode()) <= MAX_BYTES for body in bodies)
    assert "".join(parse_markdown(b).plain() for b in bodies).replace(" ", "") == (
        prose.plain().replace(" ", "")
    )
    head = header(Sender("Ada <L>", "Slack"))
    assert head == "**Ada &lt;L&gt; (Slack):**\n"
    assert all(len(b.encode()) <= MAX_BYTES for b in parts(prose, head))


# -- properties ------------------------------------------------------------------------------

PIECES = st.sampled_from(
    [*"ab1 *_~`[]()<>&#-+=.!|\\{}:@/\"'", "\n", "é", "<@all>", "&amp;", "&#42;", "http://x.y"]
)


def _as_commonmark_keeps(text: str) -> str:
    """What CommonMark keeps of any text: no spaces around line breaks, no blank lines."""
    return "\n".join(line.strip(" ") for line in text.split("\n") if line.strip(" "))


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=25).map("".join))
def test_any_text_renders_as_itself(text: str) -> None:
    text = _as_commonmark_keeps(text)
    assert parse_markdown(render(Prose.text(text))).plain() == text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(PIECES, min_size=1, max_size=12).map("".join),
    st.sets(st.sampled_from([B, IT, S, C]), min_size=1),
)
def test_any_styled_text_between_letters_keeps_text_and_styles(
    text: str, styles: set[Style]
) -> None:
    text = _as_commonmark_keeps(text)
    assume(text)
    prose = Prose((run("x"), Run(text, frozenset(styles)), run("y")))
    back = parse_markdown(render(prose))
    assert back.plain() == prose.plain()
    inner = [p for p in back.pieces if isinstance(p, Run) and p.text.strip("\n") and p.styles]
    assert inner and all(p.styles == frozenset(styles) for p in inner)
