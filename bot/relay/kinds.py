"""The relay's outbox kinds: posting a relayed message, and completing a captured one.

Their routing holds ids only; the text, the recipient's account and the sender's name are
sealed, and erased when the row is done (issue 10 "What must hold" 7). Both are registered in
`bot.outbox_kinds.KINDS` by name, so any process's worker runs them. The relay's services are
imported where they are used: they queue rows of these kinds themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self, override

from sqlalchemy.ext.asyncio import AsyncSession

from bot import codec
from bot.core import Core
from bot.outbox_base import Kind, Queued, Result
from bot.platform import RelayPlatform
from bot.prose import Prose
from bot.relay.routing import TOKEN_GRACE, Via
from bot.relay.seen_codec import dump_seen, load_seen
from bot.types import (
    DirectoryUser,
    DmSeen,
    PermanentFailure,
    Post,
    RetryLater,
    Sender,
    TokenGrant,
    TokenRefused,
    Unanswered,
)
from store.repositories import Audit, RelayMessages, RelayPosts, RelayThreads

log = logging.getLogger(__name__)

# How far the platform's clock may be behind ours when an unanswered post is looked for: the
# look-up starts this much before the row was queued, so a post the platform dated a little
# "earlier" is still found (a double is worse than the rare identical text matched early).
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class RelayPost(Kind):
    """Post one relayed message on the recipient's primary platform, as the sender (their
    user token) or as the bot (their name), in its conversation's order."""

    name: ClassVar[str] = "relay_post"
    relay_message_id: int
    sender_id: int
    recipient_id: int
    source: str  # the platform it was written on
    via: str
    queued_at: datetime
    to: DirectoryUser
    sender: Sender
    prose: Prose

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(
            relay_message_id=int(data["relay_message_id"]),
            sender_id=int(data["sender_id"]),
            recipient_id=int(data["recipient_id"]),
            source=data["source"],
            via=data["via"],
            queued_at=datetime.fromisoformat(data["queued_at"]),
            to=codec.load_user(data["to"]),
            sender=Sender(**data["sender"]),
            prose=Prose.load(data["prose"]),
        )

    @override
    def routing(self) -> dict[str, Any]:
        return {
            "relay_message_id": self.relay_message_id,
            "sender_id": self.sender_id,
            "recipient_id": self.recipient_id,
            "person_id": self.sender_id,  # whom an audit entry of this row concerns
            "source": self.source,
            "via": self.via,
            "queued_at": self.queued_at.isoformat(),
        }

    @override
    def sealed(self) -> dict[str, Any] | None:
        sender = {
            "name": self.sender.name,
            "platform_label": self.sender.platform_label,
            "avatar_url": self.sender.avatar_url,
        }
        return {"to": codec.dump(self.to), "sender": sender, "prose": self.prose.dump()}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        from bot.relay import people

        adapter = people.relay_adapter(core, row.platform)
        grant, thread = None, None
        if self.via == Via.USER:
            grant = await people.grant(core, self.sender_id, row.platform)
        else:
            thread = await self._thread(core, row.platform, adapter)
        duplicates = 0
        if row.unanswered:
            found, duplicates = await self._look(adapter, grant, row.platform)
            if found:  # a new thread's root is the first part found
                return {"posts": found, "thread": thread or found[0].message_id, "duplicates": 0}
        if grant is not None:
            posts = await adapter.post_as_user(grant, self.to, self.prose)
        else:
            posts = await adapter.post_as_bot(self.to, self.sender, self.prose, thread)
        first = posts[0].message_id if posts else None
        return {"posts": posts, "thread": thread or first, "duplicates": duplicates}

    async def _look(
        self, adapter: RelayPlatform, grant: TokenGrant | None, platform: str
    ) -> tuple[list[Post], int]:
        """After an unanswered attempt: the post if it was made, else none and whether posting
        again may double it (the look-up itself was impossible)."""
        try:
            since = self.queued_at - CLOCK_SKEW
            found = await adapter.find_post(grant, self.to, self.prose, since)
        except TokenRefused:
            raise
        except RetryLater as exc:  # still unknown: stay marked, look again next time
            raise Unanswered(platform, exc.reason, exc.after) from exc
        except PermanentFailure as exc:
            log.warning("relay: cannot look for an unanswered post (%s)", exc.reason)
            return [], 1
        return list(found or ()), 0

    async def _thread(self, core: Core, platform: str, adapter: RelayPlatform) -> str | None:
        if not adapter.bot_threads:
            return None
        async with core.transaction() as session:
            return await RelayThreads(session).thread_for(
                platform, self.recipient_id, self.sender_id
            )

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        """Remember every part (the echo check, later edits), mark the message delivered and,
        from the bot, make the sender the recipient's current correspondent there."""
        now = core.clock.now()
        posts: list[Post] = result["posts"]
        pairs = [(p.conversation_id, p.message_id) for p in posts]
        await RelayPosts(session).record(self.relay_message_id, row.platform, pairs, now)
        await RelayMessages(session).delivered(self.relay_message_id, now, result["duplicates"])
        if self.via == Via.BOT:
            adapter = core.platforms[row.platform]
            thread = result["thread"] if getattr(adapter, "bot_threads", False) else None
            await RelayThreads(session).touch(
                row.platform, self.recipient_id, self.sender_id, now, thread_id=thread
            )
        log.info("relay: message %s delivered in %d part(s)", self.relay_message_id, len(posts))

    @override
    async def refused(
        self, session: AsyncSession, core: Core, row: Queued, reason: str
    ) -> datetime | None:
        """The sender's token was refused: their sync fails, they are asked to link again, and
        the message waits for them (sealed, at most TOKEN_GRACE), holding back the rest."""
        if self.via != Via.USER:
            return None
        from bot.relay import tell, tokens  # tokens: the lifecycle's (token revocation)

        until = core.clock.now() + TOKEN_GRACE
        await RelayMessages(session).set_state([self.relay_message_id], "waiting")
        await tokens.token_refused(session, core, self.sender_id, row.platform)
        await tell.waiting_by_id(
            session, core, self.sender_id, self.recipient_id, self.source, row.platform
        )
        return until

    @override
    async def failed(self, session: AsyncSession, core: Core, row: Queued, reason: str) -> None:
        await RelayMessages(session).set_state(
            [self.relay_message_id], "failed", reason=reason[:64]
        )


@dataclass(frozen=True)
class RelayCapture(Kind):
    """Complete a message a subscription saw without its text or its other member (Graph and
    Webex send ids only; Slack does not name the other member): read it with the owner's token,
    then relay it as if the notification had carried it (relay-apis §2.2, §3.1)."""

    name: ClassVar[str] = "relay_capture"
    owner_person_id: int
    seen: DmSeen

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(int(data["owner_person_id"]), load_seen(data))

    @override
    def routing(self) -> dict[str, Any]:
        return {
            "owner_person_id": self.owner_person_id,
            "person_id": self.owner_person_id,
            "conversation_id": self.seen.conversation_id,
            "message_id": self.seen.message_id,
        }

    @override
    def sealed(self) -> dict[str, Any] | None:
        return dump_seen(self.seen)

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        from bot.relay import people

        adapter = people.relay_adapter(core, row.platform)
        grant = await people.grant(core, self.owner_person_id, row.platform)
        return {"seen": await adapter.fetch_dm(grant, self.seen)}

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        from bot.relay import capture  # capture queues rows of this kind

        completed: DmSeen | None = result["seen"]
        if completed is None or not completed.complete:
            now = core.clock.now()
            gone = {"message_id": self.seen.message_id}
            Audit(session).add(now, "system", "relay.capture.gone", self.owner_person_id, **gone)
            return
        await capture.seen(session, core, completed)

    @override
    async def refused(
        self, session: AsyncSession, core: Core, row: Queued, reason: str
    ) -> datetime | None:
        from bot.relay import tokens

        await tokens.token_refused(session, core, self.owner_person_id, row.platform)
        return core.clock.now() + TOKEN_GRACE
