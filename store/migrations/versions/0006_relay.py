"""The relay: message map, posts, subscriptions, bot threads, prompt throttle; ordered outbox
rows; disconnected platforms.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Written by hand against store/relay_models.py and store/models.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "relay_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_platform", sa.String(32), nullable=False),
        sa.Column("source_conversation", sa.String(255), nullable=False),
        sa.Column("source_message_id", sa.String(255), nullable=False),
        sa.Column("sender_person_id", sa.Integer(), nullable=True),
        sa.Column("recipient_person_id", sa.Integer(), nullable=True),
        sa.Column("target_platform", sa.String(32), nullable=True),
        sa.Column("via", sa.String(8), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_person_id"],
            ["people.id"],
            name=op.f("fk_relay_messages_sender_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_person_id"],
            ["people.id"],
            name=op.f("fk_relay_messages_recipient_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_messages")),
        sa.UniqueConstraint(
            "source_platform",
            "source_conversation",
            "source_message_id",
            name="uq_relay_messages_source",
        ),
    )
    op.create_index("ix_relay_messages_state_received", "relay_messages", ["state", "received_at"])
    op.create_table(
        "relay_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("relay_message_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("posted_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["relay_message_id"],
            ["relay_messages.id"],
            name=op.f("fk_relay_posts_relay_message_id_relay_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_posts")),
        sa.UniqueConstraint("platform", "conversation_id", "message_id", name="uq_relay_posts_ids"),
    )
    op.create_index("ix_relay_posts_message", "relay_posts", ["relay_message_id"])
    op.create_table(
        "relay_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_user_id", sa.String(255), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("next_renew_at", UTCDateTime, nullable=True),
        sa.Column("last_seen_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_relay_subscriptions_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_subscriptions")),
        sa.UniqueConstraint("person_id", "platform", name="uq_relay_subscriptions_person_platform"),
    )
    op.create_index("ix_relay_subscriptions_due", "relay_subscriptions", ["state", "next_renew_at"])
    op.create_index(
        "ix_relay_subscriptions_external", "relay_subscriptions", ["platform", "external_id"]
    )
    op.create_table(
        "relay_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("correspondent_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.String(255), nullable=True),
        sa.Column("last_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_relay_threads_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["correspondent_id"],
            ["people.id"],
            name=op.f("fk_relay_threads_correspondent_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_threads")),
        sa.UniqueConstraint(
            "platform", "person_id", "correspondent_id", name="uq_relay_threads_pair"
        ),
    )
    op.create_index(
        "ix_relay_threads_thread", "relay_threads", ["platform", "person_id", "thread_id"]
    )
    op.create_index(
        "ix_relay_threads_latest", "relay_threads", ["platform", "person_id", "last_at"]
    )
    op.create_table(
        "relay_prompts",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("other_person_id", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "person_id", "other_person_id", name=op.f("pk_relay_prompts")
        ),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("ordering_key", sa.String(255), nullable=True))
        batch.create_index("ix_outbox_ordering", ["ordering_key", "state", "id"])
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("disconnected_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("disconnected_reason", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("disconnected_reason")
        batch.drop_column("disconnected_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_ordering")
        batch.drop_column("ordering_key")
    op.drop_table("relay_prompts")
    op.drop_table("relay_threads")
    op.drop_table("relay_subscriptions")
    op.drop_table("relay_posts")
    op.drop_table("relay_messages")
