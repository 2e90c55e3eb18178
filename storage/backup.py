"""A consistent copy of the SQLite database while the bot runs, through SQLite's online backup API."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.files import create_private, sqlite_file


def sqlite_path(database_url: str) -> Path:
    """The file of a sqlite+aiosqlite URL; ValueError for other databases (PostgreSQL has pg_dump)."""
    path = sqlite_file(database_url)
    if path is None:
        raise ValueError("backup copies a SQLite database file; for PostgreSQL use pg_dump")
    return path


def backup(database_url: str, target: Path, pages_per_step: int = 1024) -> int:
    """Copy the database to `target` page by page (other connections keep writing meanwhile; the copy is
    of one consistent moment). Returns the copy's size in bytes."""
    source_path = sqlite_path(database_url)
    if not source_path.is_file():
        raise FileNotFoundError(f"no database at {source_path}")
    target = Path(target)
    if target.resolve() == source_path.resolve():
        raise ValueError("the backup must not overwrite the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    copy = sqlite3.connect(create_private(target))  # 0600 before a page is copied; its journal takes that mode
    try:
        source.backup(copy, pages=pages_per_step)
        check = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise RuntimeError(f"the copy failed its integrity check: {check}")
    finally:
        copy.close()
        source.close()
    return target.stat().st_size
