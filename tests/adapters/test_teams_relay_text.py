"""Teams HTML bodies ↔ Prose (adapters/teams/relay_text.py): what Teams shares with the other
platforms survives both ways, and text typed by people stays text."""

from __future__ import annotations

from typing import Any

from adapters.teams.relay_text import parse, render
from bot.prose import CodeBlock, Emoji, Mention, Prose, Run, Style

B, IT, S, C = Style.BOLD, Style.ITALIC, Style.STRIKE, Style.CODE


def html(content: str) -> dict[str, str]:
    return {"contentType": "html", "content": content}


def mention(index: int, user_id: str, text: str) -> dict[str, Any]:
    return {
        "id": index,
        "mentionText": text,
        "mentioned": {
            "user": {"id": user_id, "displayName": text + " L", "userIdentityType": "aadUser"}
        },
    }


def test_styles_nest_and_merge() -> None:
    prose = parse(
        html(
            "<p><b>bold <i>both</i></b> <strong>s</strong><em>e</em> "
            "<s>a</s><strike>b</strike><del>c</del> <code>x()</code></p>"
        )
    )
    assert prose.pieces == (
        Run("bold ", frozenset({B})),
        Run("both", frozenset({B, IT})),
        Run(" "),
        Run("s", frozenset({B})),
        Run("e", frozenset({IT})),
        Run(" "),
        Run("abc", frozenset({S})),
        Run(" "),
        Run("x()", frozenset({C})),
    )


def test_blocks_and_breaks_become_newlines() -> None:
    prose = parse(html("<div>one</div><div>two<br>three</div><p>four</p><p></p>"))
    assert prose.plain() == "one\ntwo\nthree\nfour"


def test_code_blocks_keep_their_text_and_layout() -> None:
    prose = parse(html("<p>see</p><pre>if a &lt; b:\n    go()</pre>"))
    assert CodeBlock("if a < b:\n    go()") in prose.pieces
    teams = parse(html('<codeblock class="Python"><code>x = 1<br>y = 2</code></codeblock>'))
    assert teams.pieces == (CodeBlock("x = 1\ny = 2"),)


def test_links_keep_only_web_and_mail_targets() -> None:
    prose = parse(
        html('<a href="https://x.test/?a=1&amp;b=2">here</a> <a href="javascript:alert(1)">no</a>')
    )
    assert prose.pieces[0] == Run("here", link="https://x.test/?a=1&b=2")
    assert Run(" no") in prose.pieces


def test_mentions_resolve_through_the_mentions_array() -> None:
    prose = parse(
        html('Hi <at id="0">Bob</at> and <at id="1">Some Bot</at>'),
        [
            mention(0, "b0b", "Bob"),
            {"id": 1, "mentionText": "Some Bot", "mentioned": {"application": {"id": "x"}}},
        ],
    )
    assert prose.pieces == (Run("Hi "), Mention("b0b", "Bob"), Run(" and Some Bot"))


def test_emoji_tags_become_characters_and_entities_decode() -> None:
    prose = parse(
        html(
            'ok <emoji id="1f44d_thumbsup" alt="👍" title="Like"></emoji>'
            " &amp; &quot;q&quot; &nbsp;"
        )
    )
    assert prose.plain() == 'ok 👍 & "q" \xa0'


def test_hostile_text_stays_literal() -> None:
    prose = parse(
        html(
            "&lt;script&gt;alert(1)&lt;/script&gt; "
            "&lt;at id=&quot;0&quot;&gt;Bob&lt;/at&gt; *stars*"
        )
    )
    assert prose.pieces == (Run('<script>alert(1)</script> <at id="0">Bob</at> *stars*'),)
    assert parse(html("<script>alert(1)</script>after")).plain() == "after"


def test_text_bodies_are_literal() -> None:
    assert parse({"contentType": "text", "content": "<b>x</b>"}) == Prose.text("<b>x</b>")
    assert parse(None) == Prose()


def test_render_escapes_literal_text() -> None:
    body, mentions = render(
        Prose.text('*stars* <script>x</script> <at id="0">Eve</at> & [x](y)\nnext')
    )
    assert body == (
        "*stars* &lt;script&gt;x&lt;/script&gt; "
        '&lt;at id="0"&gt;Eve&lt;/at&gt; &amp; [x](y)<br>next'
    )
    assert mentions == []


def test_render_styles_links_code_and_emoji() -> None:
    prose = Prose.of(
        [
            Run("b", frozenset({B})),
            Run("bi", frozenset({B, IT})),
            Run("gone", frozenset({S})),
            Run("f()", frozenset({C})),
            Run("site", link='https://x.test/?a=1&b="2"'),
            Run("bad", link="javascript:alert(1)"),
            CodeBlock("a < b\nc"),
            Emoji("thumbsup"),
            Emoji("no_such_emoji_here"),
        ]
    )
    body, _ = render(prose)
    assert body == (
        "<b>b</b><i><b>bi</b></i><s>gone</s><code>f()</code>"
        '<a href="https://x.test/?a=1&amp;b=&quot;2&quot;">site</a>bad'
        "<pre>a &lt; b\nc</pre>👍:no_such_emoji_here:"
    )


def test_render_mentions_with_the_mentions_array() -> None:
    body, mentions = render(
        Prose.of([Run("hi "), Mention("b0b", "Bob <3"), Run(" "), Mention("a", "Ada")])
    )
    assert body == 'hi <at id="0">Bob &lt;3</at> <at id="1">Ada</at>'
    assert mentions[0] == {
        "id": 0,
        "mentionText": "Bob <3",
        "mentioned": {
            "user": {"id": "b0b", "displayName": "Bob <3", "userIdentityType": "aadUser"}
        },
    }
    assert mentions[1]["mentioned"]["user"]["id"] == "a"


def test_round_trip() -> None:
    prose = Prose.of(
        [
            Run("Hello "),
            Run("you", frozenset({B, IT})),
            Run("\n"),
            Mention("b0b", "Bob"),
            Run(" "),
            Run("x", link="https://x.test"),
            CodeBlock("z"),
        ]
    )
    body, mentions = render(prose)
    assert parse(html(body), mentions) == prose


def test_older_emoji_images_and_unknown_tags_keep_their_text() -> None:
    prose = parse(
        html(
            '<img itemtype="http://schema.skype.com/Emoji" alt="🙂" src="x.png">'
            '<img src="cat.png" alt="a cat"><span style="color:red">red</span>'
            '<attachment id="1"></attachment><ul><li>one</li><li>two</li></ul>'
        )
    )
    assert prose.plain() == "🙂red\none\ntwo"
