"""Queries, as objects that receive their session. Plain values in and out: no bot types.

One module per kind of state; callers import the repositories from here.
"""

from store.repositories.base import Repo
from store.repositories.directory import Directory
from store.repositories.outbox import Outbox
from store.repositories.records import Audit, Connections, Events, PendingActions
from store.repositories.relay import RelayMessages, RelayPosts, RelayPrompts, RelayThreads
from store.repositories.subscriptions import Disconnections, RelayFigures, Subscriptions
from store.repositories.syncs import Grants, Syncs

__all__ = [
    "Audit",
    "Connections",
    "Directory",
    "Disconnections",
    "Events",
    "Grants",
    "Outbox",
    "PendingActions",
    "RelayFigures",
    "RelayMessages",
    "RelayPosts",
    "RelayPrompts",
    "RelayThreads",
    "Repo",
    "Subscriptions",
    "Syncs",
]
