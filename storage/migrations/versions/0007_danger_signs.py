"""Danger signs: the station's phone, partial declarations and declarations without a thermometer, and what
an alert's escalation and its undelivered warning need.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("station") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=False, server_default=""))
    with op.batch_alter_table("declaration") as batch:
        batch.alter_column("temperature", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("partial", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("escalated_at", TZ, nullable=True))
        batch.add_column(sa.Column("undelivered_warned_at", TZ, nullable=True))
        batch.add_column(sa.Column("words", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("words")
        batch.drop_column("undelivered_warned_at")
        batch.drop_column("escalated_at")
    with op.batch_alter_table("declaration") as batch:
        batch.drop_column("partial")
        batch.alter_column("temperature", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("station") as batch:
        batch.drop_column("phone")
