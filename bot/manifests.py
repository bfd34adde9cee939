"""`mio manifests teams`: the zip a Teams admin uploads, filled in from the settings."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


def teams_package(app_id: str, public_url: str, out: Path) -> Path:
    """manifest.json with the app id and host put in, and the two icons, at the zip's root."""
    if not app_id:
        raise ValueError("TEAMS_APP_ID is not set: it is the bot's id inside the manifest.")
    host = urlsplit(public_url).hostname or ""
    if not host or host in ("127.0.0.1", "localhost"):
        raise ValueError("MIO_PUBLIC_URL must be the public https address Teams can reach.")
    folder = MANIFESTS / "teams"
    text = (folder / "manifest.json").read_text()
    text = text.replace("YOUR-TEAMS-APP-ID", app_id).replace("YOUR-HOST", host)
    json.loads(text)  # still valid JSON after the substitution
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", text)
        for icon in ("color.png", "outline.png"):
            package.write(folder / icon, icon)
    return out
