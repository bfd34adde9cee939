"""Backslash escaping for the Markdown dialects Teams cards and Webex render.

Both read the same inline markers; they differ only in which line-leading markers start a block
(Webex also reads `#` headings), so each passes its own pattern for those.
"""

from __future__ import annotations

import re

_INLINE = re.compile(r"([\\`*_~\[\]<])")


def backslash_escape(text: str, leading_marker: re.Pattern[str]) -> str:
    """`text` shown as written: every inline marker and a block-starting marker escaped."""
    text = _INLINE.sub(r"\\\1", text)
    return leading_marker.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
