"""`mio`: run the bot, the demo, migrations, and the admin commands from a terminal."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from dotenv import dotenv_values
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from adapters import ADAPTERS
from bot import lifecycle
from bot.app import build_core
from bot.commands.views import is_inactive, primary_text
from bot.connect import load_admin_grants
from bot.core import Core
from bot.delivery import Worker
from bot.directory import ImportFailed, import_platform
from bot.logs import AccessLog
from bot.platform_names import PlatformNameError, resolve_platform
from bot.ports import require_free_port
from bot.settings import ConfigError, Settings
from bot.sync import ICONS, Refused, Status, SyncKind, SyncRefused
from bot.terminal import for_terminal, installed_command, labels, listing, names, sentence_for
from bot.types import PlatformError
from store.db import SchemaAhead, SchemaBehind, require_current_schema, upgrade
from store.dburl import reaching
from store.repositories import Directory, Syncs

PLATFORM_NAMES = listing(names(), "or")
NO_PLATFORM = (
    "No platform is configured: set the "
    + listing([f"{n.upper()}_*" for n in names()], "or")
    + " variables (see README)."
)

app = typer.Typer(
    help=f"Mio User Sync: sync your organisation's users across {listing(labels())}.\n\n"
    "Example: mio demo",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database migrations. Example: mio db upgrade", no_args_is_help=True)
app.add_typer(db_app, name="db")


class TerminalConsole(Console):
    """Rich's console, with chat syntax (`/mio sync …`) said as the terminal's (`mio sync …`)."""

    def print(self, *objects: object, **kwargs: object) -> None:  # type: ignore[override]
        words = [for_terminal(o) if isinstance(o, str) else o for o in objects]
        super().print(*words, **kwargs)  # type: ignore[arg-type]


console = TerminalConsole()
errors = Console(stderr=True)
DEBUG = {"on": False}


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the full traceback when something fails.", metavar=""),
    ] = False,
) -> None:
    DEBUG["on"] = debug


def environment() -> dict[str, str]:
    """The process environment over the `.env` file in the working directory."""
    file_values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**file_values, **os.environ}


def load_settings(demo: bool = False) -> Settings:
    """The settings, or one sentence on stderr and exit code 2 when one is wrong."""
    try:
        return Settings.from_env(environment(), demo=demo)
    except ConfigError as exc:
        errors.print(f"Configuration error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def port_setting() -> int:
    """PORT as `mio serve` reads it (the environment over .env), without the other settings."""
    raw = environment().get("PORT", "3978").strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        errors.print(f"Configuration error: PORT must be a port number, not {raw!r}.", markup=False)
        raise typer.Exit(2)
    return int(raw)


def run[T](work: Awaitable[T]) -> T:
    return asyncio.run(work)  # type: ignore[arg-type]


@asynccontextmanager
async def started_core(settings: Settings, secrets: bool = True) -> AsyncIterator[Core]:
    """The core with its database checked; `secrets=False` leaves stored grants sealed."""
    core = build_core(settings)
    engine = core.sessions.kw["bind"]
    try:
        async with reaching(settings.database_url):
            await require_current_schema(engine)
        for adapter in core.platforms.values():
            await adapter.start()
        if secrets:
            await load_admin_grants(core)
        yield core
    except (SchemaBehind, SchemaAhead) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        for adapter in core.platforms.values():
            await adapter.close()
        await engine.dispose()


def with_core[T](work: Callable[[Core], Awaitable[T]], secrets: bool = True) -> T:
    """Run `work` with a started core; `secrets=False` for commands that need no MIO_SECRET_KEY."""

    async def go() -> T:
        async with started_core(load_settings(demo=not secrets), secrets) as core:
            return await work(core)

    return run(go())


async def find_one(core: Core, who: str) -> int:
    async with core.sessions() as session:
        found = await Directory(session).find_people(who)
    if not found:
        console.print(f"[red]Nobody matches “{who}”.[/red] Try an email, or `mio users {who}`.")
        raise typer.Exit(1)
    if len(found) > 1:
        console.print(f"[yellow]“{who}” matches {len(found)} people:[/yellow]")
        for p in found:
            console.print(f"  {p.display_name} <{p.email or 'no email'}>")
        console.print("Name one by email.")
        raise typer.Exit(1)
    return found[0].id


def platform_name(core: Core, typed: str) -> str:
    """`typed` in any case or by a common name → a connected platform, or exit saying why."""
    try:
        return resolve_platform(typed, ADAPTERS, core.platforms)
    except PlatformNameError as exc:
        console.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from None


# -- running --------------------------------------------------------------------------------
@app.command()
def serve() -> None:
    """Serve every connected platform's webhooks, the OAuth callbacks and health checks.

    Example: PORT=3978 mio serve
    """
    from aiohttp import web

    from bot.app import create_app

    settings = load_settings()
    require_free_port(settings.port, "PORT={port} mio serve")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(_prepare(settings))
    console.print(f"Serving on port {settings.port}, public URL {settings.public_url}")
    web.run_app(create_app(settings), port=settings.port, print=None, access_log_class=AccessLog)


async def _prepare(settings: Settings) -> None:
    """Refuse a database that is behind, then let each platform check its side and say so."""
    async with started_core(settings) as core:
        if not core.platforms:
            console.print(f"[yellow]{NO_PLATFORM}[/yellow]")
        for name, adapter in core.platforms.items():
            try:
                for line in await adapter.prepare(settings.public_url):
                    console.print(f"{core.label(name)}: {line}")
            except PlatformError as exc:
                console.print(f"[red]{core.label(name)}: {exc.reason}[/red]")


@app.command()
def demo(
    port: Annotated[
        int | None, typer.Option(help="Port for the bot (default: $PORT, else 3978).")
    ] = None,
    tour: Annotated[
        bool, typer.Option(help="Walk through a sync before serving.", metavar="")
    ] = True,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Stop after the tour.", metavar="")
    ] = False,
) -> None:
    """Run the bot against the built-in sandbox platforms: no credentials needed.

    Example: mio demo --exit
    """
    from bot.demo import run_demo

    if port is None:
        port = port_setting()
    logging.basicConfig(level=logging.WARNING)
    # A plain console: the tour shows chat, where `/mio …` is what people type.
    command = installed_command(sys.argv[0])
    run(run_demo(Console(), port=port, tour=tour, exit_after=exit_after, command=command))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run on every release).

    Example: MIO_DATABASE_URL=postgresql://mio@db/mio mio db upgrade
    """
    settings = load_settings(demo=True)  # migrations need no secret key

    async def migrate() -> tuple[str | None, str]:
        async with reaching(settings.database_url):
            return await upgrade(settings.database_url)

    try:
        before, after = run(migrate())
    except SchemaAhead as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if before == after:
        console.print(f"Database already at revision {after}.")
    else:
        console.print(f"Database upgraded from {before or 'empty'} to {after}.")


@app.command()
def connect(platform: Annotated[str, typer.Argument(help="the platform to authorize")]) -> None:
    """Print the link an admin opens to let Mio read a platform's directory (Webex).

    Example: mio connect webex
    """
    from bot import connect as connecting

    async def work(core: Core) -> None:
        name = platform_name(core, platform)
        try:
            link = await connecting.start(core, name, "cli")
        except ValueError as exc:
            console.print(str(exc))
            raise typer.Exit(1) from None
        console.print(
            f"Open this link as a {core.label(name)} admin (valid 30 minutes; "
            "`mio serve` must be running to receive the answer):"
        )
        console.print(link, markup=False, soft_wrap=True)

    with_core(work)


@app.command("hub-link")
def hub_link(
    who: Annotated[
        str, typer.Option("--as", help="an admin's email (checked); the operator without it")
    ] = "cli",
) -> None:
    """Print a one-time link that signs an admin in to the web Hub (works 10 minutes).

    Example: mio hub-link --as ada@acme.test
    """
    from bot.hub.auth import NotAnAdmin, create_link

    async def work(core: Core) -> None:
        try:
            link = await create_link(core, who.strip().lower() or "cli")
        except NotAnAdmin as exc:
            console.print(f"[red]{exc}[/red]", soft_wrap=True)
            raise typer.Exit(1) from None
        console.print(
            "Open this link to sign in to the Hub (it works once, for 10 minutes; "
            "`mio serve` must be running):"
        )
        console.print(link, markup=False, soft_wrap=True)

    with_core(work)


@app.command()
def manifests(
    platform: Annotated[str, typer.Argument(help=PLATFORM_NAMES)],
    out: Annotated[
        str | None,
        typer.Option(help="where to write (default mio-teams.zip, or a mio-<platform> folder)"),
    ] = None,
) -> None:
    """Write what a platform admin uploads or pastes, with your host (and Teams app id) filled in.

    Example: mio manifests teams --out mio-teams.zip
    """
    from pathlib import Path

    from bot.manifests import copy_filled_in, teams_package

    env = environment()
    public_url = env.get("MIO_PUBLIC_URL", "")
    try:
        if platform == "teams":
            path = teams_package(
                env.get("TEAMS_APP_ID", ""), public_url, Path(out or "mio-teams.zip")
            )
            console.print(
                f"Wrote {path}: upload it in Teams admin center → Teams apps → Manage apps."
            )
            return
        written = copy_filled_in(platform, public_url, Path(out or f"mio-{platform}"))
    except ValueError as exc:
        errors.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"Wrote {', '.join(str(p) for p in written)} (their first lines say where each goes).",
        markup=False,
    )


# -- admin commands -------------------------------------------------------------------------
@app.command("import")
def import_(
    platform: Annotated[
        str | None, typer.Argument(help=f"{PLATFORM_NAMES}; all connected when omitted")
    ] = None,
) -> None:
    """Import (or re-import) the user directory of one or all connected platforms.

    Example: mio import slack
    """

    if not DEBUG["on"]:
        # The import's own log lines say what the sentence below says (and a traceback for the
        # unexpected): in a terminal the sentence is enough; --debug shows both.
        logging.getLogger("bot.directory").setLevel(logging.CRITICAL)

    async def work(core: Core) -> None:
        if not core.platforms:
            errors.print(NO_PLATFORM, markup=False, soft_wrap=True)
            raise typer.Exit(1)
        targets = [platform_name(core, platform)] if platform else list(core.platforms)
        for name in targets:
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
            ) as bar:
                label = core.label(name)
                task = bar.add_task(f"Importing {label}…")

                def progress(n: int, task: TaskID = task, label: str = label) -> None:
                    bar.update(task, description=f"Importing {label}: {n} accounts")

                try:
                    result = await import_platform(core, name, "cli", progress)
                except ImportFailed as exc:
                    failed = exc
                else:
                    failed = None
            if failed is not None:
                console.print(failed.sentence, style="red", markup=False, highlight=False)
                raise typer.Exit(1)
            console.print(result.sentence(core.label(name)))

    with_core(work)


@app.command()
def users(
    filter: Annotated[str | None, typer.Argument(help="part of a name or email")] = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 50,
) -> None:
    """List people with their primary platform and sync status icons.

    Example: mio users bob
    """

    async def work(core: Core) -> None:
        async with core.sessions() as session:
            people, total = await Directory(session).list_people(filter, 0, limit)
            syncs = await Syncs(session).for_people([p.id for p in people])
            accounts = await Directory(session).accounts_for([p.id for p in people])
        table = Table(title=f"People ({total})")
        table.add_column("Name")
        table.add_column("Email")
        table.add_column("Primary")
        for name in core.platforms:
            table.add_column(core.label(name), justify="center")
        for p in people:
            if is_inactive(accounts[p.id]):  # nothing to sync: no 🔁 to suggest otherwise
                table.add_row(
                    p.display_name, p.email or "", "inactive", *["" for _ in core.platforms]
                )
                continue
            by = {s.platform: Status(s.status) for s in syncs[p.id]}
            cells = [
                "—" if n == p.primary_platform else ICONS[by.get(n, Status.NOT_CREATED)]
                for n in core.platforms
            ]
            table.add_row(p.display_name, p.email or "", primary_text(core, p), *cells)
        console.print(table)
        console.print(
            "✅ synced  🕒 pending  ⚠️ failed  🔁 not created  — primary  "
            "inactive: every account deactivated or deleted"
        )

    with_core(work, secrets=False)  # reads the directory only: no MIO_SECRET_KEY needed


@app.command()
def status(user: Annotated[str, typer.Argument(help="email or name")]) -> None:
    """Show one person's accounts, primary platform and syncs.

    Example: mio status bob@acme.test
    """
    from bot.commands.views import status as view

    async def work(core: Core) -> None:
        pid = await find_one(core, user)
        async with core.sessions() as session:
            message = await view(session, core, pid)
        console.print(str(message.title), style="bold", markup=False)  # a name is no markup
        for line in message.lines:
            console.print(f"  {line}", markup=False)

    with_core(work)


@app.command()
def primary(
    user: Annotated[str, typer.Argument(help="email or name")],
    platform: Annotated[str, typer.Argument(help=PLATFORM_NAMES)],
) -> None:
    """Choose the platform a person uses daily; consent DMs go there.

    Example: mio primary bob@acme.test slack
    """

    async def work(core: Core) -> None:
        name = platform_name(core, platform)
        pid = await find_one(core, user)
        try:
            async with core.transaction() as session:
                console.print(await lifecycle.set_primary(session, core, "cli", pid, name))
        except Refused as exc:
            console.print(f"[red]{exc.message}[/red] {exc.fix}")
            raise typer.Exit(1) from None

    with_core(work)


@app.command()
def sync(
    user: Annotated[str, typer.Argument(help="email or name")],
    platforms: Annotated[list[str], typer.Argument(help="platforms, or all")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="skip the confirmation")] = False,
) -> None:
    """Sync a person to other platforms: a consent DM, or a represented sync.

    Example: mio sync bob@acme.test zoom
    """

    async def work(core: Core) -> None:
        every = any(p.strip().lower() == "all" for p in platforms)
        named = [] if every else [platform_name(core, p) for p in platforms]
        pid = await find_one(core, user)
        async with core.sessions() as session:
            person, accounts, syncs = await lifecycle.load(session, pid)
        wanted = [p for p in core.platforms if p != person.primary_platform] if every else named
        doable = []
        for name in dict.fromkeys(wanted):
            try:
                kind = lifecycle.plan(core, person, accounts, syncs, name)
            except SyncRefused as exc:
                console.print(f"[red]{core.label(name)}: {exc.message}[/red] {exc.fix}")
                continue
            what = (
                "a consent DM on " + primary_text(core, person)
                if kind is SyncKind.CONSENT
                else "a represented sync (completes at once)"
            )
            console.print(f"{core.label(name)}: {what}")
            doable.append(name)
        if not doable:
            raise typer.Exit(1)
        if not yes and not typer.confirm(f"Sync {person.display_name}?"):
            console.print("Cancelled. Nothing was changed.")
            raise typer.Exit(1)
        for name in doable:
            async with core.transaction() as session:
                console.print(await lifecycle.request(session, core, "cli", pid, name))
        await Worker(core).drain()

    with_core(work)


@app.command()
def unsync(
    user: Annotated[str, typer.Argument(help="email or name")],
    platform: Annotated[str, typer.Argument(help="the synced platform")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="skip the confirmation")] = False,
) -> None:
    """Remove one sync and revoke its tokens.

    Example: mio unsync bob@acme.test zoom
    """

    async def work(core: Core) -> None:
        name = platform_name(core, platform)
        pid = await find_one(core, user)
        if not yes and not typer.confirm(f"Unsync from {core.label(name)} and revoke its tokens?"):
            console.print("Cancelled. Nothing was changed.")
            raise typer.Exit(1)
        async with core.transaction() as session:
            console.print(await lifecycle.unsync(session, core, "cli", pid, name))
        await Worker(core).drain()

    with_core(work)


@app.command()
def reset(
    user: Annotated[str, typer.Argument(help="email or name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="skip the confirmation")] = False,
) -> None:
    """Remove all of a person's syncs, grants and primary choice; accounts stay.

    Example: mio reset bob@acme.test
    """

    async def work(core: Core) -> None:
        pid = await find_one(core, user)
        if not yes and not typer.confirm("Reset this person? Syncs and tokens are removed."):
            console.print("Cancelled. Nothing was changed.")
            raise typer.Exit(1)
        async with core.transaction() as session:
            console.print(await lifecycle.reset(session, core, "cli", pid))
        await Worker(core).drain()

    with_core(work)


def main() -> None:
    """`mio`: any failure is one sentence on stderr and exit code 1; `--debug` shows the trace."""
    try:
        app()
    except Exception as exc:
        if DEBUG["on"]:
            raise
        errors.print(sentence_for(exc), markup=False, soft_wrap=True, highlight=False)
        sys.exit(1)
