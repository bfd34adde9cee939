"""The relay on /metrics (issue 10, "What must hold" 8): relayed messages by platform pair and
outcome, the outbox's oldest undelivered row, relay latency over the last hour, subscriptions.

Every figure is computed in the database, not counted in memory, so each process behind a load
balancer reports the same numbers and a restart loses none. Prometheus text format 0.0.4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from store.repositories import RelayFigures, Subscriptions

WINDOW = timedelta(hours=1)  # the latency summary covers messages delivered this recently
SAMPLE = 10_000  # the newest latencies the quantiles are computed from
QUANTILES = (0.5, 0.9, 0.99)


def label(value: str) -> str:
    """A label value escaped as the text format requires (backslash, quote, line feed)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank quantile of sorted values; NaN when there are none (as Prometheus
    client summaries report an empty window)."""
    if not ordered:
        return math.nan
    rank = max(math.ceil(q * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def _head(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


async def lines(session: AsyncSession, now: datetime) -> list[str]:
    """The relay's metric lines, read in the caller's session."""
    figures = RelayFigures(session)
    out = _head(
        "mio_relay_messages", "gauge", "Relayed messages by platform pair and outcome (state)."
    )
    for (source, target, state), n in sorted((await figures.messages()).items()):
        out.append(
            f'mio_relay_messages{{source="{label(source)}",target="{label(target)}",'
            f'state="{label(state)}"}} {n}'
        )
    oldest = await figures.oldest_pending()
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    out += _head(
        "mio_outbox_oldest_pending_seconds",
        "gauge",
        "Age of the oldest pending outbox row (a stuck delivery); 0 when none.",
    )
    out.append(f"mio_outbox_oldest_pending_seconds {number(age)}")
    count, total, sample = await figures.latency(now - WINDOW, SAMPLE)
    out += _head(
        "mio_relay_latency_seconds",
        "summary",
        "Relay latency, delivered_at - received_at, of messages delivered in the last hour.",
    )
    out += [
        f'mio_relay_latency_seconds{{quantile="{q}"}} {number(quantile(sample, q))}'
        for q in QUANTILES
    ]
    out += [f"mio_relay_latency_seconds_sum {number(total)}"]
    out += [f"mio_relay_latency_seconds_count {count}"]
    out += _head("mio_relay_subscriptions", "gauge", "Relay subscriptions by platform and state.")
    out += [
        f'mio_relay_subscriptions{{platform="{label(p)}",state="{label(s)}"}} {n}'
        for (p, s), n in sorted((await Subscriptions(session).counts()).items())
    ]
    return out
