"""The core's `RateGate`: each platform's pace and 429 pause kept in the database.

Every process that calls a platform takes its turns here, so N processes together send at the
platform's rate, not N times it, and a pause one of them was asked for holds them all. A turn
is a read and then a compare-and-set of the gate's row (store/rate_gates.py) in a transaction
of its own: nothing is locked while a process waits for the window to move on.

The window runs on the wall clock shared by the processes (`time.time`); a pause is a schedule
the caller writes and reads with its own clock, as it does `next_attempt_at`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.platform import Pace
from store.rate_gates import GateState, RateGates

Sleep = Callable[[float], Awaitable[None]]


class DatabaseRateGate:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sleep = sleep
        # The callers in this process take a key's turns one at a time: the database decides
        # between processes, and the callers of one process never race each other for its row
        # (fifty posts of one batch each retrying a lost swap cost fifty squared statements).
        self._turns: dict[str, asyncio.Lock] = {}

    def _turn(self, key: str) -> asyncio.Lock:
        return self._turns.setdefault(key, asyncio.Lock())

    async def take(self, key: str, pace: Pace) -> float:
        async with self._turn(key):
            while True:
                state = await self._state(key)
                now = self._clock()
                wait = pace.delay(state.marks, now)
                if wait > 0:
                    await self._sleep(wait)
                elif await self._swap(key, state, pace.counted(state.marks, now)):
                    return now
                # else another process took a turn since the read: look again at once

    async def answered(self, key: str, pace: Pace, mark: float) -> None:
        async with self._turn(key):
            while True:
                state = await self._state(key)
                if await self._swap(key, state, pace.moved(state.marks, mark, self._clock())):
                    return

    async def pause(self, key: str, until: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await RateGates(session).pause(key, until)

    async def paused_until(self, key: str) -> datetime | None:
        async with self._sessions() as session:
            state = await RateGates(session).get(key)
        return state.paused_until if state is not None else None

    async def _state(self, key: str) -> GateState:
        async with self._sessions() as session:
            state = await RateGates(session).get(key)
        if state is not None:
            return state
        async with self._sessions() as session, session.begin():
            await RateGates(session).create(key)
        return GateState([], 0, None)  # or another process's first turn: the swap will tell

    async def _swap(self, key: str, state: GateState, marks: list[float]) -> bool:
        async with self._sessions() as session, session.begin():
            return await RateGates(session).swap(key, state.version, marks)
