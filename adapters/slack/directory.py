"""Slack members as our neutral `DirectoryUser`: what users.list and users.info report (§E.1).

The same reading serves the import (users.list pages) and the look-up of one unknown caller
(users.info), so an account looks alike whichever way Mio met it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.slack.errors import SLACK
from bot.types import DirectoryUser, PlatformUserId

PAGE_SIZE = 200  # Slack recommends no more than 200 per users.list page
SLACKBOT = "USLACKBOT"


def directory_user(member: Mapping[str, Any]) -> DirectoryUser:
    """One users.list member; Slackbot reports `is_bot: false`, so it is special-cased (§I.19)."""
    profile = member.get("profile") or {}
    display_name = (
        profile.get("real_name")
        or member.get("real_name")
        or profile.get("display_name")
        or member.get("name")
        or member["id"]
    )
    return DirectoryUser(
        platform=SLACK,
        user_id=PlatformUserId(member["id"]),
        email=profile.get("email") or None,
        display_name=str(display_name),
        is_bot=bool(member.get("is_bot")) or member["id"] == SLACKBOT,
        is_guest=bool(member.get("is_restricted") or member.get("is_ultra_restricted")),
        is_active=not member.get("deleted", False),
        is_admin=bool(
            member.get("is_admin") or member.get("is_owner") or member.get("is_primary_owner")
        ),
    )
