"""The import guard: one directory import per platform at a time, across every process.

Each claim is one conditional statement whose row count says who won, never a read followed
by a write: the row is inserted if the platform never had an import, else taken over only
`WHERE` no import is running or the running one stopped renewing its heartbeat (its process
died). Every later write names the run it belongs to, so a run whose guard expired and was
taken over cannot overwrite its successor's progress.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from store.models import ImportRun
from store.repositories import Repo
from store.upsert import insert_ignore

RUNNING, DONE, FAILED = "running", "done", "failed"


class ImportRuns(Repo):
    async def claim(
        self, platform: str, run_id: str, actor: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take the platform's guard for `run_id`; False when another live import holds it."""
        fresh = {
            "run_id": run_id,
            "state": RUNNING,
            "started_by": actor,
            "started_at": now,
            "heartbeat_at": now,
            "finished_at": None,
            "seen": 0,
            "sentence": "",
        }
        # Inserting first makes the transaction start with a write, so SQLite takes its write
        # lock before anything is read and two processes cannot both decide from a stale read.
        if await insert_ignore(
            self.session, ImportRun, {"platform": platform, **fresh}, ["platform"]
        ):
            return True
        taken = await self.session.execute(
            update(ImportRun)
            .where(
                and_(
                    ImportRun.platform == platform,
                    or_(ImportRun.state != RUNNING, ImportRun.heartbeat_at < now - lease),
                )
            )
            .values(fresh)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def beat(
        self, platform: str, run_id: str, now: datetime, seen: int | None = None
    ) -> bool:
        """Renew the guard (and record progress); False when this run no longer holds it."""
        values: dict[str, object] = {"heartbeat_at": now}
        if seen is not None:
            values["seen"] = seen
        return await self._mine(platform, run_id, values)

    async def finish(
        self, platform: str, run_id: str, *, ok: bool, sentence: str, seen: int, now: datetime
    ) -> bool:
        """Release the guard with the outcome; False when this run no longer held it."""
        values: dict[str, object] = {
            "state": DONE if ok else FAILED,
            "sentence": sentence,
            "seen": seen,
            "finished_at": now,
            "heartbeat_at": now,
        }
        return await self._mine(platform, run_id, values)

    async def get(self, platform: str) -> ImportRun | None:
        return await self.session.get(ImportRun, platform, populate_existing=True)

    async def all(self) -> dict[str, ImportRun]:
        rows = (await self.session.execute(select(ImportRun))).scalars()
        return {r.platform: r for r in rows}

    async def _mine(self, platform: str, run_id: str, values: dict[str, object]) -> bool:
        result = await self.session.execute(
            update(ImportRun)
            .where(
                and_(
                    ImportRun.platform == platform,
                    ImportRun.run_id == run_id,
                    ImportRun.state == RUNNING,
                )
            )
            .values(values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
