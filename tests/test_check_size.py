"""scripts/check-size, the size gate CI runs: what it reports, and what it lets through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-size"


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, check=False
    )


def function(name: str, body_lines: int, decorators: int = 0) -> str:
    head = "@staticmethod\n" * decorators + f"def {name}() -> None:\n"
    return head + "".join(f"    x{i} = {i}\n" for i in range(body_lines))


def test_long_functions_and_modules_are_reported_with_their_line(tmp_path: Path) -> None:
    fine = tmp_path / "fine.py"
    fine.write_text(function("short", 59))  # 60 lines with its def: at the limit
    long = tmp_path / "long.py"
    long.write_text("import os\n" + function("too_long", 58, decorators=2) + "\n" * 339)

    result = check(fine, long)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{long}:1: module has 401 lines (> 400)",
        f"{long}:4: function too_long has 61 lines (> 60)",  # decorators count
    ]
    assert check(fine).returncode == 0


def test_migrations_are_exempt() -> None:
    assert check(ROOT / "store" / "migrations").stdout == ""
