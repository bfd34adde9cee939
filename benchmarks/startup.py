"""How long a `mio` command takes from exec to exit (targets: 0.3 s `--help`, 0.6 s `users`).

Builds the demo database once (`mio demo --exit --no-tour` in a temporary folder: the demo
organisation imported from the sandbox), then runs each command R times as a fresh process
and prints the median wall time, the fastest, and the median CPU time (user + system) the
process used: on a busy machine the CPU time is the steadier figure. `python -X importtime`
on the same command shows which imports the time goes to.

Run: .venv/bin/python benchmarks/startup.py [--runs 11]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

MIO = str(Path(sys.executable).with_name("mio"))
TARGETS = {"mio --help": 0.3, "mio users --help": 0.3, "mio users": 0.6}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_database(folder: Path) -> Path:
    """`mio demo` once, to leave the demo organisation in folder/var/demo.db."""
    env = {**os.environ, "PORT": str(free_port())}
    subprocess.run(
        [MIO, "demo", "--exit", "--no-tour"],
        cwd=folder,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    return folder / "var" / "demo.db"


def cpu_of_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(
    argv: list[str], env: dict[str, str], cwd: Path, runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run, after one unmeasured warm-up."""
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    walls, cpus = [], []
    for _ in range(runs):
        cpu, started = cpu_of_children(), time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_of_children() - cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mio-bench-startup-") as tmp:
        folder = Path(tmp)
        db = demo_database(folder)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "MIO_DATABASE_URL": f"sqlite:///{db}",
            "MIO_SECRET_KEY": Fernet.generate_key().decode(),
        }
        print("| command | wall median s | wall fastest s | user+sys median s | target s |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for command, target in TARGETS.items():
            argv = [MIO, *command.split()[1:]]
            walls, cpus = timed(argv, env, folder, args.runs)
            print(
                f"| `{command}` | {statistics.median(walls):.2f} | {min(walls):.2f} | "
                f"{statistics.median(cpus):.2f} | {target:.1f} |"
            )


if __name__ == "__main__":
    main()
