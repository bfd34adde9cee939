"""What the process logs, and what it must not: OAuth codes and states, tokens, link tokens,
Slack `response_url`s, message text.

The access log: aiohttp's default line holds the request line with its query string and the
Referer, so it would keep every OAuth `code` and `state` that reaches `/oauth/…/callback` or
`/hub/auth/…/callback`, and the one-time token in `/hub/link/{token}` (in the path, and in the
Referer of the page's next request). A log file is read by more people, and kept longer, than
any of those secrets may be: this logger writes the method, the path without its query, the
status, the size and the time, and masks the link token.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

# Mio's own loggers, and aiohttp's access logger (it writes AccessLog's lines). Every other
# logger is a library's: some write whole request and response bodies (tokens, codes, consent
# buttons, message text) or SQL statements with their parameters at DEBUG or INFO, so they are
# held at WARNING unless a logging configuration set their level, and turning the root logger
# to DEBUG to chase a problem does not copy secrets into the log. No library is named here: a
# new platform's SDK is held like the others without a change in bot/.
OWN_LOGGERS = ("bot", "adapters", "store", "sandbox", "manifests", "aiohttp.access")


def own(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in OWN_LOGGERS)


def configured(name: str) -> bool:
    """Whether a level was chosen for this logger or an ancestor below the root."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.root:
        if logger.level != logging.NOTSET:
            return True
        logger = logger.parent
    return False


class LibraryFilter(logging.Filter):
    """On the root's handlers: drops a library's records below WARNING when nobody chose its
    level, for the loggers a library creates after `quiet_libraries` ran (a lazy import)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or own(record.name) or configured(record.name)


# Paths whose last part is a bearer secret (whoever has the URL can use it).
SECRET_TAILS = ("/hub/link/",)


def redact_path(raw_path: str) -> str:
    """A request path fit for a log line: no query string, no link token."""
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    for prefix in SECRET_TAILS:
        if path.startswith(prefix):
            return prefix + "…"
    return path


class AccessLog(AbstractAccessLogger):
    """Pass as `access_log_class` to `web.run_app`/`AppRunner` (`mio serve`, the tests)."""

    @staticmethod
    def line(method: str, raw_path: str, status: int) -> str:
        return f"{method} {redact_path(raw_path)} {status}"

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %sB %.0fms",
            request.remote or "-",
            self.line(request.method, request.raw_path, response.status),
            response.body_length,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        # Read by aiohttp (web_protocol) per connection: skip the work when nobody listens.
        return self.logger.isEnabledFor(logging.INFO)


def quiet_libraries() -> None:
    """Hold every library imported by now at WARNING (so SQLAlchemy does not even format its
    statements), unless its level was set: its top-level logger, so the loggers it creates
    later inherit it; one by one under a package that also holds one of ours (aiohttp). Then
    filter the loggers of later imports out of the root's handlers."""
    names = list(logging.root.manager.loggerDict)
    shared = {prefix.split(".")[0] for prefix in OWN_LOGGERS if "." in prefix}
    for name in {n.split(".")[0] for n in names} | {n for n in names if n.split(".")[0] in shared}:
        if name not in shared and not own(name) and not configured(name):
            logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.root.handlers:
        if not any(isinstance(f, LibraryFilter) for f in handler.filters):
            handler.addFilter(LibraryFilter())
