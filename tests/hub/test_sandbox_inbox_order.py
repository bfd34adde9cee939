"""The demo's `/sandbox` inbox reads like a chat: what was typed and what came back, in the
order it happened, and a typed `/mio` is not doubled."""

from __future__ import annotations

import re

import aiohttp

from store.repositories import Audit
from tests.hub.conftest import Harness
from tests.hub.test_sandbox_page import get, post, sandbox_url

__all__ = ["sandbox_url"]

ITEM = re.compile(r'<li class="(msg|note mine|note)">(.*?)</li>', re.S)


def timeline(page: str) -> list[str]:
    """Each item of the list as "you: …" (typed) or "mio: …" (an answer), top to bottom."""
    found = []
    for kind, body in ITEM.findall(page):
        text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        if kind == "note mine":
            found.append("you: " + text.removeprefix("You "))
        else:
            found.append("mio: " + text)
    return found


async def test_commands_and_answers_are_in_the_order_they_happened(
    harness: Harness, sandbox_url: str
) -> None:
    ada = f"{sandbox_url}/sandbox/slack/U0ADA"
    assert (await post(f"{ada}/command", {"text": "help"}))[0] == 303
    assert (await post(f"{ada}/command", {"text": "users bob"}))[0] == 303
    assert (await post(f"{ada}/command", {"text": "status bob@acme.test"}))[0] == 303
    items = timeline(await get(f"{sandbox_url}/sandbox?platform=slack&user=U0ADA"))
    typed = [i for i, item in enumerate(items) if item.startswith("you: ")]
    assert [items[i] for i in typed] == [
        "you: /mio help",
        "you: /mio users bob",
        "you: /mio status bob@acme.test",
    ]
    # Each command is followed by its own answer, before the next command.
    assert "help" in items[typed[0] + 1] and typed[1] == typed[0] + 2, items
    assert "Bob Marley" in items[typed[1] + 1] and typed[2] == typed[1] + 2, items
    assert "Bob Marley" in items[typed[2] + 1], items
    # A message that arrives later comes after everything before it.
    await harness.agents["slack"].command("ada@acme.test", f"primary {'bob@acme.test'} slack")
    later = timeline(await get(f"{sandbox_url}/sandbox?platform=slack&user=U0ADA&fragment=1"))
    assert later[: len(items)] == items and "primary platform is now Slack" in later[-1]


async def test_typing_mio_in_the_composer_does_not_double_it(
    harness: Harness, sandbox_url: str
) -> None:
    ada = f"{sandbox_url}/sandbox/slack/U0ADA"
    for typed in ("/mio help", "/MIO  users", "mio status bob@acme.test"):
        assert (await post(f"{ada}/command", {"text": typed}))[0] == 303
    page = await get(f"{sandbox_url}/sandbox?platform=slack&user=U0ADA")
    mine = [item for item in timeline(page) if item.startswith("you: ")]
    assert mine == ["you: /mio help", "you: /mio users", "you: /mio status bob@acme.test"]
    assert "/mio /mio" not in page
    assert (await post(f"{ada}/command", {"text": "/mio"}))[0] == 303  # the bare prefix: help
    zoom = f"{sandbox_url}/sandbox/zoom/Zada0000LOVELACE"
    assert (await post(f"{zoom}/command", {"text": "/mio help"}))[0] == 303
    page = await get(f"{sandbox_url}/sandbox?platform=zoom&user=Zada0000LOVELACE")
    assert "you: /mio help" in timeline(page) and "/mio /mio" not in page


async def test_the_slack_stand_ins_own_box_does_not_double_mio(harness: Harness) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{harness.slack.url}/inbox/U0ADA/command", data={"text": "/mio users"}) as resp,
    ):
        assert resp.status == 200
    async with harness.core.sessions() as session:  # help is not audited: it changes nothing
        commands = [e for e in await Audit(session).recent(20) if e.action == "command"]
    assert commands[0].detail["text"] == "users"  # what Slack sends after `/mio`
