"""Hashed codes: bind, staff and invitation codes are kept as hashes only (storage.stations.code_key).

The codes already stored in clear are replaced by their hashes, and so are the copies of them that a
registration in progress (its conversation state) and the audit trail hold, so every code still works and none
can be read off the database any more. The key columns stay VARCHAR(32): the hash is cut to 32 hex digits.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INVITED = "_invite"  # conversations.registration.INVITED: the invitation a registration came from
CODES_IN_AFTER = ("binding.code", "staffcode.issue", "role.join")  # audit actions whose `after` holds a code

bindcode = sa.table("bindcode", sa.column("code", sa.String))
invitation = sa.table("invitation", sa.column("code", sa.String))
state = sa.table("conversationstate", sa.column("account_id", sa.Integer), sa.column("data", sa.JSON))
audit = sa.table("auditevent", sa.column("id", sa.Integer), sa.column("action", sa.String),
                 sa.column("entity_id", sa.String), sa.column("after", sa.JSON))


def code_key(code: str) -> str:
    # storage.stations.code_key as of this revision, copied: a migration must not change when the code does.
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def _hash_keys(conn: sa.Connection, table: sa.TableClause) -> None:
    # One statement run for all the rows (executemany): an import leaves tens of thousands of invitations.
    changes = [{"old": code, "new": code_key(code)} for (code,) in conn.execute(sa.select(table.c.code)).all()]
    if changes:
        conn.execute(sa.update(table).where(table.c.code == sa.bindparam("old")).values(code=sa.bindparam("new")),
                     changes)


def _hash_registrations(conn: sa.Connection) -> None:
    for account_id, data in conn.execute(sa.select(state.c.account_id, state.c.data)).all():
        if isinstance(data, dict) and data.get(INVITED):
            conn.execute(sa.update(state).where(state.c.account_id == account_id)
                         .values(data={**data, INVITED: code_key(data[INVITED])}))


def _hash_audit(conn: sa.Connection) -> None:
    query = sa.select(audit.c.id, audit.c.action, audit.c.entity_id, audit.c.after).where(
        audit.c.action.in_((*CODES_IN_AFTER, "invitation.use", "person.create")))
    for event_id, action, entity_id, after in conn.execute(query).all():
        after = dict(after or {})
        if action in CODES_IN_AFTER and after.get("code"):
            after["code"] = code_key(after["code"])
        elif action == "person.create" and after.get("invitation"):
            after["invitation"] = code_key(after["invitation"])
        elif action == "invitation.use" and entity_id:
            entity_id = code_key(entity_id)
        else:
            continue
        conn.execute(sa.update(audit).where(audit.c.id == event_id).values(entity_id=entity_id, after=after))


def upgrade() -> None:
    conn = op.get_bind()
    _hash_keys(conn, bindcode)
    _hash_keys(conn, invitation)
    _hash_registrations(conn)
    _hash_audit(conn)


def downgrade() -> None:
    # A hash cannot be turned back into its code: the codes issued so far stop working (the old code looks them
    # up in clear) and must be issued again. Nothing else to undo: the schema did not change.
    pass
