"""`mio` under a profiler, for the benchmark's --profile: `python profiled.py OUT serve`.

pyinstrument (a sampling profiler; `pip install pyinstrument`, not a dependency of Mio) when
installed: it writes OUT.txt, the event loop thread's time by call stack, with the time spent
waiting in epoll shown as such. Otherwise cProfile writes OUT.prof (deterministic, and much
slower per call, so its figures overstate small functions). Either is written when the command
returns: SIGINT stops `mio serve` cleanly, so the profile covers every request served.
"""

from __future__ import annotations

import contextlib
import cProfile
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import main


def run(out: str) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        profiler = cProfile.Profile()
        try:
            profiler.runcall(main)
        finally:
            profiler.dump_stats(f"{out}.prof")
        return
    sampler = Profiler(interval=0.001, async_mode="disabled")
    sampler.start()
    try:
        main()
    finally:
        sampler.stop()
        tree = sampler.output_text(unicode=False, color=False, show_all=False)
        flat = sampler.output_text(unicode=False, color=False, flat=True)
        Path(f"{out}.txt").write_text(tree)
        Path(f"{out}-flat.txt").write_text(flat)


if __name__ == "__main__":
    target = sys.argv[1]
    sys.argv = ["mio", *sys.argv[2:]]
    with contextlib.suppress(SystemExit):  # the CLI exits when the server stops
        run(target)
