"""Claim the HTTP port before anything is changed, so a second `mio demo` or `mio serve`
stops with one sentence instead of deleting files and then failing deep inside aiohttp."""

from __future__ import annotations

import errno
import socket


class PortInUse(OSError):
    """Another process listens on the port; `sentence` says how to pick another."""

    def __init__(self, port: int, how: str) -> None:
        self.sentence = (
            f"Port {port} is already in use (another `mio demo` or `mio serve`?): stop that "
            f"process, or choose another port, for example {how.format(port=port + 1)}."
        )
        super().__init__(errno.EADDRINUSE, self.sentence)
        self.port = port


def claim_port(host: str, port: int, how: str) -> socket.socket:
    """A socket bound and listening on (host, port), to serve on; PortInUse when taken.

    `how` shows how to choose another port, with `{port}` in it ("mio demo --port {port}").
    SO_REUSEADDR as asyncio sets it on POSIX, so a port left in TIME_WAIT is not refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port, how) from None
        raise
    sock.setblocking(False)
    return sock


def require_free_port(port: int, how: str) -> None:
    """Refuse early when (any interface, port) is taken; the real server binds it later."""
    claim_port("0.0.0.0", port, how).close()
