"""`mio demo`: the bot on SQLite against the sandbox platforms, with a short guided tour.

This is the one place in `bot/` that knows the sandbox: it starts the stand-ins, points the
settings' base URLs at them, and from then on the bot runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from rich.console import Console

from bot import connect, demo_relay
from bot.app import WORKER, create_app
from bot.core import Core
from bot.directory import import_platform
from bot.hub import create_link
from bot.ports import claim_port
from bot.settings import Settings
from bot.web import CORE
from sandbox.inbox import InboxPage
from sandbox.org import load_org
from sandbox.runner import Sandbox
from sandbox.slack import SlackSandbox
from sandbox.slack.payloads import SandboxMessage
from sandbox.zoom import ZoomSandbox
from store.db import upgrade

ADMIN, PERSON = "ada@acme.test", "carol@acme.test"


def write_env_file(path: Path, settings: Settings) -> Path:
    """The demo's settings, so a second terminal's `mio` talks to the same sandbox and DB.
    They are the sandbox's and Mio's own (`_run` builds them; nothing from the environment),
    so all of them are written: no platform's setting prefixes are listed here."""
    lines = [f"{key}={value}" for key, value in sorted(settings.env.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


class DemoRunning(Exception):
    """Another `mio demo` holds this folder's demo database; it is left alone."""

    def __init__(self, db: Path) -> None:
        self.sentence = (
            f"Another `mio demo` is running from this folder and uses {db}: stop it first "
            "(Ctrl-C in its terminal), or run this one from another folder."
        )
        super().__init__(self.sentence)


@contextmanager
def demo_database(var: Path) -> Iterator[Path]:
    """An empty SQLite file, the same output each time, held for as long as the demo runs.

    The lock (an advisory `flock` on var/demo.lock, released by the OS even on a crash) is
    taken before anything is deleted, so a second demo never removes a running one's database.
    """
    var.mkdir(exist_ok=True)
    db = var / "demo.db"
    fd = os.open(var / "demo.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoRunning(db) from None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        yield db
    finally:
        os.close(fd)


async def run_demo(
    console: Console, *, port: int, tour: bool, exit_after: bool, command: str = "mio"
) -> None:
    """Claim the port, then the folder's demo database, then run; nothing is touched before."""
    sock = claim_port("127.0.0.1", port, f"{command} demo --port {{port}}")
    try:
        with demo_database(Path.cwd() / "var") as db:
            await _run(console, sock, db, tour=tour, exit_after=exit_after, command=command)
    finally:
        sock.close()


async def _run(
    console: Console, sock: socket.socket, db: Path, *, tour: bool, exit_after: bool, command: str
) -> None:
    port = sock.getsockname()[1]
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
    app.add_routes(InboxPage(sandbox).routes())  # /sandbox: in the demo only
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    sandbox.point_at(url)
    core = app[CORE]
    try:
        console.rule("[bold]Mio User Sync demo")
        console.print(f"Bot:            {url}   (health: {url}/healthz, metrics: {url}/metrics)")
        for name, service in sandbox.services.items():
            console.print(f"Sandbox {core.label(name):<7} {service.url}")
        console.print(f"Database:       {db}")
        for name in core.platforms:
            if connect.needs_admin_grant(core, name) is not None:
                await _connect_as_admin(core, sandbox, name)
            result = await import_platform(core, name, "demo")
            console.print(result.sentence(core.label(name)))
        if tour:
            await _tour(console, app, sandbox)
        console.rule()
        if exit_after:
            console.print(
                f"Stopped, as --exit asks. `{command} demo` without --exit keeps serving: the "
                "Hub, the sandbox inbox, and commands from a second terminal.",
                markup=False,
            )
            return
        await _show_next_steps(console, core, settings, db, command)
        console.print("Serving. Press Ctrl-C to stop.")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await sandbox.stop()


async def _show_next_steps(
    console: Console, core: Core, settings: Settings, db: Path, command: str
) -> None:
    """The Hub link, the inbox and what to type in a second terminal, as this `mio` is run."""
    url = settings.public_url
    link = await create_link(core, ADMIN)
    console.print(f"Hub:            {link}", markup=False, soft_wrap=True)
    console.print(
        "                (a one-time sign-in link for Ada, valid 10 minutes; "
        f"`{command} hub-link --as {ADMIN}` prints another)",
        markup=False,
    )
    console.print(
        f"Sandbox inbox:  {url}/sandbox   (be any demo user: read their DMs, "
        "press buttons, type /mio in chat, write to another person: Ada on Slack and Bob "
        "on Teams are linked)",
        markup=False,
    )
    env_file = write_env_file(db.parent / "demo.env", settings)
    console.print("Try, in another terminal (same folder), while this runs:")
    for line in (
        f"set -a; . {env_file}; set +a",
        f"{command} users",
        f"{command} primary grace@acme.test slack",
        f"{command} sync grace@acme.test zoom    # a consent DM to Grace",
    ):
        console.print(f"  {line}", markup=False)


async def _connect_as_admin(core: Core, sandbox: Sandbox, platform: str) -> None:
    """What `mio connect` asks an admin to do, done as the demo's admin."""
    link = await connect.start(core, platform, "demo")
    service = sandbox.services[platform]
    location = await service.authorize(link, sandbox.org.find(platform, ADMIN).user_id)  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http, http.get(location) as resp:
        if resp.status != 200:
            raise RuntimeError(f"connecting {platform} failed: {await resp.text()}")


async def _tour(console: Console, app: web.Application, sandbox: Sandbox) -> None:
    """The guide's steps, acted out through signed webhooks against the running bot."""
    slack = sandbox.services["slack"]
    zoom = sandbox.services["zoom"]
    assert isinstance(slack, SlackSandbox) and isinstance(zoom, ZoomSandbox)
    org = sandbox.org
    ada, carol = org.find("slack", ADMIN).user_id, org.find("slack", PERSON).user_id
    worker = app[WORKER]

    async def say(text: str) -> dict[str, Any]:
        console.print(f"\n[bold cyan]Ada on Slack:[/bold cyan] /mio {text}")
        _, body = await slack.slash_command(ada, text)
        answer: dict[str, Any] = (
            json.loads(body) if body.startswith("{") else {"text": body, "blocks": []}
        )
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
    dm = slack.inbox(carol)[-1]
    console.print("\n[bold cyan]Carol's Slack DM from Mio:[/bold cyan]")
    _show(console, dm.blocks, dm.text)
    await press(carol, dm, "mio:consent:allow", "Carol")
    dm = slack.inbox(carol)[-1]
    _show(console, dm.blocks, dm.text)
    link = next(el["url"] for b in dm.blocks for el in b.get("elements", []) if "url" in el)
    callback = await zoom.authorize(link, org.find("zoom", PERSON).user_id)
    console.print("[bold magenta]Carol signs in to Zoom[/bold magenta] and allows Mio")
    async with aiohttp.ClientSession() as http, http.get(callback) as resp:
        console.print(f"OAuth callback: HTTP {resp.status}")
    await asyncio.sleep(0.2)
    await worker.drain()
    dm = slack.inbox(carol)[-1]
    console.print("\n[bold cyan]Carol's DM, updated in place:[/bold cyan]")
    _show(console, dm.blocks, dm.text)
    await say("sync frank@acme.test zoom")
    await demo_relay.tour(console, sandbox, worker, say)
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
