"""`cachly backup`: a consistent copy of the SQLite database while it is being written to."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import func, select

from storage.backup import backup, sqlite_path
from storage.models import Account


async def test_a_backup_taken_while_people_write_is_consistent_and_restorable(core, db_url, tmp_path):
    from tests.conftest import ChatDriver

    async def chatter(n: int) -> None:
        for i in range(n):
            await ChatDriver(core, str(1000 + i)).say("/start")

    writers = asyncio.create_task(chatter(40))
    await asyncio.sleep(0)  # let the writers start: the copy runs while they write
    size = await asyncio.to_thread(backup, db_url, tmp_path / "copy" / "cachly-backup.db")
    await writers
    assert size > 0
    copy = sqlite3.connect(tmp_path / "copy" / "cachly-backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copied_accounts = copy.execute("SELECT count(*) FROM account").fetchone()[0]
    copy.close()
    async with core.db.session() as session:
        now_accounts = (await session.exec(select(func.count()).select_from(Account))).one()
    assert 0 <= copied_accounts <= now_accounts == 40
    assert copied_accounts == copy_count_of_states(tmp_path / "copy" / "cachly-backup.db")


def copy_count_of_states(path: Path) -> int:
    """Each /start writes an account and its conversation state in one transaction: a consistent copy
    holds both or neither."""
    with sqlite3.connect(path) as copy:
        return copy.execute("SELECT count(*) FROM conversationstate").fetchone()[0]


def test_backup_refuses_postgresql_and_overwriting_the_database(tmp_path):
    with pytest.raises(ValueError, match="pg_dump"):
        sqlite_path("postgresql+asyncpg://postgres@127.0.0.1/test")
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    with pytest.raises(ValueError, match="overwrite"):
        backup(f"sqlite+aiosqlite:///{db}", db)
    with pytest.raises(FileNotFoundError):
        backup(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", tmp_path / "b.db")
