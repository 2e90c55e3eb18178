"""The Alembic migrations build exactly the tables of storage/models.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from storage.db import Database
from storage.invitations import find_invitation, use_invitation
from storage.migrate import downgrade, schema_diff, upgrade
from storage.stations import code_key, redeem_bind_code, redeem_staff_code

POSTGRES_URL = os.environ.get("CACHLY_TEST_POSTGRES_URL")


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def drop_version_table(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()


async def check_round_trip(url: str) -> None:
    await upgrade(url)
    assert await schema_diff(url) == []
    assert await table_names(url) == set(SQLModel.metadata.tables) | {"alembic_version"}
    await upgrade(url)  # already at head: nothing to do, no error
    await downgrade(url)
    assert await table_names(url) <= {"alembic_version"}


async def test_sqlite_upgrade_matches_models(tmp_path: Path) -> None:
    await check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


async def test_schema_diff_sees_a_missing_index(tmp_path: Path) -> None:
    """The check is not vacuous: a schema that drifted from the models shows up."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    await upgrade(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_outbox_due"))
    finally:
        await engine.dispose()
    diff = await schema_diff(url)
    assert [d[0] for d in diff] == ["add_index"]


async def test_postgresql_upgrade_matches_models() -> None:
    if not POSTGRES_URL:
        pytest.skip("set CACHLY_TEST_POSTGRES_URL=postgresql+asyncpg://... to test migrations on PostgreSQL")
    if await table_names(POSTGRES_URL) - {"alembic_version"}:
        pytest.skip("the CACHLY_TEST_POSTGRES_URL database is not empty; refusing to touch its tables")
    try:
        await check_round_trip(POSTGRES_URL)
    finally:
        await downgrade(POSTGRES_URL)  # leave the shared database as found
        await drop_version_table(POSTGRES_URL)


# --- 0008: the codes stored in clear before it become hashes, and still work ---------------------------------

CLEAR_BIND, CLEAR_STAFF, CLEAR_INVITE, CLEAR_REGISTERING = "ABCD2345", "STAF2345", "INVITE234567", "REGIST234567"
FAR = datetime(2099, 1, 1, tzinfo=UTC)
TABLES = {
    "station": ("id", "code", "name", "full_name", "unit_type", "search_key", "active"),
    "account": ("id", "channel", "external_id", "language", "created_at"),
    "bindcode": ("code", "station_id", "scope", "created_at", "expires_at", "used_at"),
    "invitation": ("code", "station_id", "data", "created_at", "expires_at"),
    "conversationstate": ("account_id", "flow", "step", "data", "updated_at"),
    "auditevent": ("id", "at", "actor", "action", "entity", "entity_id", "after"),
}
TYPES = {"data": sa.JSON, "after": sa.JSON, "active": sa.Boolean, "id": sa.Integer, "station_id": sa.Integer,
         "account_id": sa.Integer, **{c: sa.DateTime(timezone=True) for c in
                                      ("created_at", "expires_at", "used_at", "updated_at", "at")}}


def at_0007(name: str) -> sa.TableClause:
    """A table as revision 0007 left it, written to without the models (they follow head)."""
    return sa.table(name, *(sa.column(c, TYPES.get(c, sa.String)) for c in TABLES[name]))


async def write_clear_codes_at_0007(url: str) -> None:
    now = datetime.now(UTC)
    rows = {
        "station": [{"id": 1, "code": "99001", "name": "Trạm thử", "full_name": "", "unit_type": "",
                     "search_key": "tram thu", "active": True}],
        "account": [{"id": 1, "channel": "telegram", "external_id": "100", "language": "vi", "created_at": now}],
        "bindcode": [{"code": code, "station_id": 1, "scope": scope, "created_at": now, "expires_at": FAR,
                      "used_at": None} for code, scope in ((CLEAR_BIND, "station"), (CLEAR_STAFF, "staff"))],
        "invitation": [{"code": code, "station_id": 1, "data": {"full_name": "Trần Thị Bình"}, "created_at": now,
                        "expires_at": FAR} for code in (CLEAR_INVITE, CLEAR_REGISTERING)],
        "conversationstate": [{"account_id": 1, "flow": "registration", "step": "summary", "updated_at": now,
                               "data": {"full_name": "Trần Thị Bình", "_invite": CLEAR_REGISTERING}}],
        "auditevent": [
            {"id": 1, "at": now, "actor": "cli", "action": "binding.code", "entity": "station", "entity_id": "1",
             "after": {"code": CLEAR_BIND, "expires_at": FAR.isoformat()}},
            {"id": 2, "at": now, "actor": "cli", "action": "staffcode.issue", "entity": "station", "entity_id": "1",
             "after": {"code": CLEAR_STAFF, "expires_at": FAR.isoformat()}},
            {"id": 3, "at": now, "actor": "system", "action": "invitation.use", "entity": "invitation",
             "entity_id": CLEAR_INVITE, "after": {"person_id": 1, "account_id": 1}},
            {"id": 4, "at": now, "actor": "system", "action": "person.create", "entity": "person", "entity_id": "1",
             "after": {"source": "invitation", "invitation": CLEAR_INVITE, "station_id": 1}},
            {"id": 5, "at": now, "actor": "cli", "action": "station.add", "entity": "station", "entity_id": "1",
             "after": {"code": "99001"}},  # a station's code: not a secret, left as it is
            {"id": 6, "at": now, "actor": "telegram:300", "action": "role.join", "entity": "role",
             "entity_id": "telegram:300", "after": {"role": "staff", "code": "OLDC2345"}},
        ],
    }
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for name, values in rows.items():
                await conn.execute(sa.insert(at_0007(name)), values)
    finally:
        await engine.dispose()


async def stored(url: str, name: str, *columns: str) -> list[tuple]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            table = at_0007(name)
            query = sa.select(*(table.c[c] for c in columns)).order_by(table.c[columns[0]])
            return [tuple(row) for row in (await conn.execute(query)).all()]
    finally:
        await engine.dispose()


async def check_0008_hashes_the_clear_codes(url: str) -> None:
    await upgrade(url, "0007")
    await write_clear_codes_at_0007(url)
    await upgrade(url)
    assert sorted(await stored(url, "bindcode", "code")) == sorted([(code_key(CLEAR_BIND),), (code_key(CLEAR_STAFF),)])
    assert sorted(await stored(url, "invitation", "code")) == sorted(
        [(code_key(CLEAR_INVITE),), (code_key(CLEAR_REGISTERING),)])
    [(_, state)] = await stored(url, "conversationstate", "account_id", "data")
    assert state == {"full_name": "Trần Thị Bình", "_invite": code_key(CLEAR_REGISTERING)}
    assert await stored(url, "auditevent", "id", "entity_id", "after") == [
        (1, "1", {"code": code_key(CLEAR_BIND), "expires_at": FAR.isoformat()}),
        (2, "1", {"code": code_key(CLEAR_STAFF), "expires_at": FAR.isoformat()}),
        (3, code_key(CLEAR_INVITE), {"person_id": 1, "account_id": 1}),
        (4, "1", {"source": "invitation", "invitation": code_key(CLEAR_INVITE), "station_id": 1}),
        (5, "1", {"code": "99001"}), (6, "telegram:300", {"role": "staff", "code": code_key("OLDC2345")})]
    await check_the_codes_still_work(url, state["_invite"])


async def check_the_codes_still_work(url: str, registering_key: str) -> None:
    """The codes given out before the upgrade, typed as people type them, still bind, make staff and invite;
    the registration that was under way when the bot was upgraded still completes with its invitation."""
    now, db = datetime.now(UTC), Database(url)
    try:
        async with db.session() as session:
            assert (await redeem_bind_code(session, "abcd-2345", "telegram", "-100", "test", now)).status == "ok"
            joined = await redeem_staff_code(session, "staf 2345", "telegram", "300", "Lan", now)
            assert joined.status == "ok" and joined.member is not None and joined.member.role == "staff"
            assert (await find_invitation(session, CLEAR_INVITE.lower(), now)).status == "ok"
            assert await use_invitation(session, registering_key, 1, now)
            assert (await find_invitation(session, CLEAR_REGISTERING, now)).status == "used"
    finally:
        await db.dispose()


async def test_sqlite_upgrade_from_0007_hashes_the_codes_stored_in_clear(tmp_path: Path) -> None:
    await check_0008_hashes_the_clear_codes(f"sqlite+aiosqlite:///{tmp_path / 'codes.db'}")


async def on_postgres_server(statement: str) -> None:
    import asyncpg

    server = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(user=server.username, password=server.password, host=server.host,
                                 port=server.port or 5432, database=server.database or "postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_postgresql_upgrade_from_0007_hashes_the_codes_stored_in_clear() -> None:
    if not POSTGRES_URL:
        pytest.skip("set CACHLY_TEST_POSTGRES_URL=postgresql+asyncpg://... to test migrations on PostgreSQL")
    name = f"cachly_test_{uuid.uuid4().hex[:12]}"  # a database of its own: the server's may be shared
    await on_postgres_server(f'CREATE DATABASE "{name}"')
    try:
        await check_0008_hashes_the_clear_codes(
            make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        await on_postgres_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
