"""Hub sign-in: sessions and single-use tickets; an index for the User Sync page's filters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Written by hand against store/models.py (HubSession, HubTicket, ix_syncs_platform_status).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("via", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_hub_sessions_token_hash")),
    )
    op.create_index("ix_hub_sessions_expires_at", "hub_sessions", ["expires_at"])
    op.create_table(
        "hub_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_hub_tickets_token_hash")),
    )
    op.create_index("ix_hub_tickets_expires_at", "hub_tickets", ["expires_at"])
    op.create_index("ix_syncs_platform_status", "syncs", ["platform", "status", "person_id"])


def downgrade() -> None:
    op.drop_index("ix_syncs_platform_status", table_name="syncs")
    op.drop_index("ix_hub_tickets_expires_at", table_name="hub_tickets")
    op.drop_table("hub_tickets")
    op.drop_index("ix_hub_sessions_expires_at", table_name="hub_sessions")
    op.drop_table("hub_sessions")
