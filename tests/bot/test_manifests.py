"""A manifest folder says how it is filled in and packaged; bot/manifests.py names no platform."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bot.manifests import COPIED, Recipe, copy_filled_in, package, write


def test_a_folder_without_a_recipe_is_copied_with_the_host_filled_in(tmp_path: Path) -> None:
    source = tmp_path / "newchat"
    source.mkdir()
    (source / "app.yaml").write_text("# upload me\nurl: https://YOUR-HOST/newchat\n")
    (source / "_notes.json").write_text("{}")  # the folder's own, not the admin's
    recipe = Recipe.of(source)
    assert recipe == Recipe() and recipe.next == COPIED
    [written] = copy_filled_in(source, [("YOUR-HOST", "mio.acme.test")], tmp_path / "out")
    assert written.read_text() == "# upload me\nurl: https://mio.acme.test/newchat\n"


def test_a_recipe_zips_its_members_with_settings_filled_in(tmp_path: Path) -> None:
    source = tmp_path / "newchat"
    source.mkdir()
    (source / "app.json").write_text('{"id": "APP-ID", "host": "YOUR-HOST"}')
    (source / "icon.png").write_bytes(b"\x89PNG")
    recipe = {
        "zip": ["app.json", "icon.png"],
        "settings": {"NEWCHAT_APP_ID": {"placeholder": "APP-ID", "why": "the bot's id"}},
        "public_host": "required",
        "next": "upload it.",
    }
    (source / "_package.json").write_text(json.dumps(recipe))
    read = Recipe.of(source)
    assert read.zip == ("app.json", "icon.png") and read.host_required
    assert read.settings == {"NEWCHAT_APP_ID": ("APP-ID", "the bot's id")}
    out = package(source, read.zip, [("APP-ID", "42"), ("YOUR-HOST", "h.test")], tmp_path / "a.zip")
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["app.json", "icon.png"]
        assert json.loads(archive.read("app.json")) == {"id": "42", "host": "h.test"}
        assert archive.read("icon.png") == b"\x89PNG"


def test_the_shipped_teams_recipe_needs_its_app_id_and_a_public_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TEAMS_APP_ID is not set"):
        write("teams", {"MIO_PUBLIC_URL": "https://mio.acme.test"}, tmp_path / "t.zip")
    with pytest.raises(ValueError, match="MIO_PUBLIC_URL"):
        write("teams", {"TEAMS_APP_ID": "42", "MIO_PUBLIC_URL": "http://localhost"}, None)
    env = {"TEAMS_APP_ID": "42", "MIO_PUBLIC_URL": "https://mio.acme.test"}
    [path], sentence = write("teams", env, tmp_path / "t.zip")
    assert sentence == f"Wrote {path}: upload it in Teams admin center → Teams apps → Manage apps."
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["manifest.json", "color.png", "outline.png"]
