"""What every platform stand-in shares: call recording, fault injection, loopback serving.

A stand-in is a real aiohttp server on 127.0.0.1, port 0. Tests and the demo reach it only by
the base-URL settings the stand-in hands out in `env()`, exactly as the bot would reach the
real platform.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    """One request the stand-in received, for assertions and the demo's inbox."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Fault:
    """Answer `times` matching requests with `status` (and headers/body) instead of serving.

    `skip` matching requests are served normally first, so a fault can land mid-pagination:
    the first page arrives, the second is refused, as when a platform's limit is reached
    partway through a directory.
    """

    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    skip: int = 0
    # Serve the request, then drop the connection without answering: the call took effect but
    # the caller never hears so (a timeout after a post, relay-apis §7 surprise 22).
    drop: bool = False


@dataclass(frozen=True)
class NativeDm:
    """A message in a 1:1 between two people, as the platform stores it (text in its markup)."""

    message_id: str
    sender_id: str
    text: str
    thread_id: str | None = None
    by_app: bool = False  # posted through an API call (a user token or the bot), not typed


class RelayStandIn(Protocol):
    """What a stand-in offers the relay's tests and the demo's inbox: people typing to each
    other natively (which fires the platform's user events/subscriptions/webhooks exactly as
    the real platform would), typing to the bot, and reading a 1:1."""

    async def user_dm(self, sender_id: str, recipient_id: str, text: str) -> str:
        """`sender_id` types `text` (the platform's markup) in their 1:1 with `recipient_id`;
        returns the new message's id."""
        ...

    async def user_to_bot(self, sender_id: str, text: str, thread_id: str | None = None) -> str:
        """`sender_id` types `text` to the Mio bot (in `thread_id` where threads exist)."""
        ...

    def conversation(self, user_id: str, other_id: str) -> list[NativeDm]:
        """The 1:1 between the two people's accounts, oldest first."""
        ...

    def revoke_user_token(self, user_id: str) -> None:
        """The person's user tokens stop working (revoked on the platform's side)."""
        ...


@dataclass(frozen=True)
class Sent:
    """A request the stand-in made to the bot (a signed webhook), byte for byte."""

    url: str
    headers: dict[str, str]
    body: bytes


class FakeService(abc.ABC):
    """Base of a platform stand-in: subclasses add routes in `setup_routes`."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: dict[str, list[Fault]] = {}
        self.url = ""  # http://127.0.0.1:PORT, once started
        self.bot_url = ""  # where signed webhooks go: the bot's public URL
        self._runner: web.AppRunner | None = None
        # The stand-in's own client: the webhooks it delivers, the sign-in pages it walks.
        self._session: aiohttp.ClientSession | None = None
        self.sent: list[Sent] = []  # every POST to the bot, for `send_again`

    # -- lifecycle -------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.setup_routes(app)
        return app

    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """The settings that point the bot at this stand-in (credentials and base URLs)."""

    @abc.abstractmethod
    def setup_routes(self, app: web.Application) -> None:
        """Add the platform's endpoints."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.Server)
        bound = server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}"
        self._session = aiohttp.ClientSession(trace_configs=[self.tracer()])
        return self.url

    def tracer(self) -> aiohttp.TraceConfig:
        """Records each POST this stand-in makes to the bot exactly as sent, so a test can send
        it again the way the platform retries a delivery (`send_again`)."""
        trace = aiohttp.TraceConfig()

        async def started(_: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
            ctx.headers, ctx.chunks = dict(params.headers), []

        async def chunk(_: Any, ctx: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            ctx.chunks.append(params.chunk)

        async def ended(_: Any, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
            url = str(params.url)
            if params.method == "POST" and self.bot_url and url.startswith(self.bot_url):
                self.sent.append(Sent(url, ctx.headers, b"".join(ctx.chunks)))

        trace.on_request_start.append(started)
        trace.on_request_chunk_sent.append(chunk)
        trace.on_request_end.append(ended)
        return trace

    async def send_again(self, index: int = -1) -> int:
        """Send a delivery again, byte for byte, as the platform does when it retries one;
        returns the bot's status."""
        sent = self.sent[index]
        async with aiohttp.ClientSession() as http:
            async with http.post(sent.url, data=sent.body, headers=sent.headers) as resp:
                return resp.status

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- faults and recording --------------------------------------------------------------
    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        skip: int = 0,
    ) -> None:
        """Make `times` requests whose path ends with `path` answer `status`, after `skip`."""
        self.faults.setdefault(path, []).append(Fault(status, times, headers or {}, body, skip))

    def drop_answer(self, path: str, *, times: int = 1) -> None:
        """Serve `times` requests whose path ends with `path`, then drop their connections."""
        self.faults.setdefault(path, []).append(Fault(0, times, drop=True))

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(path)]

    def fault_body(self, status: int, path: str) -> Any:
        """The platform's own error shape for an injected fault; stand-ins override."""
        return {"error": f"HTTP {status}"}

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        call = Call(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        self.calls.append(call)
        for suffix, queue in self.faults.items():
            if request.path.endswith(suffix) and queue:
                fault = queue[0]
                if fault.skip > 0:
                    fault.skip -= 1
                    break
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                if fault.drop:
                    served = await handler(request)
                    call.status = served.status
                    if request.transport is not None:
                        request.transport.abort()
                    return served
                payload = (
                    fault.body
                    if fault.body is not None
                    else self.fault_body(fault.status, request.path)
                )
                call.status = fault.status
                return web.json_response(payload, status=fault.status, headers=fault.headers)
        response = await handler(request)
        call.status = response.status
        return response
