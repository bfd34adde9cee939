"""The relay's rows: the message map, the posts Mio made, the bot's threads per correspondent
and the prompt throttle. Plain values in and out; never any message text.

Every once-only guarantee is a unique key or a conditional write whose row count says who won,
so two processes handling the same message (or telling the same sender) never both act.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update

from store.relay_models import RelayMessage, RelayPost, RelayPrompt, RelayThread
from store.repositories.base import Repo
from store.upsert import insert_ignore


class RelayMessages(Repo):
    async def add(self, row: dict[str, Any]) -> int | None:
        """Record a captured message once per source ids; its id, or None when it was already
        recorded (a redelivery, or the same message seen through the other member)."""
        inserted = await insert_ignore(
            self.session,
            RelayMessage,
            {"delivered_at": None, "duplicates": 0, **row},
            ["source_platform", "source_conversation", "source_message_id"],
        )
        if not inserted:
            return None
        found = await self.session.scalar(
            select(RelayMessage.id).where(
                RelayMessage.source_platform == row["source_platform"],
                RelayMessage.source_conversation == row["source_conversation"],
                RelayMessage.source_message_id == row["source_message_id"],
            )
        )
        return None if found is None else int(found)

    async def get(self, message_id: int) -> RelayMessage | None:
        return await self.session.get(RelayMessage, message_id)

    async def set_state(self, message_ids: Sequence[int], state: str, **values: Any) -> None:
        if message_ids:
            await self.session.execute(
                update(RelayMessage)
                .where(RelayMessage.id.in_(message_ids))
                .values(state=state, **values)
            )

    async def delivered(self, message_id: int, at: datetime, duplicates: int) -> None:
        await self.session.execute(
            update(RelayMessage)
            .where(RelayMessage.id == message_id)
            .values(
                state="delivered",
                delivered_at=at,
                duplicates=RelayMessage.duplicates + duplicates,
            )
        )


class RelayPosts(Repo):
    async def record(
        self, message_id: int, platform: str, posts: Sequence[tuple[str, str]], at: datetime
    ) -> None:
        """Every part Mio posted, by (conversation, message id); a part already recorded (a
        post found again after an unanswered attempt) is left as it is."""
        for part, (conversation, post_id) in enumerate(posts):
            await insert_ignore(
                self.session,
                RelayPost,
                {
                    "relay_message_id": message_id,
                    "platform": platform,
                    "conversation_id": conversation,
                    "message_id": post_id,
                    "part": part,
                    "posted_at": at,
                },
                ["platform", "conversation_id", "message_id"],
            )

    async def is_echo(self, platform: str, conversation: str, message_id: str) -> bool:
        found = await self.session.scalar(
            select(RelayPost.id).where(
                RelayPost.platform == platform,
                RelayPost.conversation_id == conversation,
                RelayPost.message_id == message_id,
            )
        )
        return found is not None


class RelayThreads(Repo):
    """The bot's 1:1 with `person` on `platform`, per correspondent it speaks for."""

    async def thread_for(self, platform: str, person_id: int, correspondent_id: int) -> str | None:
        return await self.session.scalar(
            select(RelayThread.thread_id).where(
                RelayThread.platform == platform,
                RelayThread.person_id == person_id,
                RelayThread.correspondent_id == correspondent_id,
            )
        )

    async def by_thread(self, platform: str, person_id: int, thread_id: str) -> int | None:
        """Whose thread `thread_id` is in the person's 1:1 with the bot."""
        return await self.session.scalar(
            select(RelayThread.correspondent_id).where(
                RelayThread.platform == platform,
                RelayThread.person_id == person_id,
                RelayThread.thread_id == thread_id,
            )
        )

    async def current(self, platform: str, person_id: int) -> int | None:
        """The correspondent who last wrote to the person through the bot here (or whom the
        person last named)."""
        return await self.session.scalar(
            select(RelayThread.correspondent_id)
            .where(RelayThread.platform == platform, RelayThread.person_id == person_id)
            .order_by(RelayThread.last_at.desc(), RelayThread.id.desc())
            .limit(1)
        )

    async def touch(
        self,
        platform: str,
        person_id: int,
        correspondent_id: int,
        at: datetime,
        thread_id: str | None = None,
    ) -> None:
        """Make the correspondent the current one; keep a thread id once it is known."""
        row = {
            "platform": platform,
            "person_id": person_id,
            "correspondent_id": correspondent_id,
            "thread_id": thread_id,
            "last_at": at,
        }
        keys = ["platform", "person_id", "correspondent_id"]
        if await insert_ignore(self.session, RelayThread, row, keys):
            return
        values: dict[str, Any] = {"last_at": at}
        if thread_id is not None:
            values["thread_id"] = thread_id
        await self.session.execute(
            update(RelayThread)
            .where(
                RelayThread.platform == platform,
                RelayThread.person_id == person_id,
                RelayThread.correspondent_id == correspondent_id,
            )
            .values(**values)
        )


class RelayPrompts(Repo):
    async def claim(
        self, kind: str, person_id: int, other_person_id: int, now: datetime, since: datetime
    ) -> bool:
        """True for exactly one caller per (kind, person, other) per period: the one whose
        insert created the row, or whose conditional update moved a `last_at` no later than
        `since` (now minus the period) to now."""
        row = {
            "kind": kind,
            "person_id": person_id,
            "other_person_id": other_person_id,
            "last_at": now,
        }
        if await insert_ignore(
            self.session, RelayPrompt, row, ["kind", "person_id", "other_person_id"]
        ):
            return True
        result = await self.session.execute(
            update(RelayPrompt)
            .where(
                and_(
                    RelayPrompt.kind == kind,
                    RelayPrompt.person_id == person_id,
                    RelayPrompt.other_person_id == other_person_id,
                ),
                RelayPrompt.last_at <= since,
            )
            .values(last_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
