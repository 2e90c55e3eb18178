"""Trust: unreachable accounts, processed updates, code attempts, anonymisation, deletion requests.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("unreachable_at", TZ, nullable=True))
        batch.add_column(sa.Column("unreachable_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("anonymized_at", TZ, nullable=True))
    op.create_table(
        "processedupdate",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("update_id", sa.String(length=64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel", "update_id"),
    )
    op.create_index("ix_processedupdate_at", "processedupdate", ["at"])
    op.create_table(
        "attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attempt_subject", "attempt", ["subject"])
    op.create_index("ix_attempt_at", "attempt", ["at"])
    op.create_table(
        "deletionrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deletionrequest_person_id", "deletionrequest", ["person_id"])
    op.create_index("ix_deletionrequest_station_id", "deletionrequest", ["station_id"])


def downgrade() -> None:
    for table in ("deletionrequest", "attempt", "processedupdate"):
        op.drop_table(table)
    with op.batch_alter_table("person") as batch:
        batch.drop_column("anonymized_at")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("unreachable_reason")
        batch.drop_column("unreachable_at")
