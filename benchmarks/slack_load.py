"""Signed Slack deliveries, written ahead of time for wrk to replay, and wrk's verdict.

Slack signs `v0:<timestamp>:<body>` and receivers refuse a timestamp older than five minutes,
so a file of requests is built right before each run (about a second for 30,000). Every request
is distinct where Slack's would be: its own `trigger_id` (commands, presses), its own
`event_id` (Events API), and one press per pending sync. The bodies are what the Slack
stand-in sends in the end-to-end tests (sandbox/slack/payloads.py), signed with its secret.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from adapters.slack.errors import SLACK
from adapters.slack.render import fallback_text, render_blocks
from benchmarks import seed
from bot import codec, messages
from bot.types import MessageRef
from sandbox.slack import SandboxMessage, SlackSandbox, wire
from sandbox.slack import payloads as p

EVENTS_PATH = "/slack/events"
REPLAY_LUA = Path(__file__).with_name("replay.lua")
WORKLOADS = ("command", "press", "message")


@dataclass(frozen=True)
class Result:
    """One wrk run: throughput, latency (ms) and what did not answer 2xx."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    wraps: int  # requests sent beyond the prepared ones (repeats: not state changes)
    cpu_ms: float = 0.0  # the server process's CPU time per request (user + system)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def consent_dms(slack: SlackSandbox, people: int) -> dict[int, dict[str, Any]]:
    """Put person i's consent DM on the Slack stand-in; return each one's `dm_ref` to store."""
    refs: dict[int, dict[str, Any]] = {}
    bot = slack.bot_user_id
    for i in range(people):
        channel = slack.dm_channel(bot, seed.slack_id(i))
        ts = f"{1_700_000_000 + i}.000100"
        request = messages.consent_request(f"Bench Person {i}", "Slack", "Zoom", seed.token(i))
        slack.messages[(channel, ts)] = SandboxMessage(
            channel, ts, bot, fallback_text(request), render_blocks(request)
        )
        refs[i] = codec.dump(MessageRef(SLACK, channel_id=channel, message_id=ts))
    return refs


def _raw(port: int, content_type: str, body: bytes, secret: str) -> bytes:
    """One HTTP/1.1 request as it goes on the wire, signed now."""
    headers = wire.sign(secret, body, int(time.time()))
    head = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    return head.encode() + body


def _command(slack: SlackSandbox, i: int) -> tuple[str, bytes]:
    uid = seed.slack_id(i)
    form = p.slash_command_form(
        slack.workspace,
        slack.users[uid],
        channel=slack.dm_channel(slack.bot_user_id, uid),
        command="/mio",
        text="help",
        response_url=slack._new_response_url(uid),
        trigger_id=f"{int(time.time())}.{i}.{secrets.token_hex(8)}",
    )
    return wire.FORM, urlencode(form).encode()


def _press(slack: SlackSandbox, i: int) -> tuple[str, bytes]:
    uid = seed.slack_id(i)
    channel = slack.dm_channel(slack.bot_user_id, uid)
    shown = slack.messages[(channel, f"{1_700_000_000 + i}.000100")]
    block, button = wire.find_button(shown.blocks, messages.ALLOW)
    payload = p.block_actions(
        slack.workspace,
        slack.users[uid],
        shown,
        p.button_action(block, button, f"{time.time():.6f}"),
        ephemeral=False,
        response_url=slack._new_response_url(uid),
        trigger_id=f"{int(time.time())}.{i}.{secrets.token_hex(8)}",
    )
    return wire.FORM, urlencode({"payload": json.dumps(payload)}).encode()


def _message(slack: SlackSandbox, i: int) -> tuple[str, bytes]:
    uid = seed.slack_id(i)
    channel = slack.dm_channel(slack.bot_user_id, uid)
    message = SandboxMessage(channel, f"{time.time():.6f}", uid, "help", [])
    event_id = f"EvB{i:07d}{secrets.token_hex(4).upper()}"
    return "application/json", p.dumps(p.im_event(slack.workspace, event_id, message))


BUILDERS = {"command": _command, "press": _press, "message": _message}


def requests(slack: SlackSandbox, workload: str, count: int, port: int) -> Iterator[bytes]:
    """`count` signed requests of `workload`, person 0, 1, 2, … in turn."""
    build = BUILDERS[workload]
    for i in range(count):
        content_type, body = build(slack, i)
        yield _raw(port, content_type, body, slack.signing_secret)


def write_requests(path: Path, raw: Iterator[bytes]) -> int:
    """Length-prefixed records (`<length>\\n<bytes>`) that replay.lua reads; returns the count."""
    n = 0
    with path.open("wb") as out:
        for request in raw:
            out.write(f"{len(request)}\n".encode() + request)
            n += 1
    return n


async def run_wrk(
    port: int, path: Path, *, seconds: float, connections: int, threads: int = 2
) -> Result:
    """wrk on loopback replaying `path`; the timeout is long so slow answers are timed, not lost."""
    threads = min(threads, connections)
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(REPLAY_LUA),
        f"http://127.0.0.1:{port}{EVENTS_PATH}",
        "--",
        str(path),
        str(threads),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()}{out.decode()}")
    data = json.loads(lines[-1])
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non2xx"],
        socket_errors=data["errors"],
        wraps=data["wraps"],
    )
