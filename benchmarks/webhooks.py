"""Mio's webhook path against a minimal slack-bolt app, under the same signed load.

Starts, each as its own process on loopback: a minimal Bolt AsyncApp (benchmarks/bolt_app.py),
then `mio serve` on SQLite and on PostgreSQL (a database `mio_bench` it creates and drops),
against the Slack and Zoom stand-ins, which run in this process. For each server and each
workload (`/mio help` slash commands; Allow presses on pending syncs, one per sync; Events API
DMs to the bot) it writes freshly signed requests and has wrk replay them (16 connections),
then prints a Markdown table. Method and findings: benchmarks/README.md.

Run: .venv/bin/python benchmarks/webhooks.py [--seconds 10] [--connections 16]
     [--databases sqlite,postgresql] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks import seed  # noqa: E402
from benchmarks.slack_load import (  # noqa: E402
    WORKLOADS,
    Result,
    consent_dms,
    requests,
    run_wrk,
    write_requests,
)
from sandbox.runner import Sandbox  # noqa: E402
from sandbox.slack import SlackSandbox  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.models import Sync  # noqa: E402

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PG_DATABASE = "mio_bench"
RATE_CEILING = 3000  # requests a second no server here reaches: how many to prepare
LABELS = {"bolt": "minimal Bolt app", "sqlite": "Mio on SQLite", "postgresql": "Mio on PostgreSQL"}
WORKLOAD_LABELS = {
    "command": "`/mio help` slash commands",
    "press": "Allow presses on pending syncs",
    "message": "Events API `message` DMs",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): see {log}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start: see {log}")


@contextlib.asynccontextmanager
async def server(
    argv: list[str], env: dict[str, str], port: int, log: Path, cwd: Path
) -> AsyncIterator[int]:
    """A server process for the duration of the block; SIGINT stops it as Ctrl-C would."""
    with log.open("w") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        await wait_ready(port, proc, log)
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def mio_argv(profile: Path | None, name: str) -> list[str]:
    if profile is None:
        return [str(Path(sys.executable).with_name("mio")), "serve"]
    out = profile / f"mio-{name}"
    return [sys.executable, str(ROOT / "benchmarks" / "profiled.py"), str(out), "serve"]


def mio_env(sandbox: Sandbox, url: str, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **sandbox.env(),
        "MIO_DATABASE_URL": url,
        "MIO_SECRET_KEY": Fernet.generate_key().decode(),
        "MIO_ADMINS": "ada@acme.test",
        "MIO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        **({"MIO_SWITCH": os.environ["MIO_SWITCH"]} if "MIO_SWITCH" in os.environ else {}),
    }


async def warm_up(slack: SlackSandbox, port: int, count: int = 20) -> None:
    """A few commands (Bolt's first auth, Mio's first queries) that the figures leave out."""
    async with aiohttp.ClientSession() as http:
        for raw in requests(slack, "command", count, port):
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines if not line.startswith("Host"))
            headers.pop("Content-Length")
            url = f"http://127.0.0.1:{port}/slack/events"
            async with http.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"warm-up answered {resp.status}: {await resp.text()}")


def cpu_seconds(pid: int, task: int | None = None) -> float:
    """User + system CPU time so far of a process, or of one of its threads (`task`)."""
    stat = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    slack: SlackSandbox, port: int, pid: int, args: argparse.Namespace, work: Path
) -> dict[str, Result]:
    await warm_up(slack, port)
    results: dict[str, Result] = {}
    count = int(args.seconds * RATE_CEILING)
    for workload in args.workloads.split(","):
        path = work / f"{workload}.req"
        write_requests(path, requests(slack, workload, count, port))
        before, loop_before = cpu_seconds(pid), cpu_seconds(pid, pid)
        result = await run_wrk(port, path, seconds=args.seconds, connections=args.connections)
        cpu = cpu_seconds(pid) - before
        loop_cpu = cpu_seconds(pid, pid) - loop_before
        print(
            f"  {workload}: {result.requests} requests, CPU {cpu:.2f} s, of which the event "
            f"loop's thread {loop_cpu:.2f} s",
            file=sys.stderr,
        )
        results[workload] = dataclasses.replace(result, cpu_ms=cpu * 1000 / max(result.requests, 1))
        path.unlink()
    return results


async def allowed(url: str) -> int:
    """Syncs whose Allow was recorded: each press that changed state."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(Sync).where(Sync.allowed_at.is_not(None))
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def database(kind: str, work: Path, name: str = PG_DATABASE) -> AsyncIterator[str]:
    """A database of the benchmark's own (`name` on PostgreSQL), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'bench.db'}"
        return
    admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield f"{PG_SERVER}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


async def run_mio(
    kind: str, sandbox: Sandbox, args: argparse.Namespace
) -> tuple[dict[str, Result], str]:
    """Seed, serve and measure Mio on one database; (results, a line of checks)."""
    slack = sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    people = int(args.seconds * RATE_CEILING)
    # Fresh consent DMs on the stand-in: the previous run's presses edited them.
    refs = consent_dms(slack, people)
    with tempfile.TemporaryDirectory(prefix=f"mio-bench-{kind}-") as tmp:
        work = Path(tmp)
        async with database(kind, work) as url:
            await seed.seed(url, people, dm_ref=refs.__getitem__)
            port = free_port()
            sandbox.point_at(f"http://127.0.0.1:{port}")
            log = work / "mio.log"
            env = mio_env(sandbox, url, port)
            async with server(mio_argv(args.profile, kind), env, port, log, work) as pid:
                results = await measure(slack, port, pid, args, work)
            text = log.read_text()
            failed = text.count("failed (ref:") + text.count("Traceback")
            changed = await allowed(url)
            if args.keep_logs:
                (args.keep_logs / f"mio-{kind}.log").write_text(text)
    presses = results["press"].requests if "press" in results else 0
    checks = (
        f"{LABELS[kind]}: {changed:,} syncs allowed for {presses:,} presses; "
        f"{failed} handler failures or tracebacks in its log"
    )
    return results, checks


async def run_bolt(sandbox: Sandbox, args: argparse.Namespace) -> dict[str, Result]:
    slack = sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "SLACK_SIGNING_SECRET": slack.signing_secret}
    argv = [sys.executable, str(ROOT / "benchmarks" / "bolt_app.py"), str(port)]
    with tempfile.TemporaryDirectory(prefix="mio-bench-bolt-") as tmp:
        work = Path(tmp)
        async with server(argv, env, port, work / "bolt.log", work) as pid:
            return await measure(slack, port, pid, args, work)


def table(results: dict[str, dict[str, Result]]) -> str:
    rows = [
        "| workload | server | req/s | p50 ms | p99 ms | ratio to Bolt | CPU ms/req "
        "| non-2xx | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload in [w for w in WORKLOADS if w in next(iter(results.values()), {})]:
        bolt = results.get("bolt", {}).get(workload)
        for name, by_workload in results.items():
            r = by_workload[workload]
            ratio = f"{r.rate / bolt.rate:.2f}" if bolt and bolt.rate else "–"
            wraps = f" ({r.wraps:,} repeats)" if r.wraps else ""
            rows.append(
                f"| {WORKLOAD_LABELS[workload]} | {LABELS[name]} | {r.rate:,.0f}{wraps} | "
                f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {ratio} | {r.cpu_ms:.2f} | {r.non_2xx} | "
                f"{r.socket_errors} |"
            )
    return "\n".join(rows)


async def main(args: argparse.Namespace) -> None:
    people = int(args.seconds * RATE_CEILING)
    sandbox = Sandbox(seed.bench_org(people), ["slack", "zoom"])
    await sandbox.start()
    slack = sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    slack.tiers.clear()
    consent_dms(slack, people)
    results: dict[str, dict[str, Result]] = {}
    checks: list[str] = []
    try:
        if not args.no_bolt:
            results["bolt"] = await run_bolt(sandbox, args)
        for kind in args.databases.split(","):
            results[kind], line = await run_mio(kind, sandbox, args)
            checks.append(line)
    finally:
        await sandbox.stop()
    print(table(results))
    print()
    for line in checks:
        print(f"- {line}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per cell")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--no-bolt", action="store_true", help="skip the Bolt baseline")
    parser.add_argument(
        "--profile", type=Path, help="profile Mio into DIR/mio-<db>.txt (pyinstrument) or .prof"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy Mio's log into this folder")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
