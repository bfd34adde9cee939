"""The inbox draws a few of each platform's own marks and nothing else people typed."""

from __future__ import annotations

import pytest

from sandbox.inbox_dm import native_html


@pytest.mark.parametrize(
    ("platform", "text", "shown"),
    [
        ("teams", "see <b>noon</b><br>ok", "see <b>noon</b><br>ok"),
        ("teams", '<b onclick="x()">hi</b>', "&lt;b onclick=&quot;x()&quot;&gt;hi</b>"),
        ("teams", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("slack", "*lunch* at _noon_ ~no~", "<b>lunch</b> at <i>noon</i> <s>no</s>"),
        ("slack", "<b>typed</b>", "&lt;b&gt;typed&lt;/b&gt;"),
        ("webex", "**bold** snake_case_name", "<b>bold</b> snake_case_name"),
        ("zoom", "*as typed*\nnext", "*as typed*<br>next"),
    ],
)
def test_marks_are_drawn_and_everything_else_is_escaped(
    platform: str, text: str, shown: str
) -> None:
    assert native_html(platform, text) == shown
