"""Initial schema: people, accounts, syncs, grants, outbox, events, pending actions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written by hand against store/models.py (names follow models.NAMING); the test
tests/store/test_migrations.py proves `upgrade head` matches the models on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# UTCDateTime in the models; its conversion is Python-side, the column is plain timestamptz.
UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace_id", sa.String(255), nullable=False),
        sa.Column("workspace_name", sa.String(255), nullable=False),
        sa.Column("account_count", sa.Integer(), nullable=False),
        sa.Column("last_import_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("platform", name=op.f("pk_connections")),
    )

    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match_key", sa.String(320), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("primary_platform", sa.String(32), nullable=True),
        sa.Column("primary_chosen_by_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("match_key", name=op.f("uq_people_match_key")),
    )
    op.create_index(op.f("ix_people_display_name"), "people", ["display_name"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_user_id", sa.String(255), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("is_guest", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_accounts_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("platform", "platform_user_id", name=op.f("uq_accounts_platform_user")),
    )
    op.create_index(op.f("ix_accounts_person"), "accounts", ["person_id"])
    op.create_index(op.f("ix_accounts_email"), "accounts", ["email"])

    op.create_table(
        "syncs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("primary_platform", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(320), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("token_used", sa.Boolean(), nullable=False),
        sa.Column("token_expires_at", UTCDateTime, nullable=True),
        sa.Column("allowed_at", UTCDateTime, nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_due_at", UTCDateTime, nullable=True),
        sa.Column("dm_ref", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_syncs")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_syncs_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("person_id", "platform", name=op.f("uq_syncs_person_platform")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_syncs_token_hash")),
    )
    op.create_index(op.f("ix_syncs_due"), "syncs", ["status", "next_due_at"])

    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_user_id", sa.String(255), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_grants_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("person_id", "platform", name=op.f("uq_grants_person_platform")),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        # No foreign key: a reset deletes the sync, but its token revocation must still go out.
        sa.Column("sync_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("claim_id", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_outbox_due"), "outbox", ["state", "next_attempt_at"])

    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("platform", "delivery_id", name=op.f("pk_processed_events")),
    )

    op.create_table(
        "pending_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_user_id", sa.String(255), nullable=False),
        sa.Column("command", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_actions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pending_actions_token_hash")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        # No foreign key: the audit trail outlives the people it mentions.
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_at"), "audit_log", ["at"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and constraints.
    for table in (
        "audit_log",
        "pending_actions",
        "processed_events",
        "outbox",
        "grants",
        "syncs",
        "accounts",
        "people",
        "connections",
    ):
        op.drop_table(table)
