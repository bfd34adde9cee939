"""The admin commands in a terminal: import, users, status, primary, sync, unsync, reset.

Their words (help, example) are the chat commands' declarations (`grammar.SPECS`) and their
work is the use cases' (`bot/usecases/`); this module reads arguments and prints results.

`mio users`, the quickest and most run, builds no core: it needs no adapter (its columns are
the platforms whose directory the database holds, named by the terminal's words) and no
MIO_SECRET_KEY, and it checks the schema version only when its query fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import running  # noqa: F401  (registered first: `mio --help` lists it first)
from bot.cli.base import (
    DEBUG,
    NO_PLATFORM,
    PLATFORM_NAMES,
    app,
    confirmed,
    console,
    errors,
    find_one,
    load_settings,
    platform_name,
    real_console,
    refuse_schema,
    run,
    with_core,
)
from bot.commands.grammar import spec_named
from bot.terminal import PLATFORMS

if TYPE_CHECKING:
    from bot.core import Core
    from bot.usecases.users import UsersPage

WHO = typer.Argument(help="email or name")
YES = typer.Option("--yes", "-y", help="skip the confirmation")


def terminal_help(name: str) -> str:
    """The chat command's help and its terminal example: one declaration, two front ends."""
    spec = spec_named(name)
    return f"{spec.help}\n\nExample: {spec.terminal}"


@app.command("import", help=terminal_help("import"))
def import_(
    platform: Annotated[
        str | None, typer.Argument(help=f"{PLATFORM_NAMES}; all connected when omitted")
    ] = None,
) -> None:
    import logging

    from bot.usecases import imports

    if not DEBUG["on"]:
        # The import's own log lines say what the sentence below says (and a traceback for the
        # unexpected): in a terminal the sentence is enough; --debug shows both.
        logging.getLogger("bot.directory").setLevel(logging.CRITICAL)

    async def work(core: Core) -> None:
        if not core.platforms:
            errors.print(NO_PLATFORM, markup=False, soft_wrap=True)
            raise typer.Exit(1)
        named = platform_name(core, platform) if platform else None
        for name in imports.targets(list(core.platforms), named):
            console.print(await _import_one(core, name))

    with_core(work)


async def _import_one(core: Core, name: str) -> str:
    """One platform's import with a spinner that counts accounts; exit 1 with its sentence."""
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

    from bot.directory import ImportFailed
    from bot.usecases import imports

    label = core.label(name)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=real_console(console),
        transient=True,
    ) as bar:
        task = bar.add_task(f"Importing {label}…")

        def progress(n: int, task: TaskID = task) -> None:
            bar.update(task, description=f"Importing {label}: {n} accounts")

        try:
            return await imports.import_one(core, name, "cli", progress)
        except ImportFailed as exc:
            failed = exc
    console.print(failed.sentence, style="red", markup=False, highlight=False)
    raise typer.Exit(1)


@app.command(help=terminal_help("users"))
def users(
    filter: Annotated[str | None, typer.Argument(help="part of a name or email")] = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 50,
) -> None:
    from rich.table import Table

    from bot.sync import ICONS
    from bot.usecases import users as listing

    platforms, page = run(_load(load_settings(demo=True).database_url, filter, limit))

    def label(name: str) -> str:
        return PLATFORMS.get(name, name.title())

    table = Table(title=f"People ({page.total})")
    for column in ("Name", "Email", "Primary"):
        table.add_column(column)
    for name in platforms:
        table.add_column(label(name), justify="center")
    for p in page.people:
        if listing.is_inactive(page.accounts[p.id]):  # nothing to sync: no 🔁 to suggest otherwise
            table.add_row(p.display_name, p.email or "", "inactive", *["" for _ in platforms])
            continue
        cells = [
            "—" if status is None else ICONS[status]
            for _, status in listing.statuses(platforms, p, page.syncs[p.id])
        ]
        table.add_row(p.display_name, p.email or "", listing.primary_text(label, p), *cells)
    console.print(table)
    console.print(
        "✅ synced  🕒 pending  ⚠️ failed  🔁 not created  — primary  "
        "inactive: every account deactivated or deleted"
    )


async def _load(url: str, text: str | None, limit: int) -> tuple[list[str], UsersPage]:
    """The platforms with a directory in the database, in the registry's order, and a page."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.usecases import users as listing
    from store.db import make_engine, make_sessionmaker
    from store.dburl import reaching
    from store.hub_queries import PeopleFilter
    from store.repositories import Connections

    engine = make_engine(url)
    try:
        async with reaching(url), make_sessionmaker(engine)() as session:
            try:
                stored = await Connections(session).all()
                page = await listing.page(session, PeopleFilter(search=text or ""), limit=limit)
            except SQLAlchemyError:
                await _explain_schema(engine)
                raise
    finally:
        await engine.dispose()
    order = list(PLATFORMS)
    platforms = sorted(stored, key=lambda p: (order.index(p) if p in order else len(order), p))
    return platforms, page


async def _explain_schema(engine: object) -> None:
    """A failed query on a database of another version is said as that, not as SQL."""
    from store.db import SchemaAhead, SchemaBehind, require_current_schema

    try:
        await require_current_schema(engine)  # type: ignore[arg-type]
    except (SchemaBehind, SchemaAhead) as exc:
        raise refuse_schema(exc) from None


@app.command(help=terminal_help("status"))
def status(user: Annotated[str, WHO]) -> None:
    from bot.usecases.status import status as view

    async def work(core: Core) -> None:
        pid = await find_one(core, user)
        async with core.sessions() as session:
            message = await view(session, core, pid)
        console.print(str(message.title), style="bold", markup=False)  # a name is no markup
        for line in message.lines:
            console.print(f"  {line}", markup=False)

    with_core(work)


@app.command(help=terminal_help("primary"))
def primary(
    user: Annotated[str, WHO], platform: Annotated[str, typer.Argument(help=PLATFORM_NAMES)]
) -> None:
    from bot.sync import Refused
    from bot.usecases.primary import set_primary

    async def work(core: Core) -> None:
        name = platform_name(core, platform)
        pid = await find_one(core, user)
        try:
            async with core.transaction() as session:
                console.print(await set_primary(session, core, "cli", pid, name))
        except Refused as exc:
            console.print(f"[red]{exc.message}[/red] {exc.fix}")
            raise typer.Exit(1) from None

    with_core(work)


@app.command(help=terminal_help("sync"))
def sync(
    user: Annotated[str, WHO],
    platforms: Annotated[list[str], typer.Argument(help="platforms, or all")],
    yes: Annotated[bool, YES] = False,
) -> None:
    from bot.usecases import sync as syncing

    async def work(core: Core) -> None:
        every = any(p.strip().lower() == "all" for p in platforms)
        named = None if every else [platform_name(core, p) for p in platforms]
        pid = await find_one(core, user)
        async with core.sessions() as session:
            plan = await syncing.plan(session, core, pid, named)
        person = plan.person
        primary_label = core.label(person.primary_platform or "")
        for item in plan.items:
            label = core.label(item.platform)
            if item.refused is not None:
                console.print(f"[red]{label}: {item.refused.message}[/red] {item.refused.fix}")
            elif item.kind is not None:
                said = syncing.offer(item.kind, person.display_name, label, primary_label)
                console.print(f"{label}: {said}", markup=False)
        if not plan.doable:
            raise typer.Exit(1)
        confirmed(syncing.question(person.display_name), yes)
        for name in plan.doable:
            async with core.transaction() as session:
                console.print(await syncing.request(session, core, "cli", pid, name))
        await _deliver(core)

    with_core(work)


@app.command(help=terminal_help("unsync"))
def unsync(
    user: Annotated[str, WHO],
    platform: Annotated[str, typer.Argument(help="the synced platform")],
    yes: Annotated[bool, YES] = False,
) -> None:
    from bot.usecases import unsync as unsyncing

    async def work(core: Core) -> None:
        name = platform_name(core, platform)
        pid = await find_one(core, user)
        question = unsyncing.question(await _name(core, pid), core.label(name))
        confirmed(question, yes)
        async with core.transaction() as session:
            console.print(await unsyncing.unsync(session, core, "cli", pid, name))
        await _deliver(core)

    with_core(work)


@app.command(help=terminal_help("reset"))
def reset(user: Annotated[str, WHO], yes: Annotated[bool, YES] = False) -> None:
    from bot.usecases import reset as resetting

    async def work(core: Core) -> None:
        pid = await find_one(core, user)
        question = resetting.question(await _name(core, pid))
        confirmed(question, yes)
        async with core.transaction() as session:
            console.print(await resetting.reset(session, core, "cli", pid))
        await _deliver(core)

    with_core(work)


async def _name(core: Core, pid: int) -> str:
    from store.repositories import Directory

    async with core.sessions() as session:
        person = await Directory(session).person(pid)
    assert person is not None  # find_one just found them
    return person.display_name


async def _deliver(core: Core) -> None:
    """Send what the command queued (DMs, revocations) before the process ends."""
    from bot.delivery import Worker

    await Worker(core).drain()
