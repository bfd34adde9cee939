"""The relay under load: latency at 50 messages/s and sustained throughput at ≥200/s.

N pairs of people (benchmarks/relay_setup.py: sender primary on Slack, recipient primary on
Zoom, each consent-linked on the other's platform through the real admin commands, consent
DMs and OAuth pages). `mio serve` runs as its own process, with its outbox worker, on a
PostgreSQL database of its own (`mio_bench_relay`, created and dropped here); the Slack and
Zoom stand-ins run in this process. Each message is typed with the Slack stand-in's
`user_dm`, which delivers the signed `message.im` user event to the app; the worker posts it
on Zoom as the sender, whose echo event comes back and is dropped. Latency is the database's
`relay_messages.delivered_at - received_at`; lost / doubled / order are read from the
recipient's Zoom 1:1 on the stand-in. Method and results: benchmarks/README.md "Relay".

Run: .venv/bin/python benchmarks/relay.py [--pairs 50] [--latency-rate 50]
     [--latency-seconds 60] [--rate 200] [--minutes 10] [--zoom-rate 1000] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks import seed  # noqa: E402
from benchmarks.memory import memory_mb  # noqa: E402
from benchmarks.relay_setup import Linker, Pair, import_directories, pairs, wait_linked  # noqa: E402
from benchmarks.webhooks import (  # noqa: E402
    cpu_seconds,
    database,
    free_port,
    mio_argv,
    mio_env,
    server,
)
from sandbox.runner import Sandbox  # noqa: E402
from sandbox.slack import SlackSandbox  # noqa: E402
from sandbox.zoom import ZoomSandbox  # noqa: E402
from store.db import make_engine, upgrade  # noqa: E402
from store.relay_models import RelayMessage  # noqa: E402

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PG_DATABASE = "mio_bench_relay"
RSS_EVERY = 5.0  # seconds between samples of the server's RSS
STALL = 60.0  # seconds without a new delivery after typing ends: the rest is lost


@dataclass
class Run:
    """What one workload typed and what became of it."""

    workload: str
    tag: str
    target_rate: float
    typed: int = 0
    typing_seconds: float = 0.0
    late_max: float = 0.0  # the furthest behind schedule a message was typed, seconds
    delivered: int = 0
    states: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    queued: int = 0  # still in the outbox when the wait for delivery ended: late, not lost
    doubled: int = 0
    out_of_order: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    rate: float = 0.0
    rss: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    bench_cpu: float = 0.0


async def type_messages(slack: SlackSandbox, convs: list[Pair], run: Run, seconds: float) -> None:
    """Open loop at `run.target_rate`, message j in conversation j mod N; within one
    conversation each message is typed after the previous one's event was answered, as one
    person types one message after another."""
    loop = asyncio.get_running_loop()
    total, n = int(run.target_rate * seconds), len(convs)
    start = loop.time() + 0.2

    async def conversation(c: int) -> None:
        pair = convs[c]
        for j in range(c, total, n):
            due = start + j / run.target_rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            run.late_max = max(run.late_max, loop.time() - due)
            await slack.user_dm(pair.sender_slack, pair.recipient_slack, f"{run.tag} c{c} n{j}")
            run.typed += 1

    await asyncio.gather(*(conversation(c) for c in range(n)))
    run.typing_seconds = loop.time() - start


async def states(url: str, after: int) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(RelayMessage.state, func.count())
                .where(RelayMessage.id > after)
                .group_by(RelayMessage.state)
            )
            return {str(state): int(count) for state, count in rows}
    finally:
        await engine.dispose()


async def last_id(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(select(func.max(RelayMessage.id)))
            return int(found.scalar_one() or 0)
    finally:
        await engine.dispose()


async def wait_delivered(url: str, after: int, run: Run, cap: float) -> None:
    """Until every typed message is delivered, nothing new is delivered for STALL s, or
    `cap` s have passed (what is still queued then is reported as queued, not lost)."""
    best, since, end = -1, time.monotonic(), time.monotonic() + cap
    while time.monotonic() < end:
        run.states = await states(url, after)
        delivered = run.states.get("delivered", 0)
        if delivered >= run.typed:
            return
        if delivered > best:
            best, since = delivered, time.monotonic()
        elif time.monotonic() - since > STALL:
            return
        await asyncio.sleep(1.0)


async def latencies(url: str, after: int, run: Run) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(RelayMessage.received_at, RelayMessage.delivered_at).where(
                        RelayMessage.id > after, RelayMessage.state == "delivered"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    done = [(r, d) for r, d in rows if d is not None]
    run.delivered = len(done)
    run.latencies_ms = sorted((d - r).total_seconds() * 1000 for r, d in done)
    if done:
        span = (max(d for _, d in done) - min(r for r, _ in done)).total_seconds()
        run.rate = len(done) / span if span > 0 else 0.0


def check_conversations(zoom: ZoomSandbox, convs: list[Pair], run: Run) -> None:
    """Lost, doubled and out-of-order messages, as the recipients see them on Zoom."""
    typed_per_conv = [0] * len(convs)
    total, n = run.typed, len(convs)
    for j in range(total):
        typed_per_conv[j % n] += 1
    for c, pair in enumerate(convs):
        seen: list[int] = []
        for dm in zoom.conversation(pair.recipient_zoom, pair.sender_zoom):
            words = dm.text.split()
            if len(words) == 3 and words[0] == run.tag and words[1] == f"c{c}":
                seen.append(int(words[2].removeprefix("n")))
        expected = set(range(c, total, n))
        run.lost += len(expected - set(seen))  # minus the still queued, below
        run.doubled += len(seen) - len(set(seen))
        run.out_of_order += sum(1 for a, b in itertools.pairwise(seen) if b < a)
    run.queued = run.states.get("queued", 0)
    run.lost = max(0, run.lost - run.queued)


async def sample_rss(pid: int, into: list[float]) -> None:
    while True:
        into.append(memory_mb(pid)["VmRSS"])
        await asyncio.sleep(RSS_EVERY)


async def measure(
    sandbox: Sandbox, url: str, pid: int, convs: list[Pair], run: Run, seconds: float, cap: float
) -> Run:
    slack, zoom = sandbox.services["slack"], sandbox.services["zoom"]
    assert isinstance(slack, SlackSandbox) and isinstance(zoom, ZoomSandbox)
    after = await last_id(url)
    sampler = asyncio.create_task(sample_rss(pid, run.rss))
    cpu, own = cpu_seconds(pid), time.process_time()
    try:
        await type_messages(slack, convs, run, seconds)
        await wait_delivered(url, after, run, cap)
        await zoom.settle()
    finally:
        sampler.cancel()
        run.rss.append(memory_mb(pid)["VmRSS"])
    run.server_cpu, run.bench_cpu = cpu_seconds(pid) - cpu, time.process_time() - own
    await latencies(url, after, run)
    check_conversations(zoom, convs, run)
    return run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def table(runs: list[Run]) -> str:
    rows = [
        "| workload | offered msg/s (typed) | delivered | queued at end | lost | doubled "
        "| out of order | p50 ms | p99 ms | max ms | msg/s | RSS start / end / max MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        offered = r.typed / r.typing_seconds if r.typing_seconds else 0.0
        lat = r.latencies_ms
        rss = f"{r.rss[0]:.0f} / {r.rss[-1]:.0f} / {max(r.rss):.0f}" if r.rss else "–"
        rows.append(
            f"| {r.workload} | {r.target_rate:,.0f} ({offered:,.1f}) | {r.delivered:,} | "
            f"{r.queued:,} | "
            f"{r.lost:,} | {r.doubled:,} | {r.out_of_order:,} | {pct(lat, 0.5):,.0f} | "
            f"{pct(lat, 0.99):,.0f} | {max(lat, default=float('nan')):,.0f} | {r.rate:,.1f} | "
            f"{rss} |"
        )
    return "\n".join(rows)


def details(runs: list[Run]) -> list[str]:
    lines = []
    for r in runs:
        mean = statistics.fmean(r.latencies_ms) if r.latencies_ms else float("nan")
        lines.append(
            f"{r.workload}: typed {r.typed:,} in {r.typing_seconds:.1f} s (at most "
            f"{r.late_max:.2f} s behind schedule); states {r.states}; mean latency "
            f"{mean:,.0f} ms; server CPU {r.server_cpu:.1f} s, bench process CPU "
            f"{r.bench_cpu:.1f} s; RSS samples every {RSS_EVERY:.0f} s: "
            + ", ".join(f"{v:.0f}" for v in r.rss)
        )
    return lines


async def serve_and_measure(sandbox: Sandbox, args: argparse.Namespace) -> list[Run]:
    convs = pairs(sandbox.org, args.pairs)
    with tempfile.TemporaryDirectory(prefix="mio-bench-relay-") as tmp:
        work = Path(tmp)
        async with database("postgresql", Path(), PG_DATABASE) as url:
            await upgrade(url)
            port = free_port()
            sandbox.point_at(f"http://127.0.0.1:{port}")
            env = mio_env(sandbox, url, port) | {"ZOOM_RATE_PER_SECOND": str(args.zoom_rate)}
            await import_directories(env)
            log = work / "mio.log"
            argv = mio_argv(args.profile, "relay")
            try:
                async with server(argv, env, port, log, work) as pid:
                    return await workloads(sandbox, url, pid, convs, args)
            finally:
                text = log.read_text()
                failures = text.count("failed (ref:") + text.count("Traceback")
                print(f"- {failures} handler failures or tracebacks in Mio's log", file=sys.stderr)
                if args.keep_log:
                    args.keep_log.write_text(text)


async def workloads(
    sandbox: Sandbox, url: str, pid: int, convs: list[Pair], args: argparse.Namespace
) -> list[Run]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        await Linker(sandbox, sandbox.org, http).set_up(convs)
    await wait_linked(url, 2 * len(convs))
    print(f"linked {len(convs)} pairs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    runs = []
    if args.latency_seconds > 0:
        latency = Run(f"latency, {len(convs)} conversations", "L", args.latency_rate)
        cap = args.drain_minutes * 60
        runs.append(await measure(sandbox, url, pid, convs, latency, args.latency_seconds, cap))
        print(table(runs), file=sys.stderr)
    if args.minutes > 0:
        label = f"throughput, {len(convs)} conversations, {args.minutes:g} min"
        throughput = Run(label, "T", args.rate)
        cap = args.drain_minutes * 60
        runs.append(await measure(sandbox, url, pid, convs, throughput, args.minutes * 60, cap))
    return runs


async def main(args: argparse.Namespace) -> None:
    sandbox = Sandbox(seed.bench_org(2 * args.pairs), ["slack", "zoom"])
    await sandbox.start()
    slack = sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    slack.tiers.clear()  # the stand-in's own Web API tiers: the bench measures Mio, not them
    try:
        runs = await serve_and_measure(sandbox, args)
    finally:
        await sandbox.stop()
    print(table(runs))
    print()
    for line in details(runs):
        print(f"- {line}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50, help="conversations")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="messages/s")
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="0 skips it")
    parser.add_argument("--rate", type=float, default=200.0, help="throughput run, messages/s")
    parser.add_argument("--minutes", type=float, default=10.0, help="throughput run; 0 skips it")
    parser.add_argument(
        "--zoom-rate", type=float, default=1000.0, help="ZOOM_RATE_PER_SECOND for mio serve"
    )
    parser.add_argument(
        "--drain-minutes", type=float, default=15.0, help="longest wait for delivery after typing"
    )
    parser.add_argument("--profile", type=Path, help="profile Mio into DIR (pyinstrument)")
    parser.add_argument("--keep-log", type=Path, help="copy Mio's log to this file")
    return parser.parse_args()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main(parse()))
