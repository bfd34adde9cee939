"""Slack mrkdwn ↔ Prose (adapters/slack/relay_text.py): what Slack's formatting reference
defines is read, and literal text from other platforms never becomes Slack markup."""

from __future__ import annotations

import pytest

from adapters.slack.relay_text import ZWSP, measure, parse, render
from bot.prose import CodeBlock, Emoji, Mention, Prose, Run, Style

B, IT, S, C = Style.BOLD, Style.ITALIC, Style.STRIKE, Style.CODE


def run(text: str, *styles: Style, link: str | None = None) -> Run:
    return Run(text, frozenset(styles), link)


@pytest.mark.parametrize(
    ("mrkdwn", "pieces"),
    [
        ("*bold*", (run("bold", B),)),
        ("_italic_", (run("italic", IT),)),
        ("~strike~", (run("strike", S),)),
        ("`a < b`", (run("a < b", C),)),
        ("*_both_*", (run("both", B, IT),)),
        ("say *hi* now", (run("say "), run("hi", B), run(" now"))),
        ("```x = 1 &lt; 2```", (CodeBlock("x = 1 < 2"),)),
        ("```\nline 1\nline 2\n```", (CodeBlock("line 1\nline 2"),)),
        (
            "<https://a.test/?x=1&amp;y=2|the docs>",
            (run("the docs", link="https://a.test/?x=1&y=2"),),
        ),
        ("<https://a.test>", (run("https://a.test", link="https://a.test"),)),
        ("*<https://a.test|bold link>*", (run("bold link", B, link="https://a.test"),)),
        ("hi <@U0ADA>", (run("hi "), Mention("U0ADA", "U0ADA"))),
        ("<@W0ADA|ada>", (Mention("W0ADA", "ada"),)),
        ("nice :thumbsup: :+1:", (run("nice "), Emoji("thumbsup"), run(" "), Emoji("+1"))),
        ("at 10:30:45", (run("at 10:30:45"),)),
        ("a &amp; b &lt;c&gt;", (run("a & b <c>"),)),
        ("one\ntwo", (run("one\ntwo"),)),
        ("<!channel> and <!here>", (run("@channel and @here"),)),
        ("<#C0GEN|general>", (run("#general"),)),
        ("<!subteam^S0ENG|@engineers>", (run("@engineers"),)),
        ("a*b*c snake_case_name", (run("a*b*c snake_case_name"),)),
        ("*not closed", (run("*not closed"),)),
        ("*across\nlines*", (run("*across\nlines*"),)),
    ],
)
def test_parse(mrkdwn: str, pieces: tuple[object, ...]) -> None:
    assert parse(mrkdwn).pieces == pieces


@pytest.mark.parametrize(
    ("prose", "mrkdwn"),
    [
        (
            Prose((run("bold", B), run(" "), run("it", IT), run(" "), run("st", S))),
            "*bold* _it_ ~st~",
        ),
        (Prose((run("x < y", C),)), "`x &lt; y`"),
        (Prose((CodeBlock("if a && b:\n    go()"),)), "```if a &amp;&amp; b:\n    go()```"),
        (
            Prose((run("docs", link="https://a.test/?q=1&r=2"),)),
            "<https://a.test/?q=1&amp;r=2|docs>",
        ),
        (Prose((run("https://a.test", link="https://a.test"),)), "<https://a.test>"),
        (Prose((run("hi "), Mention("U0BOB", "Bob"))), "hi <@U0BOB>"),
        (Prose((Emoji("tada"),)), ":tada:"),
        (Prose((run("bold words ", B), run("after"))), "*bold words* after"),
        (Prose((run("two\nlines", B),)), "*two*\n*lines*"),
    ],
)
def test_render(prose: Prose, mrkdwn: str) -> None:
    assert render(prose) == mrkdwn


@pytest.mark.parametrize(
    "mrkdwn",
    ["*bold* _it_ ~st~ `code` <https://a.test|a> <@U0ADA> :smile: a &amp; b\nnext line",
     "```x &lt; 1```", "*_both_* and *~struck bold~*"],
)  # fmt: skip
def test_what_slack_sends_renders_back_the_same(mrkdwn: str) -> None:
    assert render(parse(mrkdwn)) == mrkdwn


@pytest.mark.parametrize(
    "typed_elsewhere",
    [
        "<!channel> everyone look",
        "<!here|here>",
        "<@U0ADA> is not a mention here",
        "<https://evil.test|your bank>",
        "*not bold* _not italic_ ~not struck~ `not code`",
        "```not a block```",
        "a & b < c > d &amp; e",
        "<b>html</b> and [x](https://y.test)",
        "> not a quote\n> nor this",
    ],
)
def test_hostile_text_from_another_platform_stays_literal(typed_elsewhere: str) -> None:
    """Text typed on Teams (a literal run) renders to mrkdwn that reads back as the same
    literal run: no broadcast, mention, link, style or code can come out of it."""
    prose = Prose.text(typed_elsewhere)
    mrkdwn = render(prose)
    assert "<" not in mrkdwn and ">" not in mrkdwn
    assert parse(mrkdwn) == prose
    assert (
        mrkdwn.replace(ZWSP, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        == typed_elsewhere
    )


def test_each_markup_character_is_fenced_by_zero_width_spaces() -> None:
    assert render(Prose.text("*x*")) == f"{ZWSP}*{ZWSP}x{ZWSP}*{ZWSP}"


def test_unsafe_link_scheme_is_shown_as_its_text() -> None:
    assert render(Prose((run("click", link="javascript:alert(1)"),))) == "click"


def test_link_with_a_pipe_in_the_url_keeps_its_text() -> None:
    prose = Prose((run("x", link="https://a.test/a|b"),))
    assert render(prose) == "<https://a.test/a%7Cb|x>"


def test_mention_without_a_slack_id_is_the_name_as_text() -> None:
    assert parse(render(Prose((Mention("29:abc", "Bob *B*"),)))) == Prose.text("@Bob *B*")


def test_backtick_inside_code_and_fence_inside_a_block_cannot_end_them() -> None:
    assert render(Prose((run("a`b", C),))) == "`a\u02cbb`"
    block = render(Prose((CodeBlock("x ``` y"),)))
    assert block.count("```") == 2


def test_measure_counts_the_rendered_text() -> None:
    assert measure(Prose.text("a<b")) == len("a&lt;b")


def test_a_line_leading_greater_than_sign_is_not_a_quote() -> None:
    assert render(Prose.text("> hi\na > b")) == f"{ZWSP}&gt; hi\na &gt; b"
