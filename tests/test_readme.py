"""The README is read on a clean clone: every file it names must be in the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
SKIP = {".venv", ".git", "var", "artifacts", "node_modules"}
CITED = re.compile(r"[A-Za-z0-9_./-]+\.(?:md|png|yaml|json|py|toml)\b")


def repository_files() -> set[str]:
    found = set()
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders if s not in SKIP]
        found |= {(Path(folder) / name).relative_to(ROOT).as_posix() for name in names}
    return found


def test_every_file_the_readme_names_is_in_the_repository() -> None:
    files = repository_files()
    cited = set(CITED.findall((ROOT / "README.md").read_text()))
    missing = sorted(
        name for name in cited if not any(f == name or f.endswith(f"/{name}") for f in files)
    )
    assert cited and missing == []
