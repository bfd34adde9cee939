"""A platform's published per-method rate limit, enforced the way the platform answers it.

Slack counts calls per method, workspace and app in a window of a minute and refuses the call
over the limit with HTTP 429, `Retry-After: <seconds>` and `{"ok": false, "error":
"ratelimited"}` (platform-apis.md §G; https://docs.slack.dev/apis/web-api/rate-limits). A
stand-in that never refuses would let a client that hammers pass every test; one that refuses
faithfully shows whether the client paces itself and waits when told to.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Window:
    """At most `calls` calls in any `per` seconds; the call over it learns how long to wait."""

    calls: int
    per: float
    clock: Callable[[], float] = time.monotonic
    _seen: deque[float] = field(default_factory=deque)
    refused: int = 0  # how many calls this window turned away, for tests and the demo

    def admit(self) -> int | None:
        """None when the call may go (and it is counted); else whole seconds to wait."""
        now = self.clock()
        while self._seen and self._seen[0] <= now - self.per:
            self._seen.popleft()
        if len(self._seen) < self.calls:
            self._seen.append(now)
            return None
        self.refused += 1
        return max(1, math.ceil(self._seen[0] + self.per - now))
