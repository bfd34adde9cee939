"""Library loggers are held at WARNING without bot/ naming any library; Mio's own are not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import quiet_libraries


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@pytest.fixture
def output() -> Iterator[Lines]:
    root = logging.getLogger()
    handler, level = Lines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # an operator chasing a problem
    names = ("somesdk", "somesdk.http", "latesdk", "chosen", "bot.test_logs")
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name in names:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_library_info_stays_out_and_mio_s_gets_through(output: Lines) -> None:
    early = logging.getLogger("somesdk.http")  # imported before the app starts
    chosen = logging.getLogger("chosen")
    chosen.setLevel(logging.INFO)  # a logging configuration asked for this one
    quiet_libraries()
    late = logging.getLogger("latesdk")  # a lazy import, after
    early.info("POST /token body=secret")
    late.debug("response body=secret")
    logging.getLogger("bot.test_logs").info("Imported 3 people")
    chosen.info("asked for")
    early.warning("rate limited")
    assert output.lines == [
        "bot.test_logs Imported 3 people",
        "chosen asked for",
        "somesdk.http rate limited",
    ]
    assert not early.isEnabledFor(logging.INFO)  # not even formatted
