"""Plain spans (names, emails) in a neutral message, rendered by each adapter's own rules.

The end-to-end proof is tests/e2e/test_hostile_names.py; these pin the pure pieces: how a Text
is built and stored, and what each platform's escape makes of its own markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from adapters.slack.render import fallback_text, render_blocks
from adapters.teams.render import escape as teams_escape
from adapters.teams.render import render_card
from adapters.webex.render import escape_card, escape_markdown, render_message
from adapters.zoom.render import escape as zoom_escape
from adapters.zoom.render import render_content
from bot import codec
from bot.types import Button, Message, Plain, Text, render

NAME = "<https://evil.example|Mio: sign in again> *bold* <@U1> <!channel> [x](https://e.vil)"


def test_format_keeps_the_template_as_markup_and_every_value_as_plain() -> None:
    text = Text.format("*{name}* ({email})", name="A*B", email="{x}")
    assert text.spans == ("*", Plain("A*B"), "* (", Plain("{x}"), ")")
    assert str(text) == "*A*B* ({x})"


def test_join_add_and_splitlines_keep_plain_spans_plain() -> None:
    joined = Text.join(["a", Text.plain("b\nc")], "; ") + "!"
    assert joined.spans == ("a", "; ", Plain("b\nc"), "!")
    assert [line.spans for line in joined.splitlines()] == [
        ("a", "; ", Plain("b")),
        (Plain("c"), "!"),
    ]


def test_render_converts_markup_around_plain_spans_and_escapes_only_them() -> None:
    text = Text.format("*{name}*", name="*x*")
    assert render(text, lambda s: s.replace("*", "**"), lambda s: s.upper() + "!") == "***X*!**"


def test_render_ignores_placeholder_characters_smuggled_into_a_name() -> None:
    text = Text(("a", Plain("\ue0000\ue001"), "\ue0000\ue001"))
    assert render(text, lambda s: s, lambda s: f"[{s}]") == "a[\ue0000\ue001]0"


def test_a_text_survives_the_outbox() -> None:
    message = Message(text=Text.plain(NAME), title=Text.format("Reset {n}?", n=NAME), lines=("x",))
    stored = json.loads(json.dumps(codec.dump(message)))
    assert codec.load_message(stored) == message


def test_old_outbox_rows_of_plain_strings_still_load() -> None:
    assert codec.load_message({"text": "hi", "lines": ["a"]}) == Message(text="hi", lines=("a",))


@pytest.mark.parametrize(
    ("escape", "raw", "escaped"),
    [
        (zoom_escape, "<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
        (teams_escape, "[x](https://e.vil) *b*", "\\[x\\](https://e.vil) \\*b\\*"),
        (teams_escape, "- item", "\\- item"),
        (teams_escape, "1. first", "1\\. first"),
        (teams_escape, "<https://e.vil>", "\\<https://e.vil>"),
        (escape_card, "a_b~c`d\\", "a\\_b\\~c\\`d\\\\"),
        (escape_markdown, "<@all> & [x](y)", "&lt;@all&gt; &amp; \\[x\\](y)"),
        (escape_markdown, "# Heading", "\\# Heading"),
    ],
)
def test_each_platform_escape(escape: Callable[[str], str], raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def hostile_message() -> Message:
    return Message(
        text=Text.format("Reset {name}?", name=NAME),
        title=Text.format("Reset {name}?", name=NAME),
        lines=(Text.format("*Teams*: {name} has an account.", name=NAME),),
    )


def test_slack_escapes_control_characters_and_turns_off_auto_parsing() -> None:
    message = hostile_message()
    header, section = render_blocks(message)
    assert header["text"] == {"type": "plain_text", "text": f"Reset {NAME}?"}
    assert section["text"]["verbatim"] is True
    assert section["text"]["text"].startswith("*Teams*: &lt;https://evil.example|Mio")
    assert "<" not in section["text"]["text"] and "<" not in fallback_text(message)


def test_teams_card_keeps_our_bold_and_escapes_the_name() -> None:
    card = render_card(hostile_message())
    title, line = (block["text"] for block in card["body"])
    assert line.startswith("**Teams**: \\<https://evil.example|Mio: sign in again> \\*bold\\*")
    assert "\\[x\\](https://e.vil)" in title
    assert card["fallbackText"] == f"Reset {NAME}?"


def test_webex_markdown_card_and_text_each_get_their_own_rules() -> None:
    message = hostile_message()
    fields = render_message(message)
    assert fields["text"] == f"Reset {NAME}?"
    assert "&lt;@U1&gt; &lt;!channel&gt; \\[x\\](https://e.vil)" in fields["markdown"]
    card = render_message(replace(message, buttons=(Button("Reset", "mio:confirm", "t"),)))
    blocks = card["attachments"][0]["content"]["body"]
    assert blocks[1]["text"].startswith("**Teams**: \\<https://evil.example|Mio")  # no entities


def test_zoom_escapes_the_head_and_the_lines() -> None:
    content = render_content(hostile_message())
    assert content["head"]["text"].startswith("Reset &lt;https://evil.example|Mio")
    (line,) = content["body"]
    assert line["text"] == f"*Teams*: {zoom_escape(NAME)} has an account."
