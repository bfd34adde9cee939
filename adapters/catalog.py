"""The adapters' names and labels without importing the adapters.

`mio --help` must start in a fraction of a second, and importing the adapters pulls in every
platform SDK. This written-out copy of the registry (`adapters.ADAPTERS`) is what the terminal
names platforms from; tests/bot/test_cli_imports.py keeps the two equal, so adding a platform
means adding it here too, and nothing in `bot/`.
"""

from __future__ import annotations

# name → label, in the registry's order.
LABELS: dict[str, str] = {"slack": "Slack", "zoom": "Zoom", "webex": "Webex", "teams": "Teams"}
