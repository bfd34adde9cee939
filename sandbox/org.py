"""The seeded organisation the stand-ins serve: people and their accounts per platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEMO_ORG = Path(__file__).with_name("demo_org.yaml")


@dataclass
class OrgAccount:
    """One person's account on one stand-in platform."""

    platform: str
    user_id: str
    email: str | None
    name: str
    is_admin: bool = False
    is_bot: bool = False
    is_guest: bool = False
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Org:
    name: str
    workspaces: dict[str, dict[str, str]]  # platform → {"id": …, "name": …}
    accounts: list[OrgAccount]

    def on(self, platform: str) -> list[OrgAccount]:
        return [a for a in self.accounts if a.platform == platform]

    def find(self, platform: str, email: str) -> OrgAccount:
        for a in self.on(platform):
            if a.email and a.email.strip().lower() == email.strip().lower():
                return a
        raise KeyError(f"{email} has no {platform} account in the sandbox org")


def load_org(path: Path = DEMO_ORG) -> Org:
    """Read the YAML: people with per-platform ids, plus bots and guests as platforms mark them."""
    raw = yaml.safe_load(path.read_text())
    accounts: list[OrgAccount] = []
    for person in raw["people"]:
        for platform in ("slack", "zoom", "teams", "webex"):
            spec = person.get(platform)
            if spec is None:
                continue
            accounts.append(
                OrgAccount(
                    platform=platform,
                    user_id=str(spec["id"]),
                    email=spec.get("email", person.get("email")),
                    name=spec.get("name", person["name"]),
                    is_admin=bool(spec.get("admin", person.get("admin", False))),
                    is_bot=bool(spec.get("bot", False)),
                    is_guest=bool(spec.get("guest", False)),
                    active=bool(spec.get("active", True)),
                )
            )
    return Org(name=raw["name"], workspaces=raw["workspaces"], accounts=accounts)
