"""Peak RSS of `mio serve` with 100,000 people in the database (target: 200 MB).

Seeds N people, each with a Slack and a Zoom account, through store/ in bulk (benchmarks/
seed.py), starts `mio serve` as its own process against the Slack and Zoom stand-ins, then
drives it: the Hub's User Sync pages (first page, a search, a filter, a page deep in the keyset
order, the live-status poll) as a signed-in admin, and `/mio help` slash commands from wrk
(16 connections) for a few seconds. Reports the server's VmRSS after start-up and its peak
(VmHWM, from /proc/<pid>/status) at the end.

Run: .venv/bin/python benchmarks/memory.py [--people 100000] [--seconds 5]
     [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks import seed  # noqa: E402
from benchmarks.slack_load import requests, run_wrk, write_requests  # noqa: E402
from benchmarks.webhooks import database, free_port, mio_argv, mio_env, server  # noqa: E402
from bot.app import build_core  # noqa: E402
from bot.hub import create_link  # noqa: E402
from bot.settings import Settings  # noqa: E402
from sandbox.runner import Sandbox  # noqa: E402
from sandbox.slack import SlackSandbox  # noqa: E402

PAGES = (
    "/hub/users",
    "/hub/users?q=person%2012",
    "/hub/users?status=not_created&platform=zoom",
    "/hub/users?q=bench",
)


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


async def browse(base: str, env: dict[str, str], rounds: int = 5) -> int:
    """An admin signs in with a one-time link and reads the User Sync pages; pages read."""
    core = build_core(Settings.from_env(env))
    try:
        link = await create_link(core, "ada@acme.test")
    finally:
        await core.sessions.kw["bind"].dispose()
    read = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(link, allow_redirects=False) as resp:
            if resp.status != 303:
                raise RuntimeError(f"sign-in answered {resp.status}")
        for _ in range(rounds):
            for page in PAGES:
                async with http.get(base + page) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"{page} answered {resp.status}")
                    await resp.read()
                    read += 1
    return read


async def main(args: argparse.Namespace) -> None:
    # The stand-ins only need the people who send commands; the database holds all N.
    sandbox = Sandbox(seed.bench_org(2000), ["slack", "zoom"])
    await sandbox.start()
    slack = sandbox.services["slack"]
    assert isinstance(slack, SlackSandbox)
    try:
        with tempfile.TemporaryDirectory(prefix="mio-bench-memory-") as tmp:
            work = Path(tmp)
            async with database(args.database, work) as url:
                await seed.seed(url, args.people)
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                sandbox.point_at(base)
                env = mio_env(sandbox, url, port)
                async with server(
                    mio_argv(None, "memory"), env, port, work / "mio.log", work
                ) as pid:
                    started = memory_mb(pid)
                    pages = await browse(base, env)
                    path = work / "command.req"
                    write_requests(path, requests(slack, "command", 2000, port))
                    load = await run_wrk(port, path, seconds=args.seconds, connections=16)
                    pages += await browse(base, env, rounds=1)
                    end = memory_mb(pid)
    finally:
        await sandbox.stop()
    print("| database | people | RSS after start MB | peak RSS MB | Hub pages | commands |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.database} | {args.people:,} | {started['VmRSS']:.0f} | {end['VmHWM']:.0f} | "
        f"{pages} | {load.requests:,} ({load.non_2xx} non-2xx) |"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
