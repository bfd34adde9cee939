"""The base of every outbox kind: the row being run (`Queued`) and the `Kind` interface.

Apart from `bot.outbox_kinds` (which holds the core's kinds and the `KINDS` table) so that
kinds living in their own package (`bot.relay.kinds`) can subclass it without importing the
table that lists them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core

Result = dict[str, Any]  # what `run` learnt, for `done` (a message ref, a revocation outcome)


@dataclass(frozen=True)
class Queued:
    """The row being run, as the worker claimed it."""

    id: int
    platform: str
    sync_id: int | None
    attempts: int
    # The last attempt was sent but got no answer (`Unanswered`): it may have reached the
    # platform, so a kind that posts looks for it before posting again.
    unanswered: bool = False


class Kind(abc.ABC):
    """One kind of outbox row: its payload, how it runs, and what follows success or failure."""

    name: ClassVar[str]
    # A call to the row's platform: it takes a turn at the platform's send gate first.
    paced: ClassVar[bool] = True
    # Long work (an import): run beside the batch, so the DMs behind it are not held up.
    background: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def load(cls, data: dict[str, Any]) -> Self:
        """The kind back from its row's routing and unsealed payload."""

    def routing(self) -> dict[str, Any]:
        return {}

    def sealed(self) -> dict[str, Any] | None:
        return None

    @abc.abstractmethod
    async def run(self, core: Core, row: Queued) -> Result:
        """The platform call (or long work); its result is kept for `done`."""

    # A hook with nothing to do by default (most kinds need none), not an abstract method.
    async def done(  # noqa: B027
        self, session: AsyncSession, core: Core, row: Queued, result: Result
    ) -> None:
        """What follows a success, in the transaction that finishes the row (none by default)."""

    async def failed(  # noqa: B027
        self, session: AsyncSession, core: Core, row: Queued, reason: str
    ) -> None:
        """What follows a permanent failure, in the transaction that fails the row (by default,
        nothing beyond the audit entry the worker writes)."""

    async def refused(
        self, session: AsyncSession, core: Core, row: Queued, reason: str
    ) -> datetime | None:
        """A person's user token was refused (`TokenRefused`): the deadline until which the
        row waits for them to link again (the worker then keeps it `waiting`, sealed), or None
        to fail it as any permanent failure (the default)."""
        return None
