"""MIO_DATABASE_URL mistakes, told in one sentence that names the setting and shows an example.

A mistyped scheme, a bare path, a server that does not answer or a database that was never
created would otherwise surface as SQLAlchemy's or the driver's exception, hundreds of lines
deep. `check_database_url` catches what can be seen in the text itself (no I/O); `reaching`
turns a failure of the first connection into `DatabaseUnreachable`, whose `sentence` the CLI
prints as is.
"""

from __future__ import annotations

import difflib
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

SETTING = "MIO_DATABASE_URL"
SQLITE_EXAMPLE = "sqlite:///var/mio.db"
POSTGRES_EXAMPLE = "postgresql://mio:PASSWORD@db.example.com:5432/mio"
EXAMPLES = f"for example {SQLITE_EXAMPLE} or {POSTGRES_EXAMPLE}"
# The backends and drivers Mio ships (aiosqlite, asyncpg); plain names are normalized to them.
DRIVERS = {
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgres", "postgresql", "postgresql+asyncpg"),
}


class DatabaseUnreachable(Exception):
    """The first connection failed; `sentence` says why and what to change."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def check_database_url(url: str) -> str:
    """Return `url` when Mio can open that kind of database; otherwise raise ValueError."""
    if "://" not in url:
        path = url.removeprefix("./")
        slashes = " (four slashes before an absolute path)" if path.startswith("/") else ""
        raise ValueError(
            f"{SETTING} must be a URL, not a path: for a SQLite file write sqlite:///{path}"
            f"{slashes}, or for PostgreSQL {POSTGRES_EXAMPLE}."
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{SETTING} is not a database URL Mio can read: {EXAMPLES}.") from None
    driver = parsed.drivername
    for backend, accepted in DRIVERS.items():
        if driver in accepted:
            return url
        if driver.startswith(f"{backend}+"):
            raise ValueError(
                f"{SETTING} asks for the driver {driver.split('+', 1)[1]}, which Mio does not "
                f"ship: write {backend}://… instead, {EXAMPLES}."
            )
    scheme = driver.split("+", 1)[0]
    close = difflib.get_close_matches(scheme, list(DRIVERS), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}://…?" if close else ""
    raise ValueError(
        f"{SETTING} starts with {scheme}://, a database Mio does not know: {EXAMPLES}.{hint}"
    )


@asynccontextmanager
async def reaching(url: str) -> AsyncIterator[None]:
    """Run the first database contact; a failure we can explain becomes DatabaseUnreachable.

    A SQLite file in a missing folder is refused before connecting: SQLite would only say
    "unable to open database file", and aiosqlite's worker thread can outlive the event loop
    after a failed open (printing its own traceback).
    """
    folder = _missing_sqlite_folder(make_url(url))
    if folder is not None:
        raise DatabaseUnreachable(_missing_folder(folder))
    try:
        yield
    except (OSError, SQLAlchemyError, sqlite3.Error) as exc:
        sentence = explain(exc, url)
        if sentence is None:
            raise
        raise DatabaseUnreachable(sentence) from exc


def explain(exc: BaseException, url: str) -> str | None:
    """One sentence for a failed connection to `url`, or None when it is not one we know."""
    parsed = make_url(url)
    causes = list(_chain(exc))
    if parsed.get_backend_name() == "sqlite":
        return _explain_sqlite(causes, parsed)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    for cause in causes:
        name = type(cause).__name__
        if name == "InvalidCatalogNameError":
            return (
                f'The database "{parsed.database}" does not exist on {where}: create it '
                f"(createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432} "
                f"{parsed.database}) or fix the name at the end of {SETTING}, "
                f"for example {POSTGRES_EXAMPLE}."
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return (
                f"PostgreSQL at {where} refused the user {parsed.username or '(none)'}: check "
                f"the user and password in {SETTING}, for example {POSTGRES_EXAMPLE}."
            )
        if isinstance(cause, socket.gaierror):
            return (
                f"The host {parsed.host} in {SETTING} cannot be found: check its spelling, "
                f"for example {POSTGRES_EXAMPLE}."
            )
        if isinstance(cause, ConnectionError | TimeoutError):
            return (
                f"No PostgreSQL answers at {where}, the server named in {SETTING}: is it "
                f"running, and are the host and port right? For example {POSTGRES_EXAMPLE}."
            )
    return None


def _explain_sqlite(causes: list[BaseException], parsed: URL) -> str | None:
    if not any("unable to open database file" in str(c) for c in causes):
        return None
    path = Path(parsed.database or "").expanduser()
    if not path.parent.is_dir():
        return _missing_folder(path.parent)
    return (
        f"The SQLite database {path} in {SETTING} cannot be opened: check that this user may "
        f"write to {path.parent}."
    )


def _missing_sqlite_folder(parsed: URL) -> Path | None:
    """The folder a SQLite file would live in, when it does not exist (a stat, no connection)."""
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri"):
        return None
    folder = Path(parsed.database or "").expanduser().parent
    return None if folder.is_dir() else folder


def _missing_folder(folder: Path) -> str:
    return (
        f"The folder {folder} for the SQLite database in {SETTING} does not exist: "
        f"create it (mkdir -p {folder}) or point {SETTING} into an existing folder, "
        f"for example {SQLITE_EXAMPLE}."
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what it wraps (SQLAlchemy's `.orig`) and what caused it, outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen
