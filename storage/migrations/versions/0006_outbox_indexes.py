"""Outbox indexes for a round of 100,000: partial ones, covering only the rows each query looks for.

The sender's claim scans the due rows in order (channel, next_attempt_at, id) among those still to deliver,
instead of sorting every pending row; a reminder row, once sent, leaves every index but the primary key.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = [  # name, columns, condition: as storage/models.py Outbox
    ("ix_outbox_due", ["channel", "next_attempt_at", "id"], "status IN ('pending', 'sending')"),
    ("ix_outbox_alert_id", ["alert_id"], "alert_id IS NOT NULL"),
    ("ix_outbox_failed", ["created_at"], "status = 'failed'"),
]
PLAIN = [("ix_outbox_alert_id", "alert_id"), ("ix_outbox_next_attempt_at", "next_attempt_at"),
         ("ix_outbox_status", "status")]


def upgrade() -> None:
    for name, _column in PLAIN:
        op.drop_index(name, table_name="outbox")
    for name, columns, where in PARTIAL:
        op.create_index(name, "outbox", columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, _columns, _where in PARTIAL:
        op.drop_index(name, table_name="outbox")
    for name, column in PLAIN:
        op.create_index(name, "outbox", [column])
