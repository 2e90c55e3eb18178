"""Scheduler: claims of sent reminders/escalations/reports, personal reminder times, province bindings.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=5), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "day", "slot", name="uq_claim_kind_subject_day_slot"),
    )
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("reminder_times", sa.JSON(), nullable=True))
    for table in ("groupbinding", "bindcode"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("scope", sa.String(length=16), nullable=False, server_default="station"))
            batch.alter_column("station_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    for table in ("bindcode", "groupbinding"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("station_id", existing_type=sa.Integer(), nullable=False)
            batch.drop_column("scope")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("reminder_times")
    op.drop_table("claim")
