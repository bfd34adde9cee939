"""The demo tour's last part: Ada on Slack and Bob on Teams talk as if they shared a platform,
and Teri, who has no Slack account, reaches Ada through the bot.

Acted out through the stand-ins as people would: they link their accounts from the consent
DMs, then type natively in their own 1:1s (`user_dm`), which fires the platforms' user events
and Graph notifications at the running bot; what arrives is read back from the other side.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rich.console import Console

from bot.delivery import Worker
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.slack.payloads import SandboxMessage
from sandbox.teams import TeamsSandbox

ADA, BOB, TERI = "ada@acme.test", "bob@acme.test", "teri@acme.test"

Say = Callable[[str], Awaitable[dict[str, Any]]]


async def tour(console: Console, sandbox: Sandbox, worker: Worker, say: Say) -> None:
    slack, teams = sandbox.services.get("slack"), sandbox.services.get("teams")
    if not isinstance(slack, SlackSandbox) or not isinstance(teams, TeamsSandbox):
        return  # the relay part needs both stand-ins
    org = sandbox.org
    ada_s, bob_s = org.find("slack", ADA).user_id, org.find("slack", BOB).user_id
    ada_t, bob_t = org.find("teams", ADA).user_id, org.find("teams", BOB).user_id
    teri_t = org.find("teams", TERI).user_id

    async def settle() -> None:
        await asyncio.sleep(0.2)
        await worker.drain()

    console.rule("[bold]Cross-platform direct messages")
    await say(f"primary {ADA} slack")
    await say(f"primary {BOB} teams")
    await _confirmed(say, slack, ada_s, f"sync {ADA} teams", settle)
    await _allow_on_slack(console, slack, teams, ada_s, ada_t, settle)
    await _confirmed(say, slack, ada_s, f"sync {BOB} slack", settle)
    await _allow_on_teams(console, teams, slack, bob_t, bob_s, settle)

    said = "Hi Bob! Are we still on for *lunch* at noon? :sandwich:"
    console.print("\n[bold cyan]Ada types on Slack, to Bob:[/bold cyan]")
    console.print(f"   │ {said}", markup=False, emoji=False)
    await slack.user_dm(ada_s, bob_s, said)
    await settle()
    _show_last(console, "Bob sees on Teams, from Ada", teams.conversation(bob_t, ada_t))
    said = "Yes! See you at <b>noon</b> 👍"
    console.print("\n[bold cyan]Bob answers on Teams:[/bold cyan]")
    console.print(f"   │ {said}", markup=False, emoji=False)
    await teams.user_dm(bob_t, ada_t, said)
    await settle()
    _show_last(console, "Ada sees on Slack, from Bob", slack.conversation(ada_s, bob_s))

    await say(f"primary {TERI} teams")
    await _confirmed(say, slack, ada_s, f"sync {TERI} slack", settle)  # represented: no Slack
    said = "Ada, could you review my pull request?"
    console.print("\n[bold cyan]Teri (no Slack account) types on Teams, to Ada:[/bold cyan]")
    console.print(f"   │ {said}", markup=False, emoji=False)
    await teams.user_dm(teri_t, ada_t, said)
    await settle()
    shown = slack.inbox(ada_s)[-1]
    console.print("[bold]Ada sees on Slack, from the Mio bot, in a thread for Teri:[/bold]")
    console.print(f"   │ {shown.username or 'Mio'} · APP", markup=False, emoji=False)
    console.print(f"   │ {shown.text}", markup=False, emoji=False)
    console.print("\n[bold cyan]Ada answers in that thread:[/bold cyan]")
    console.print("   │ On it, this afternoon.", markup=False)
    await slack.user_to_bot(ada_s, "On it, this afternoon.", thread_id=shown.ts)
    await settle()
    _show_last(console, "Teri sees on Teams, from Ada", teams.conversation(teri_t, ada_t))


async def _confirmed(
    say: Say, slack: SlackSandbox, admin: str, text: str, settle: Callable[[], Awaitable[None]]
) -> None:
    """A command whose answer asks for confirmation, confirmed by the admin."""
    answer = await say(text)
    if not any("mio:confirm" in json.dumps(b) for b in answer.get("blocks", [])):
        return
    message = SandboxMessage(
        channel=slack.dm_channel(slack.bot_user_id, admin),
        ts="0.0",
        user=slack.bot_user_id,
        text=answer.get("text", ""),
        blocks=answer["blocks"],
    )
    await slack.press(admin, message, "mio:confirm")
    await settle()


async def _allow_on_slack(
    console: Console,
    slack: SlackSandbox,
    secondary: TeamsSandbox,
    user: str,
    secondary_user: str,
    settle: Callable[[], Awaitable[None]],
) -> None:
    dm = slack.inbox(user)[-1]
    console.print("[bold magenta]Ada presses Allow[/bold magenta] and signs in to Teams")
    await slack.press(user, dm, "mio:consent:allow")
    await settle()
    dm = slack.inbox(user)[-1]
    link = next(el["url"] for b in dm.blocks for el in b.get("elements", []) if "url" in el)
    await _callback(await secondary.authorize(link, secondary_user))
    await settle()


async def _allow_on_teams(
    console: Console,
    teams: TeamsSandbox,
    secondary: SlackSandbox,
    user: str,
    secondary_user: str,
    settle: Callable[[], Awaitable[None]],
) -> None:
    card = teams.inbox(user)[-1]
    console.print("[bold magenta]Bob presses Allow on Teams[/bold magenta] and signs in to Slack")
    await teams.press(user, card, "mio:consent:allow")
    await settle()
    card = teams.inbox(user)[-1]
    link = next(str(a["url"]) for a in card.actions if a.get("type") == "Action.OpenUrl")
    await _callback(await secondary.authorize(link, secondary_user))
    await settle()


async def _callback(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        if resp.status != 200:
            raise RuntimeError(f"the sign-in callback failed: HTTP {resp.status}")


def _show_last(console: Console, who: str, conversation: list[Any]) -> None:
    console.print(f"[bold]{who}:[/bold]")
    text = conversation[-1].text if conversation else "(nothing arrived)"
    for line in str(text).splitlines() or [""]:
        console.print(f"   │ {line}", markup=False, emoji=False)
