"""`mio manifests <platform>`: what a platform admin uploads or pastes, filled in from settings.

The files ship inside the `manifests` package (package data), read through importlib.resources
so `pip install .` works without the checkout.
"""

from __future__ import annotations

import json
import zipfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import urlsplit

PLACEHOLDER_HOST = "YOUR-HOST"


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


def teams_package(app_id: str, public_url: str, out: Path) -> Path:
    """manifest.json with the app id and host put in, and the two icons, at the zip's root."""
    if not app_id:
        raise ValueError("TEAMS_APP_ID is not set: it is the bot's id inside the manifest.")
    host = public_host(public_url)
    teams = folder("teams")
    text = (teams / "manifest.json").read_text()
    text = text.replace("YOUR-TEAMS-APP-ID", app_id).replace(PLACEHOLDER_HOST, host)
    json.loads(text)  # still valid JSON after the substitution
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", text)
        for icon in ("color.png", "outline.png"):
            package.writestr(icon, (teams / icon).read_bytes())
    return out


def copy_filled_in(platform: str, public_url: str, out: Path) -> list[Path]:
    """The platform's files written to `out`, YOUR-HOST replaced when MIO_PUBLIC_URL is public."""
    try:
        host = public_host(public_url)
    except ValueError:
        host = PLACEHOLDER_HOST
    source = folder(platform)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in sorted(source.iterdir(), key=lambda p: p.name):
        if item.is_file():
            target = out / item.name
            target.write_text(item.read_text().replace(PLACEHOLDER_HOST, host))
            written.append(target)
    return written
