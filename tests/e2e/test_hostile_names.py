"""Display names are text, not markup: a person named with every platform's markup is listed,
shown and confirmed with that name rendered literally, on every platform.

Bob's accounts all carry the hostile name below. Each admin command's answer is read from what
the stand-in received (Block Kit, Adaptive Card, Webex markdown, Zoom chatbot content), and
each field is read the way its platform reads it: `wire_fields` says which syntax a field is
in, `shown` turns it into the text a person sees plus the links and mentions it would make.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

import tests.e2e.conftest as e2e
from sandbox.org import Org, load_org
from sandbox.slack.service import SandboxMessage as SlackMessage
from sandbox.teams import ChatActivity
from sandbox.webex import SandboxMessage as WebexMessage
from sandbox.zoom import SandboxMessage as ZoomMessage
from tests.e2e.agents import Seen
from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_cli import mio

BOB = "bob@acme.test"
HOSTILE = (
    "<https://evil.example|Mio: sign in again> *bold* <@U1> <!channel> [x](https://evil.example)"
)
PLATFORMS = ("slack", "teams", "webex", "zoom")


def hostile_org() -> Org:
    org = load_org()
    for account in org.accounts:
        if account.email and account.email.strip().lower() == BOB:
            account.name = HOSTILE
    return org


@pytest.fixture
def bob_is_hostile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "load_org", hostile_org)


@pytest.fixture
def harness(bob_is_hostile: None, harness: Harness) -> Harness:
    """The usual harness, over an org where Bob's name is HOSTILE."""
    return harness


# -- reading a payload the way its platform does ----------------------------------------------
def wire_fields(raw: Any) -> Iterator[tuple[str, str]]:
    """(syntax, text) of every text field of a received message."""
    if isinstance(raw, dict | SlackMessage):  # Slack: a response body or a posted message
        text, blocks = (
            (raw.get("text", ""), raw.get("blocks", []))
            if isinstance(raw, dict)
            else (
                raw.text,
                raw.blocks,
            )
        )
        yield "mrkdwn", str(text)
        for block in blocks:
            field = block.get("text") or {}
            yield ("mrkdwn" if field.get("type") == "mrkdwn" else "plain"), str(field.get("text"))
    elif isinstance(raw, ChatActivity):
        yield "plain", raw.summary
        for attachment in raw.attachments:
            card = attachment["content"]
            yield "plain", card.get("fallbackText", "")
            yield from (("card", b["text"]) for b in card["body"] if b["type"] == "TextBlock")
    elif isinstance(raw, WebexMessage):
        yield "plain", raw.text
        yield "webex", raw.markdown
        for attachment in raw.attachments:
            yield from (
                ("card", b["text"])
                for b in attachment["content"]["body"]
                if b["type"] == "TextBlock"
            )
    elif isinstance(raw, ZoomMessage):
        yield "mrkdwn", str(raw.content.get("head", {}).get("text", ""))
        for item in raw.content.get("body", []):
            if item.get("type") == "message":
                yield "mrkdwn", str(item.get("text", ""))
    else:
        raise AssertionError(f"unknown payload {raw!r}")


_ANGLE = re.compile(r"<([^<>]*)>")  # Slack/Zoom links, mentions, broadcasts; Webex mentions
_MD_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(([^)]*)\)")
_MD_AUTOLINK = re.compile(r"(?<!\\)<([a-z]+:[^<>\s]*)>")
_MD_EMPHASIS = re.compile(r"(?<![\\*])\*bold(?<!\\)\*")
_BACKSLASH = re.compile(r"\\(.)")


def shown(syntax: str, text: str) -> tuple[str, list[str]]:
    """What a person sees, and the links/mentions/broadcasts the platform would make of it."""
    if syntax == "plain":
        return text, []
    if syntax == "mrkdwn":
        return html.unescape(text), _ANGLE.findall(text)
    specials = _MD_LINK.findall(text) + _MD_AUTOLINK.findall(text)
    specials += ["*bold* as emphasis"] if _MD_EMPHASIS.search(text) else []
    if syntax == "webex":
        specials += _ANGLE.findall(text)
        text = html.unescape(text)
    return _BACKSLASH.sub(r"\1", text), specials


def assert_literal(raw: Any) -> None:
    """The name is shown as written somewhere in the message, and makes nothing live anywhere."""
    seen_as_written = False
    for syntax, text in wire_fields(raw):
        visible, specials = shown(syntax, text)
        seen_as_written |= HOSTILE in visible
        hostile = [s for s in specials if "evil" in s or "U1" in s or "channel" in s or "*" in s]
        assert hostile == [], (syntax, text)
    assert seen_as_written, list(wire_fields(raw))


def last_answer(h: Harness, platform: str) -> Any:
    if platform == "slack":
        return h.slack.responses[h.org.find("slack", ADMIN).user_id][-1]
    return h.agents[platform].dms(ADMIN)[-1].raw


# -- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_users_and_status_show_a_hostile_name_literally(
    harness: Harness, platform: str
) -> None:
    h = harness
    agent = h.agents[platform]
    listed: Seen = await agent.command(ADMIN, "users")
    assert_literal(listed.raw)
    status: Seen = await agent.command(ADMIN, f"status {BOB}")
    assert_literal(status.raw)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_confirmations_show_a_hostile_name_literally(harness: Harness, platform: str) -> None:
    h = harness
    asked: Seen = await h.agents[platform].command(ADMIN, f"reset {BOB}")
    assert "mio:confirm" in asked.actions
    assert_literal(asked.raw)
    await h.press_and_read(platform, ADMIN, asked, "mio:confirm")
    assert_literal(last_answer(h, platform))  # "Reset <name>: 0 sync(s) removed …"


@pytest.mark.parametrize("primary", PLATFORMS)
async def test_primary_sync_and_consent_dm_show_a_hostile_name_literally(
    harness: Harness, primary: str
) -> None:
    h = harness
    agent = h.agents[primary]
    chosen = await agent.command(ADMIN, f"primary {BOB} {primary}")
    assert "primary platform is now" in chosen.text
    assert_literal(chosen.raw)
    asked = await agent.command(ADMIN, f"sync {BOB} {'slack' if primary == 'zoom' else 'zoom'}")
    assert_literal(asked.raw)
    assert "Asked" in await h.press_and_read(primary, ADMIN, asked, "mio:confirm")
    assert_literal(last_answer(h, primary))
    await h.deliver()
    (dm,) = agent.dms(BOB)
    assert_literal(dm.raw)  # "Hi <name>, your admin asked Mio to connect …"


async def test_the_terminal_prints_a_hostile_name_as_written(harness: Harness) -> None:
    """`mio status` prints through Rich, whose `[tag]` markup must not eat `[x]` either."""
    code, out = await mio("status", BOB, env=dict(harness.core.settings.env))
    assert code == 0, out
    title, *lines = out.splitlines()
    assert title == HOSTILE
    assert any(line.strip() == f"Slack account: {HOSTILE} (active)" for line in lines), out
