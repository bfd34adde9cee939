"""Dependency floors sit above known advisories, and requirements.lock pins what CI installs.

The lock is what `scripts/test` (and so CI) installs with `--require-hashes`; these checks keep
it complete, hashed and in step with pyproject.toml, so a stale lock fails here rather than
installing versions the floors exclude.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# The first release without a published advisory we know of, per package (pyproject.toml names
# the advisories next to each floor).
ADVISORY_FLOORS = {
    "aiohttp": "3.13.3",
    "cryptography": "46.0.5",
    "jinja2": "3.1.6",
    "pyjwt": "2.12.0",
    "requests": "2.32.4",
    "urllib3": "2.6.3",
    "setuptools": "78.1.1",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = [Requirement(r) for r in project["project"]["dependencies"]]
    found += [Requirement(r) for r in project["project"]["optional-dependencies"]["test"]]
    found += [Requirement(r) for r in project["build-system"]["requires"]]
    return found


def locked() -> dict[str, tuple[Version, int]]:
    """name → (pinned version, how many hashes)."""
    pins: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = str(canonicalize_name(match[1]))
            pins[current] = (Version(match[2]), 0)
        elif "--hash=sha256:" in line and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def lowest_allowed(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(floors) if floors else None


def test_floors_are_above_known_advisories() -> None:
    by_name = {str(canonicalize_name(r.name)): r for r in declared()}
    for name, floor in ADVISORY_FLOORS.items():
        assert name in by_name, f"{name} has no floor in pyproject.toml"
        lowest = lowest_allowed(by_name[name])
        assert lowest is not None and lowest >= Version(floor), (name, str(by_name[name]))


def test_lock_pins_every_dependency_with_hashes() -> None:
    pins = locked()
    assert len(pins) > 30  # the whole tree, not only the direct dependencies
    for requirement in declared():
        name = str(canonicalize_name(requirement.name))
        if name == "setuptools":  # a build requirement: pip's build isolation installs it
            continue
        assert name in pins, f"{name} is not in requirements.lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}"
        )
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert unhashed == []


def test_the_test_script_installs_from_the_lock() -> None:
    script = (ROOT / "scripts" / "venv.sh").read_text()
    assert "--require-hashes -r requirements.lock" in script
    assert "--no-deps --editable ." in script
    assert 'digest("requirements.lock")' in script  # a changed lock reinstalls
