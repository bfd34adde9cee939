"""Platform names in any case and by their common names, from the terminal and from chat."""

from __future__ import annotations

from tests.e2e.conftest import ADMIN, Harness
from tests.e2e.test_cli import mio

BOB = "bob@acme.test"


async def test_cli_accepts_any_case_and_names_the_valid_platforms(harness: Harness) -> None:
    env = {k: v for k, v in harness.core.settings.env.items() if not k.startswith("WEBEX_")}
    code, out = await mio("primary", BOB, "Slack", env=env)
    assert code == 0 and "now Slack" in out, out
    code, out = await mio("sync", BOB, "zooom", "--yes", env=env)
    assert code == 1, out
    assert "`zooom` is not a platform I know. Did you mean `zoom`?" in out
    assert "The platforms are `slack`, `teams`, `webex`, `zoom`; connected: `slack`, `teams`" in out
    code, out = await mio("sync", BOB, "Webex Teams", "--yes", env=env)
    assert code == 1, out
    assert (
        "Webex is a platform Mio knows, but it is not connected here (connected: `slack`, " in out
    )
    assert harness.agents["slack"].dms(BOB) == []  # nothing was asked
    code, out = await mio("sync", BOB, "ZOOM Team Chat", "--yes", env=env)
    assert code == 0 and "Asked Bob Marley" in out, out
    assert await harness.status(BOB, "zoom") == ("pending", None)


async def test_chat_commands_accept_any_case_and_name_the_valid_platforms(
    harness: Harness,
) -> None:
    h = harness
    assert "now Slack" in await h.command("slack", ADMIN, f"primary {BOB} SLACK")
    answer = await h.command("slack", ADMIN, f"sync {BOB} zooom")
    assert "`zooom` is not a platform I know. Did you mean `zoom`?" in answer
    assert "The platforms are `slack`, `teams`, `webex`, `zoom`" in answer
    answer = await h.command("slack", ADMIN, f"sync {BOB} Zoom Chat")
    assert "Asked Bob Marley" in answer, answer
    assert await h.status(BOB, "zoom") == ("pending", None)
