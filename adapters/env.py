"""Reading an adapter's settings from the environment, the same way for every platform.

Each platform is off until its switch variable is set, and a half-configured one must fail at
startup with a ValueError naming the variable to fix, not later with a confusing 401. Two
policies are in use and both are kept as they were: Slack and Webex ignore their other
variables while the switch is unset and list everything missing at once (`required_when_set`);
Teams and Zoom also reject credentials set without the switch and name the first missing
variable (`all_or_none`).
"""

from __future__ import annotations

from collections.abc import Mapping


def setting(env: Mapping[str, str], key: str, default: str = "") -> str:
    """`key`'s value without surrounding blanks, or `default` when it is unset or blank."""
    return env.get(key, "").strip() or default


def required_when_set(
    env: Mapping[str, str], switch: str, required: tuple[str, ...]
) -> dict[str, str] | None:
    """None without `switch`; else every value by name, or a ValueError listing what is missing."""
    value = setting(env, switch)
    if not value:
        return None
    values = {key: setting(env, key) for key in required}
    missing = [key for key, found in values.items() if not found]
    if missing:
        raise ValueError(f"{switch} is set but {', '.join(missing)} is missing or empty")
    return {switch: value, **values}


def all_or_none(
    env: Mapping[str, str], switch: str, required: tuple[str, ...]
) -> dict[str, str] | None:
    """None when none of the variables is set; else every value by name.

    A ValueError names the first missing one, or `switch` itself when only the others are set
    (credentials without their id are a mistake, not a platform left off). The family in that
    message is `switch`'s prefix: `TEAMS_APP_ID` speaks of `TEAMS_*`.
    """
    value = setting(env, switch)
    values = {key: setting(env, key) for key in required}
    if not value:
        if any(values.values()):
            family = switch.split("_", 1)[0]
            raise ValueError(f"{switch} is required when other {family}_* credentials are set")
        return None
    for key, found in values.items():
        if not found:
            raise ValueError(f"{key} is required when {switch} is set")
    return {switch: value, **values}
