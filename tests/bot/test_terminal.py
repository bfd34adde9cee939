"""How `mio` words things: platform lists from the registry, no chat syntax, one sentence."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy.exc import OperationalError

from adapters import ADAPTERS
from bot.ports import PortInUse, claim_port
from bot.settings import ConfigError
from bot.terminal import for_terminal, labels, listing, sentence_for
from bot.types import PlatformError, RetryLater


def test_platform_words_come_from_the_registry() -> None:
    assert labels() == [cls.label for cls in ADAPTERS.values()]
    assert listing(["Slack", "Zoom", "Webex"]) == "Slack, Zoom and Webex"
    assert listing(["slack", "zoom"], "or") == "slack or zoom"


@pytest.mark.parametrize(
    ("chat", "terminal"),
    [
        ("Cancel it with `/mio unsync <user> zoom`.", "Cancel it with `mio unsync <user> zoom`."),
        ("Run /mio import first.", "Run mio import first."),
        ("See https://x.test/mio/help", "See https://x.test/mio/help"),
    ],
)
def test_chat_syntax_is_said_the_terminal_s_way(chat: str, terminal: str) -> None:
    assert for_terminal(chat) == terminal


def test_each_failure_is_one_sentence() -> None:
    assert sentence_for(RetryLater("slack", "ratelimited")) == "Slack: ratelimited"
    assert sentence_for(PlatformError("webex", "401")) == "Webex: 401"
    assert sentence_for(ConfigError("PORT must be a number")) == "PORT must be a number"
    db = OperationalError("SELECT 1", {}, Exception("disk I/O error"))
    assert sentence_for(db).startswith("The database failed: disk I/O error")
    assert "MIO_DATABASE_URL" in sentence_for(db)
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", "x.zip")
    assert sentence_for(gone) == "No such file or directory (x.zip)."
    assert "--debug" in sentence_for(KeyError("boom"))

    class Typed(Exception):
        sentence = "Import of Slack stopped: Run `/mio import slack` again."

    assert sentence_for(Typed()) == "Import of Slack stopped: Run `mio import slack` again."


def test_a_taken_port_is_refused_with_the_way_out() -> None:
    first = claim_port("127.0.0.1", 0, "mio demo --port {port}")
    port = first.getsockname()[1]
    try:
        with pytest.raises(PortInUse) as refused:
            claim_port("127.0.0.1", port, "mio demo --port {port}")
    finally:
        first.close()
    assert refused.value.sentence.startswith(f"Port {port} is already in use")
    assert f"mio demo --port {port + 1}" in refused.value.sentence
