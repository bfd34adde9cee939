"""The stand-ins by platform name, written out by hand like the adapters' registry."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.base import FakeService
from sandbox.org import Org
from sandbox.slack import SlackSandbox
from sandbox.teams import TeamsSandbox
from sandbox.webex import WebexSandbox
from sandbox.zoom import ZoomSandbox

SANDBOXES: dict[str, Callable[[Org], FakeService]] = {
    "slack": SlackSandbox,
    "zoom": ZoomSandbox,
    "webex": WebexSandbox,
    "teams": TeamsSandbox,
}
