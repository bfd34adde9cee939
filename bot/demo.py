"""`mio demo`: the bot on SQLite against the sandbox platforms, with a short guided tour.

This is the one place in `bot/` that knows the sandbox: it starts the stand-ins, points the
settings' base URLs at them, and from then on the bot runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from rich.console import Console

from bot.app import WORKER, create_app
from bot.directory import import_platform
from bot.settings import Settings
from bot.web import CORE
from sandbox.org import load_org
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.slack.service import SandboxMessage
from sandbox.zoom import ZoomSandbox
from store.db import upgrade

ADMIN, PERSON = "ada@acme.test", "bob@acme.test"


def fresh_demo_database(var: Path) -> Path:
    """Every demo starts from an empty SQLite file, so its output is the same each time."""
    var.mkdir(exist_ok=True)
    db = var / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


async def run_demo(console: Console, *, port: int, tour: bool, exit_after: bool) -> None:
    db = fresh_demo_database(Path.cwd() / "var")
    org = load_org()
    sandbox = Sandbox(org)
    await sandbox.start()
    url = f"http://127.0.0.1:{port}"
    settings = Settings.from_env(
        {
            **sandbox.env(),
            "MIO_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "MIO_SECRET_KEY": Fernet.generate_key().decode(),
            "MIO_ADMINS": ADMIN,
            "MIO_PUBLIC_URL": url,
            "PORT": str(port),
        }
    )
    await upgrade(settings.database_url)
    app = create_app(settings, tick_seconds=30)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sandbox.point_at(url)
    core = app[CORE]
    try:
        console.rule("[bold]Mio User Sync demo")
        console.print(f"Bot:            {url}   (health: {url}/healthz, metrics: {url}/metrics)")
        for name, service in sandbox.services.items():
            console.print(f"Sandbox {core.label(name):<7} {service.url}")
        console.print(f"Database:       {db}")
        for name in core.platforms:
            result = await import_platform(core, name, "demo")
            console.print(result.sentence(core.label(name)))
        if tour:
            await _tour(console, app, sandbox)
        console.rule()
        console.print("Try, in another terminal (same folder):")
        console.print(f"  MIO_DATABASE_URL=sqlite+aiosqlite:///{db} mio users", markup=False)
        console.print("  or send signed slash commands through the sandbox, as the tests do.")
        if exit_after:
            return
        console.print("Serving. Press Ctrl-C to stop.")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await sandbox.stop()


async def _tour(console: Console, app: web.Application, sandbox: Sandbox) -> None:
    """The guide's steps, acted out through signed webhooks against the running bot."""
    slack = sandbox.services["slack"]
    zoom = sandbox.services["zoom"]
    assert isinstance(slack, SlackSandbox) and isinstance(zoom, ZoomSandbox)
    org = sandbox.org
    ada, bob = org.find("slack", ADMIN).user_id, org.find("slack", PERSON).user_id
    worker = app[WORKER]

    async def say(text: str) -> dict[str, Any]:
        console.print(f"\n[bold cyan]Ada on Slack:[/bold cyan] /mio {text}")
        _, body = await slack.slash_command(ada, text)
        answer = json.loads(body) if body.startswith("{") else {"text": body, "blocks": []}
        _show(console, answer.get("blocks", []), answer.get("text", ""))
        return answer

    async def press(user: str, message: SandboxMessage, action: str, who: str) -> None:
        console.print(f"[bold magenta]{who} presses[/bold magenta] {action.split(':')[-1]}")
        await slack.press(user, message, action)
        await asyncio.sleep(0.2)
        await worker.drain()

    await say(f"sync {PERSON} zoom")
    await say(f"primary {PERSON} slack")
    answer = await say(f"sync {PERSON} zoom")
    confirm = SandboxMessage(
        channel=slack.dm_channel(slack.bot_user_id, ada),
        ts="0.0",
        user=slack.bot_user_id,
        text=answer["text"],
        blocks=answer["blocks"],
    )
    await press(ada, confirm, "mio:confirm", "Ada")
    _show(console, [], slack.responses[ada][-1]["text"])
    await asyncio.sleep(0.2)
    await worker.drain()
    dm = slack.inbox(bob)[-1]
    console.print("\n[bold cyan]Bob's Slack DM from Mio:[/bold cyan]")
    _show(console, dm.blocks, dm.text)
    await press(bob, dm, "mio:consent:allow", "Bob")
    dm = slack.inbox(bob)[-1]
    _show(console, dm.blocks, dm.text)
    link = next(el["url"] for b in dm.blocks for el in b.get("elements", []) if "url" in el)
    callback = await zoom.authorize(link, org.find("zoom", PERSON).user_id)
    console.print("[bold magenta]Bob signs in to Zoom[/bold magenta] and allows Mio")
    async with aiohttp.ClientSession() as http, http.get(callback) as resp:
        console.print(f"OAuth callback: HTTP {resp.status}")
    await asyncio.sleep(0.2)
    await worker.drain()
    dm = slack.inbox(bob)[-1]
    console.print("\n[bold cyan]Bob's DM, updated in place:[/bold cyan]")
    _show(console, dm.blocks, dm.text)
    await say("sync frank@acme.test zoom")
    await say("users")


def _show(console: Console, blocks: list[dict[str, Any]], text: str) -> None:
    lines = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            lines.append(block["text"]["text"])
        buttons = [
            f"[{el['text']['text']}]"
            for el in block.get("elements", [])
            if el.get("type") == "button"
        ]
        if buttons:
            lines.append("  ".join(buttons))
    for line in lines or [text]:
        console.print(f"   │ {line}", markup=False)
