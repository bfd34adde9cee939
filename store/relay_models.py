"""Tables of the relay (migration 0006): the message map, the posts Mio made, people's
subscriptions, the bot's threads per correspondent, and the prompt throttle.

Message text is never stored here: only ids, people and outcomes (the text waits sealed in the
outbox until it is delivered, then it is erased).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class RelayMessage(Base):
    """One captured message and what became of it: the map's captured side.

    Inserted in the transaction that queues its delivery; the unique source ids are what makes
    a redelivered notification, or the same message seen through two people's subscriptions,
    change nothing.
    """

    __tablename__ = "relay_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_platform: Mapped[str] = mapped_column(String(32))
    source_conversation: Mapped[str] = mapped_column(String(255))
    source_message_id: Mapped[str] = mapped_column(String(255))
    sender_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    recipient_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    target_platform: Mapped[str | None] = mapped_column(String(32))
    via: Mapped[str | None] = mapped_column(String(8))  # "user" | "bot"
    # queued | delivered | waiting | refused | failed | expired | dropped
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    duplicates: Mapped[int] = mapped_column(Integer, default=0)  # posts that may be doubled
    __table_args__ = (
        UniqueConstraint(
            "source_platform",
            "source_conversation",
            "source_message_id",
            name="uq_relay_messages_source",
        ),
        Index("ix_relay_messages_state_received", "state", "received_at"),
    )


class RelayPost(Base):
    """A message Mio posted for the relay (one per part of a split message): the map's
    delivered side, and how an echo through anyone's subscription is recognised."""

    __tablename__ = "relay_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    relay_message_id: Mapped[int] = mapped_column(
        ForeignKey("relay_messages.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    part: Mapped[int] = mapped_column(Integer, default=0)
    posted_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("platform", "conversation_id", "message_id", name="uq_relay_posts_ids"),
        Index("ix_relay_posts_message", "relay_message_id"),
    )


class RelaySubscription(Base):
    """A person's user-token subscription on one of their secondary platforms."""

    __tablename__ = "relay_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))  # "active" | "failed"
    expires_at: Mapped[datetime | None]
    # When the scheduler renews it next; claimed by moving it forward (one process renews).
    next_renew_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]  # the newest message seen: where a backfill starts
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("person_id", "platform", name="uq_relay_subscriptions_person_platform"),
        Index("ix_relay_subscriptions_due", "state", "next_renew_at"),
        Index("ix_relay_subscriptions_external", "platform", "external_id"),
    )


class RelayThread(Base):
    """The bot's 1:1 with a person, about one correspondent it speaks for: the Slack thread
    kept for them, and when that correspondent last wrote (the current one elsewhere)."""

    __tablename__ = "relay_threads"
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    correspondent_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    last_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("platform", "person_id", "correspondent_id", name="uq_relay_threads_pair"),
        Index("ix_relay_threads_thread", "platform", "person_id", "thread_id"),
        Index("ix_relay_threads_latest", "platform", "person_id", "last_at"),
    )


class RelayPrompt(Base):
    """When a person was last told something about a correspondent (`kind`: "told" the
    sender why a message was not relayed, "prompted" someone to consent again), so it is said
    once per MIO_RELAY_PROMPT_EVERY; `other_person_id` 0 when it concerns nobody else."""

    __tablename__ = "relay_prompts"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    other_person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_at: Mapped[datetime]
