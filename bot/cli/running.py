"""`mio` commands that run or set up Mio: serve, demo, db upgrade, connect, hub-link, manifests.

Each imports what it needs when it runs (the web server, the demo, Alembic), so none of it
slows down `mio --help` or the admin commands.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.base import (
    NO_PLATFORM,
    PLATFORM_NAMES,
    app,
    console,
    db_app,
    environment,
    errors,
    load_settings,
    platform_name,
    refuse_schema,
    run,
    started_core,
    with_core,
)

if TYPE_CHECKING:
    from bot.core import Core
    from bot.settings import Settings


def port_setting() -> int:
    """PORT as `mio serve` reads it (the environment over .env), without the other settings."""
    raw = environment().get("PORT", "3978").strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        errors.print(f"Configuration error: PORT must be a port number, not {raw!r}.", markup=False)
        raise typer.Exit(2)
    return int(raw)


@app.command()
def serve() -> None:
    """Serve every connected platform's webhooks, the OAuth callbacks and health checks.

    Example: PORT=3978 mio serve
    """
    import logging

    from aiohttp import web

    from bot.app import create_app
    from bot.logs import AccessLog
    from bot.ports import require_free_port

    settings = load_settings()
    require_free_port(settings.port, "PORT={port} mio serve")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(_prepare(settings))
    console.print(f"Serving on port {settings.port}, public URL {settings.public_url}")
    web.run_app(create_app(settings), port=settings.port, print=None, access_log_class=AccessLog)


async def _prepare(settings: Settings) -> None:
    """Refuse a database that is behind, then let each platform check its side and say so."""
    from bot.types import PlatformError

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
    import logging

    from rich.console import Console

    from bot.demo import run_demo
    from bot.terminal import installed_command

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
    from store.db import SchemaAhead, upgrade
    from store.dburl import reaching

    settings = load_settings(demo=True)  # migrations need no secret key

    async def migrate() -> tuple[str | None, str]:
        async with reaching(settings.database_url):
            return await upgrade(settings.database_url)

    try:
        before, after = run(migrate())
    except SchemaAhead as exc:
        raise refuse_schema(exc) from None
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

    from bot.manifests import write

    try:
        _, sentence = write(platform, environment(), Path(out) if out else None)
    except ValueError as exc:
        errors.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(sentence, markup=False)
