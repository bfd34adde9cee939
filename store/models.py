"""Tables. Correctness under several processes comes from the unique constraints here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, override

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    # Unnamed CHECK constraints cannot be dropped by SQLite batch migrations; name them all.
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both databases (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @override
    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        # SQLite drops the offset and keeps the wall time, and compares datetimes as text:
        # only UTC wall times read back correctly and sort in time order.
        return value.astimezone(UTC)

    @override
    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Connection(Base):
    """A connected platform: its workspace and what the last import found."""

    __tablename__ = "connections"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(255), default="")
    workspace_name: Mapped[str] = mapped_column(String(255), default="")
    account_count: Mapped[int] = mapped_column(Integer, default=0)
    last_import_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Tokens an admin granted the bot itself (e.g. Webex directory access), Fernet-sealed.
    admin_grant: Mapped[str | None] = mapped_column(Text)
    # The platform removed the app (uninstalled, deauthorized): nothing is sent to it until it
    # is connected again (migration 0006).
    disconnected_at: Mapped[datetime | None]
    disconnected_reason: Mapped[str | None] = mapped_column(String(64))


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Matching key: the normalised email, or "<platform>:<user id>" for accounts without one.
    match_key: Mapped[str] = mapped_column(String(320), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    primary_platform: Mapped[str | None] = mapped_column(String(32))
    primary_chosen_by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_people_display_name", "display_name"),)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_guest: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seen_at: Mapped[datetime]  # last import that listed it; older → vanished
    __table_args__ = (
        UniqueConstraint("platform", "platform_user_id", name="uq_accounts_platform_user"),
        Index("ix_accounts_person", "person_id"),
        Index("ix_accounts_email", "email"),
    )


class Sync(Base):
    """One person × secondary platform. Absent row = not created."""

    __tablename__ = "syncs"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    primary_platform: Mapped[str] = mapped_column(String(32))  # where the consent DM goes
    requested_by: Mapped[str] = mapped_column(String(320), default="")
    requested_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The consent button/OAuth state: a random token, stored hashed; one use, expires.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_used: Mapped[bool] = mapped_column(Boolean, default=False)
    token_expires_at: Mapped[datetime | None]
    allowed_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime | None]  # next reminder or expiry, for pending syncs
    # none_as_null: None must be SQL NULL (so `IS NULL` finds it), not the JSON text 'null'.
    dm_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    __table_args__ = (
        UniqueConstraint("person_id", "platform", name="uq_syncs_person_platform"),
        Index("ix_syncs_due", "status", "next_due_at"),
    )


class Grant(Base):
    """A person's OAuth tokens on a secondary platform, encrypted with Fernet."""

    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(255))
    tokens: Mapped[str] = mapped_column(Text)  # Fernet token of the JSON token set
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("person_id", "platform", name="uq_grants_person_platform"),)


class OutboxItem(Base):
    """A platform call caused by a state change, written in the same transaction."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str | None] = mapped_column(Text)  # Fernet-encrypted part (tokens to revoke)
    sync_id: Mapped[int | None] = mapped_column(Integer)
    # pending | done | failed | waiting (a relayed message held until its sender links again)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    claim_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    # Rows with the same key are delivered one at a time in id order (a relayed conversation):
    # a row waits while an older one with its key is still pending or waiting (migration 0006).
    ordering_key: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_ordering", "ordering_key", "state", "id"),
    )


class ProcessedEvent(Base):
    """Webhook deliveries already handled: a repeat changes nothing."""

    __tablename__ = "processed_events"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime]


class PendingAction(Base):
    """An admin command waiting for its Confirm button (sync, reset, unsync)."""

    __tablename__ = "pending_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    actor: Mapped[str] = mapped_column(String(320))
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(255))
    command: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime]
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))  # email, "platform:user", "system" or "cli"
    action: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (Index("ix_audit_at", "at"),)


# --- The web Hub (migration 0003) --------------------------------------------------------------


class HubSession(Base):
    """A signed-in Hub admin. The cookie holds a random id; only its hash is stored, so a
    leaked database cannot be replayed as a session."""

    __tablename__ = "hub_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    actor: Mapped[str] = mapped_column(String(320))  # who, in the audit log
    name: Mapped[str] = mapped_column(String(255), default="")  # shown in the Hub's header
    via: Mapped[str] = mapped_column(String(32))  # "link" or the platform signed in with
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    __table_args__ = (Index("ix_hub_sessions_expires_at", "expires_at"),)


class HubTicket(Base):
    """A single-use, short-lived Hub secret: a `mio hub-link` sign-in link or an OAuth state."""

    __tablename__ = "hub_tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "link" | "oauth"
    platform: Mapped[str] = mapped_column(String(32), default="")  # for "oauth"
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_hub_tickets_expires_at", "expires_at"),)


# The User Sync page filters people by a sync's platform and status at 100,000 people.
Index("ix_syncs_platform_status", Sync.platform, Sync.status, Sync.person_id)


# --- Directory imports (migration 0004) --------------------------------------------------------


class ImportRun(Base):
    """The latest directory import of each platform, one row a platform.

    The row is the guard that lets one import per platform run at a time across every process
    (taken by a conditional UPDATE, store/imports.py) and its progress, which any process can
    report. A running import renews `heartbeat_at`; one whose process died stops renewing it,
    and its guard expires.
    """

    __tablename__ = "import_runs"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))  # which run holds the guard
    state: Mapped[str] = mapped_column(String(16))  # "running" | "done" | "failed"
    started_by: Mapped[str] = mapped_column(String(320))  # an actor, as in the audit log
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    seen: Mapped[int] = mapped_column(Integer, default=0)  # accounts read so far
    sentence: Mapped[str] = mapped_column(Text, default="")  # the outcome, in one sentence


# --- Rate gates (migration 0005) ---------------------------------------------------------------


class RateGateRow(Base):
    """The pace of one kind of call to a platform, shared by every process (bot/rate_gate.py).

    `marks` are the wall-clock times (epoch seconds) of the latest calls counted, at most the
    pace's `calls` of them; a process takes a turn by rewriting them `WHERE version` is still
    the one it read, so of two processes that read the same marks only one gets the turn.
    `paused_until` is the latest Retry-After a 429 asked for, seen by every process.
    """

    __tablename__ = "rate_gates"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # "slack:send"
    marks: Mapped[list[float]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None]


# The relay's tables live in their own module; importing it here registers them on Base.
from store import relay_models as relay_models  # noqa: E402
