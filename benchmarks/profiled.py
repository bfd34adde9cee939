"""`mio` under cProfile, for the benchmark's --profile: `python profiled.py OUT.prof serve`.

The statistics are written when the command returns (Ctrl-C / SIGINT stops `mio serve`
cleanly), so the profile covers start-up and every request served.
"""

from __future__ import annotations

import cProfile
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    out = sys.argv[1]
    sys.argv = ["mio", *sys.argv[2:]]
    profiler = cProfile.Profile()
    try:
        profiler.runcall(main)
    except SystemExit:
        pass
    finally:
        profiler.dump_stats(out)
