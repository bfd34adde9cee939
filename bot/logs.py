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

# Libraries that write whole request and response bodies (tokens, codes, consent buttons,
# message text) or SQL parameters at DEBUG. They are held at INFO unless configured otherwise,
# so turning the root logger to DEBUG to chase a problem does not copy secrets into the log.
BODY_LOGGERS = (
    "slack_sdk",
    "slack_bolt",
    "webexpythonsdk",
    "urllib3",
    "sqlalchemy.engine",
    "aiosqlite",
    "asyncpg",
)

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
        return self.logger.isEnabledFor(logging.INFO)  # skip the work when nobody listens


def quiet_body_loggers() -> None:
    """Hold BODY_LOGGERS at WARNING (at INFO SQLAlchemy logs every statement with its
    parameters), unless a logging configuration already set their level."""
    for name in BODY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
