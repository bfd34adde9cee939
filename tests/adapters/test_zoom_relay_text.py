"""Zoom message text ↔ Prose: `message` + `rich_text` ranges + `at_items`, both ways."""

from __future__ import annotations

import pytest

from adapters.zoom.relay_text import ZoomText, measure, parse, render, split
from bot.prose import CodeBlock, Emoji, Mention, Prose, Run, Style

BOLD, ITALIC, STRIKE, CODE = (
    frozenset({Style.BOLD}),
    frozenset({Style.ITALIC}),
    frozenset({Style.STRIKE}),
    frozenset({Style.CODE}),
)


def ranges(*items: tuple[int, int, str]) -> list[dict[str, object]]:
    return [{"start_position": s, "end_position": e, "format_type": k} for s, e, k in items]


def test_styles_become_ranges_over_plain_text() -> None:
    prose = Prose.of([Run("a "), Run("bold", BOLD), Run(" "), Run("it", ITALIC), Run("x", STRIKE)])
    assert render(prose) == ZoomText(
        "a bold itx", tuple(ranges((2, 6, "Bold"), (7, 9, "Italic"), (9, 10, "Strikethrough")))
    )


def test_overlapping_ranges_parse_into_runs() -> None:
    rich = ranges((0, 4, "Bold"), (2, 6, "Italic"))
    assert parse("abcdef!", rich) == Prose.of(
        [Run("ab", BOLD), Run("cd", BOLD | ITALIC), Run("ef", ITALIC), Run("!")]
    )


def test_round_trip_keeps_styles_links_and_line_breaks() -> None:
    prose = Prose.of(
        [
            Run("line one\n"),
            Run("bold", BOLD),
            Run(" and "),
            Run("both", BOLD | ITALIC),
            Run("\nsee "),
            Run("the docs", link="https://example.com/a?b=1"),
        ]
    )
    text = render(prose)
    assert text.message == "line one\nbold and both\nsee the docs"
    assert {"start_position": 27, "end_position": 35, "format_type": "AddLink",
            "format_attr": "https://example.com/a?b=1"} in text.rich_text  # fmt: skip
    assert parse(text.message, text.rich_text) == prose


def test_links_zoom_cannot_carry_are_written_out() -> None:
    mail = render(Prose.of([Run("write", link="mailto:a@b.test")]))
    assert (mail.message, mail.rich_text) == ("write (mailto:a@b.test)", ())
    multi = render(Prose.of([Run("two\nlines", link="https://x.test")]))
    assert (multi.message, multi.rich_text) == ("two\nlines (https://x.test)", ())
    bare = render(Prose.of([Run("https://x.test", link="https://x.test")]))
    assert bare.message == "https://x.test" and bare.rich_text[0]["format_type"] == "AddLink"


def test_code_is_plain_text_between_backticks() -> None:
    prose = Prose.of([Run("run "), Run("make", CODE), CodeBlock("a = 1\nb = 2\n"), Run("done")])
    text = render(prose)
    assert text.message == "run `make`\n```\na = 1\nb = 2\n```\ndone"
    assert text.rich_text == ()
    assert parse("`x` stays literal") == Prose.text("`x` stays literal")


def test_emoji_are_characters() -> None:
    assert render(Prose.of([Run("ok "), Emoji("thumbsup")])).message == "ok 👍"
    assert render(Prose.of([Emoji("no_such_emoji_here")])).message == ":no_such_emoji_here:"
    assert parse("nice 🎉") == Prose.text("nice 🎉")


def test_mentions_are_at_items_with_the_user_id() -> None:
    text = render(Prose.of([Run("hi "), Mention("Zbob0000MARLEY", "Bob M"), Run("!")]))
    assert text.message == "hi @Bob M!"
    # The docs' example ("@Shrijana", start 0, end 8) puts the end on the last character.
    assert text.at_items == (
        {"at_type": 1, "at_contact": "Zbob0000MARLEY", "start_position": 3, "end_position": 8},
    )
    assert parse(text.message, text.rich_text, text.at_items) == Prose.of(
        [Run("hi "), Mention("Zbob0000MARLEY", "Bob M"), Run("!")]
    )
    assert text.body() == {"message": "hi @Bob M!", "at_items": list(text.at_items)}


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel>",
        "*not bold*",
        "<b>x</b>",
        "[x](https://evil.test)",
        "_a_ ~b~ `c`",
        "&amp; <@U1>",
    ],
)
def test_hostile_text_stays_literal_both_ways(hostile: str) -> None:
    text = render(Prose.text(hostile))
    assert text == ZoomText(hostile)  # Zoom's text has no markup: nothing to escape or become
    assert parse(hostile) == Prose.text(hostile)


def test_ranges_out_of_bounds_or_unknown_are_ignored() -> None:
    rich = [
        {"start_position": -5, "end_position": 2, "format_type": "Bold"},
        {"start_position": 3, "end_position": 99, "format_type": "Italic"},
        {"start_position": 1, "end_position": 2, "format_type": "FontColor", "format_attr": "F00"},
        {"start_position": "0", "end_position": 2, "format_type": "Bold"},
        {"start_position": 0, "end_position": 2, "format_type": "AddLink", "format_attr": "js:x"},
        {"start_position": 2, "end_position": 1, "format_type": "Strikethrough"},
    ]
    at = [{"at_type": 1, "at_contact": "U", "start_position": 0, "end_position": 2}]  # no "@"
    assert parse("abcdef", rich, at) == Prose.of([Run("ab", BOLD), Run("c"), Run("def", ITALIC)])


def test_split_keeps_order_and_the_limit_and_restarts_positions() -> None:
    prose = Prose.of([Run("a" * 1500 + " "), Run("b" * 500, BOLD), Run(" " + "c" * 500)])
    parts = split(prose)
    # No break in the first 1,500 characters: cut hard at the limit; then at the spaces.
    assert [len(part.message) for part in parts] == [1024, 978, 500]
    assert parts[1].rich_text[0]["start_position"] == 477
    assert "".join(part.message for part in parts) == prose.plain()
    for part in parts:
        for item in part.rich_text:
            assert 0 <= item["start_position"] < item["end_position"] <= len(part.message)
            assert set(part.message[item["start_position"] : item["end_position"]]) == {"b"}
    assert sum(len(part.rich_text) for part in parts) == 1


def test_split_measures_what_zoom_counts() -> None:
    prose = Prose.of([Run("x" * 1020), Run("code", CODE)])  # backticks count too
    assert measure(prose) == 1026
    assert [part.message for part in split(prose)] == ["x" * 1020, "`code`"]
    assert split(Prose.text("   ")) == [] and split(Prose()) == []
