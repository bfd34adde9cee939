"""Answers after the ack: sent through the adapter's reply, failures logged and never raised."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.answers import LaterAnswers
from bot.types import Message, PermanentFailure, Platform, ReplyTarget

TARGET = ReplyTarget(Platform("zoom"), {"user_jid": "bob@xmpp.zoom.us"})


async def test_background_answers_are_sent_and_drained() -> None:
    sent: list[str] = []

    async def reply(target: ReplyTarget, message: Message) -> None:
        await asyncio.sleep(0.01)
        sent.append(str(message.text))

    answers = LaterAnswers("zoom", reply)
    answers.later(TARGET, Message(text="one"))
    answers.later(TARGET, Message(text="two"))
    assert sent == []  # the ack goes out first
    await answers.drain()
    assert sorted(sent) == ["one", "two"]


async def test_a_refused_answer_is_logged_with_its_target(caplog: pytest.LogCaptureFixture) -> None:
    async def reply(target: ReplyTarget, message: Message) -> None:
        raise PermanentFailure("zoom", "7004 user not found")

    answers = LaterAnswers("zoom", reply)
    with caplog.at_level(logging.ERROR, logger="adapters.answers"):
        await answers.send(TARGET, Message(text="lost"))
    [record] = caplog.records
    assert "zoom: could not deliver the answer" in record.getMessage()
    assert "bob@xmpp.zoom.us" in record.getMessage() and "7004" in record.getMessage()


async def test_a_crash_in_the_background_is_logged_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reply(target: ReplyTarget, message: Message) -> None:
        raise KeyError("user_jid")

    answers = LaterAnswers("webex", reply)
    with caplog.at_level(logging.ERROR, logger="adapters.answers"):
        answers.later(TARGET, Message(text="boom"))
        await answers.drain()
    [record] = caplog.records
    assert record.exc_info is not None and "webex: answer to" in record.getMessage()
