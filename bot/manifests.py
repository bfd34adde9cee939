"""`mio manifests <platform>`: what a platform admin uploads or pastes, filled in from settings.

The files ship inside the `manifests` package (package data), read through importlib.resources
so `pip install .` works without the checkout. What is platform-specific (which settings go
into the files, whether they are zipped, what the admin does next) is declared by the folder
itself in `_package.json`, so a new platform adds a folder and no code here. A folder without
one is copied file by file, YOUR-HOST filled in when MIO_PUBLIC_URL is public.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PLACEHOLDER_HOST = "YOUR-HOST"
RECIPE = "_package.json"
COPIED = "(their first lines say where each goes)."


def folder(platform: str) -> Traversable:
    """The shipped folder of one platform's files; ValueError names the ones there are."""
    root = files("manifests")
    known = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if platform not in known:
        raise ValueError(f"No manifest for {platform!r}; there are: {', '.join(known)}.")
    return root / platform


def public_host(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    if not host or host in ("127.0.0.1", "localhost"):
        raise ValueError("MIO_PUBLIC_URL must be the public https address the platform can reach.")
    return host


@dataclass(frozen=True)
class Recipe:
    """A folder's `_package.json`: the zip's members (empty: copy the files), the settings
    that replace placeholders (name → placeholder, and why it is needed), whether a public
    host is required, and the sentence that says what to do with the result."""

    zip: tuple[str, ...] = ()
    settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    host_required: bool = False
    next: str = COPIED

    @classmethod
    def of(cls, source: Traversable) -> Recipe:
        recipe = source / RECIPE
        if not recipe.is_file():
            return cls()
        data: dict[str, Any] = json.loads(recipe.read_text())
        settings = {k: (v["placeholder"], v["why"]) for k, v in data.get("settings", {}).items()}
        return cls(
            zip=tuple(data.get("zip", ())),
            settings=settings,
            host_required=data.get("public_host") == "required",
            next=data.get("next", COPIED),
        )


def write(platform: str, env: Mapping[str, str], out: Path | None) -> tuple[list[Path], str]:
    """The platform's files filled in from `env` and written to `out` (default mio-<platform>,
    or mio-<platform>.zip for a zipped one), with the sentence that tells the admin what next.
    ValueError names a missing setting or an unusable MIO_PUBLIC_URL."""
    source = folder(platform)
    recipe = Recipe.of(source)
    replacements = []
    for name, (placeholder, why) in recipe.settings.items():
        if not env.get(name, ""):
            raise ValueError(f"{name} is not set: {why}.")
        replacements.append((placeholder, env[name]))
    public_url = env.get("MIO_PUBLIC_URL", "")
    if recipe.host_required:
        host = public_host(public_url)
    else:
        try:
            host = public_host(public_url)
        except ValueError:
            host = PLACEHOLDER_HOST
    replacements.append((PLACEHOLDER_HOST, host))
    if recipe.zip:
        target = out or Path(f"mio-{platform}.zip")
        written = [package(source, recipe.zip, replacements, target)]
        return written, f"Wrote {target}: {recipe.next}"
    written = copy_filled_in(source, replacements, out or Path(f"mio-{platform}"))
    return written, f"Wrote {', '.join(str(p) for p in written)} {recipe.next}"


def fill(text: str, replacements: list[tuple[str, str]]) -> str:
    for placeholder, value in replacements:
        text = text.replace(placeholder, value)
    return text


def package(
    source: Traversable, members: tuple[str, ...], replacements: list[tuple[str, str]], out: Path
) -> Path:
    """The members at the zip's root; JSON ones filled in (and still valid JSON after it)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in members:
            if name.endswith(".json"):
                text = fill((source / name).read_text(), replacements)
                json.loads(text)
                archive.writestr(name, text)
            else:
                archive.writestr(name, (source / name).read_bytes())
    return out


def copy_filled_in(
    source: Traversable, replacements: list[tuple[str, str]], out: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in sorted(source.iterdir(), key=lambda p: p.name):
        if item.is_file() and not item.name.startswith("_"):
            target = out / item.name
            target.write_text(fill(item.read_text(), replacements))
            written.append(target)
    return written
