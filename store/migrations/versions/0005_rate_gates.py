"""Rate gates: each platform's pace and 429 pause, shared by every process.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Written by hand against store/models.py (RateGateRow).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_gates",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("paused_until", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_gates")),
    )


def downgrade() -> None:
    op.drop_table("rate_gates")
