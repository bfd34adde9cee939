"""What every `mio` command shares: the Typer app, the consoles, settings and a started core.

Only Typer and the standard library are imported here, so `mio --help` starts fast: help is
Click's plain text (Typer's Rich help imports Rich's Markdown and traceback renderers, half of
the start-up; benchmarks/README.md), Rich is imported when a console first prints, and the
database, the adapters and the web server inside the commands that use them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from typer.core import TyperGroup

from bot.terminal import for_terminal, labels, listing, names

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from bot.core import Core
    from bot.settings import Settings
    from bot.usecases import Question

PLATFORM_NAMES = listing(names(), "or")
NO_PLATFORM = (
    "No platform is configured: set the "
    + listing([f"{n.upper()}_*" for n in names()], "or")
    + " variables (see README)."
)


def _first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


class WholeSummaries(TyperGroup):
    """Each command's first paragraph in full in `mio --help`, wrapped, never cut with "…"
    (as Typer's Rich help showed it)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = [
            (name, cmd.short_help or _first_paragraph(cmd.help or ""))
            for name in self.list_commands(ctx)
            if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        """`mio users --help` without Pydantic: Typer 0.29 builds a Pydantic adapter for each
        flag that was not given (its value is None, never coerced), which imports Pydantic
        (about 0.1 s); a flag is given a bool or None, so it needs no coercion at all."""
        from typer._coercion import PassThroughRuntimeParam
        from typer.core import _TyperParameter

        for param in self.get_params(ctx):  # with --help, which Click adds here
            if isinstance(param, _TyperParameter) and param._runtime_param is None:
                described = param.type_descriptor
                if described.annotation is bool:
                    param._runtime_param = PassThroughRuntimeParam(
                        parameter_info=described.parameter_info, annotation=bool
                    )
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=WholeSummaries,
    help=f"Mio User Sync: sync your organisation's users across {listing(labels())}.\n\n"
    "Example: mio demo",
    no_args_is_help=True,
    rich_markup_mode=None,
)
db_app = typer.Typer(
    cls=WholeSummaries,
    help="Database migrations. Example: mio db upgrade",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")


def _terminal_console() -> Console:
    """Rich's console, with chat syntax (`/mio sync …`) said as the terminal's (`mio sync …`)."""
    from rich.console import Console

    class TerminalConsole(Console):
        def print(self, *objects: object, **kwargs: object) -> None:  # type: ignore[override,unused-ignore]
            words = [for_terminal(o) if isinstance(o, str) else o for o in objects]
            super().print(*words, **kwargs)  # type: ignore[arg-type]

    return TerminalConsole()


def _error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class _OnFirstUse:
    """A console made when it is first used, so that `mio --help` never imports Rich."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._made: Console | None = None

    def real(self) -> Console:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


def real_console(lazy: Console) -> Console:
    """The console itself, for Rich code that checks what it is given (a progress bar)."""
    return lazy.real() if isinstance(lazy, _OnFirstUse) else lazy


console = cast("Console", _OnFirstUse(_terminal_console))
errors = cast("Console", _OnFirstUse(_error_console))
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
    from dotenv import dotenv_values

    file_values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**file_values, **os.environ}


def load_settings(demo: bool = False) -> Settings:
    """The settings, or one sentence on stderr and exit code 2 when one is wrong."""
    from bot.settings import ConfigError, Settings

    try:
        return Settings.from_env(environment(), demo=demo)
    except ConfigError as exc:
        errors.print(f"Configuration error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def run[T](work: Coroutine[Any, Any, T]) -> T:
    """asyncio's loop, imported here: `mio --help` needs none (tests/bot/test_cli_imports.py)."""
    import asyncio

    return asyncio.run(work)


def refuse_schema(exc: Exception) -> typer.Exit:
    """A database migrated to another version than this code: say which, exit code 2."""
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(2)


@asynccontextmanager
async def started_core(settings: Settings, secrets: bool = True) -> AsyncIterator[Core]:
    """The core with its database checked; `secrets=False` leaves stored grants sealed."""
    from bot.app import build_core
    from bot.connect import load_admin_grants
    from store.db import SchemaAhead, SchemaBehind, require_current_schema
    from store.dburl import reaching

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
        raise refuse_schema(exc) from None
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
    """The one person `who` names, or exit 1 listing who matched."""
    from bot.usecases.find import NotOne, one_person

    try:
        async with core.sessions() as session:
            return (await one_person(session, who)).id
    except NotOne as exc:
        found = exc.people
    if not found:
        console.print(f"[red]Nobody matches “{who}”.[/red] Try an email, or `mio users {who}`.")
        raise typer.Exit(1)
    console.print(f"[yellow]“{who}” matches {len(found)} people:[/yellow]")
    for p in found:
        console.print(f"  {p.display_name} <{p.email or 'no email'}>")
    console.print("Name one by email.")
    raise typer.Exit(1)


def platform_name(core: Core, typed: str) -> str:
    """`typed` in any case or by a common name → a connected platform, or exit saying why."""
    from rich.markup import escape

    from adapters import ADAPTERS
    from bot.platform_names import PlatformNameError, resolve_platform

    try:
        return resolve_platform(typed, ADAPTERS, core.platforms)
    except PlatformNameError as exc:
        console.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from None


def confirmed(question: Question, yes: bool) -> None:
    """Go on when `--yes` was given or the admin answers yes; else say nothing changed."""
    if not yes and not typer.confirm(" ".join((question.title, *question.lines))):
        console.print("Cancelled. Nothing was changed.")
        raise typer.Exit(1)
