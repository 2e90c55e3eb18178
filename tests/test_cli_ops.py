"""Operations from the command line: backup, purge, and the webhook flags' checks."""
from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import run_cachly, sqlite_url


def cachly(*args: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cachly(sqlite_url(db), *args, **env)


def test_backup_makes_a_restorable_copy(tmp_path):
    db = tmp_path / "cachly.db"
    assert cachly("station", "add", "99001", "Trạm thử", db=db).returncode == 0
    done = cachly("backup", str(tmp_path / "saved" / "copy.db"), db=db)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "saved" / "copy.db") as copy:
        assert copy.execute("SELECT name FROM station WHERE code='99001'").fetchone() == ("Trạm thử",)
    # restore = put the copy in place of the database (README): the bot then reads it as before
    (tmp_path / "saved" / "copy.db").replace(tmp_path / "restored.db")
    assert cachly("station", "bind-code", "99001", db=tmp_path / "restored.db").returncode == 0


def test_backup_errors_are_one_clear_line(tmp_path):
    done = cachly("backup", str(tmp_path / "copy.db"), db=tmp_path / "missing" / "none.db",
                  CACHLY_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    assert done.returncode == 2 and "pg_dump" in done.stderr and "Traceback" not in done.stderr


def test_purge_reports_what_it_anonymised(tmp_path):
    done = cachly("purge", db=tmp_path / "cachly.db")
    assert done.returncode == 0 and done.stdout.strip() == "anonymised: 0"


def test_webhook_flags_are_checked_before_anything_starts(tmp_path):
    bad_url = cachly("run", "--webhook", "ftp://example.org/x", db=tmp_path / "c.db", CACHLY_TELEGRAM_TOKEN="1:x")
    assert bad_url.returncode == 2 and "--webhook" in bad_url.stderr
    bad_listen = cachly("run", "--webhook", "https://example.org/x", "--listen", "here", db=tmp_path / "c.db",
                        CACHLY_TELEGRAM_TOKEN="1:x")
    assert bad_listen.returncode == 2 and "--listen" in bad_listen.stderr
    bad_secret = cachly("run", db=tmp_path / "c.db", CACHLY_TELEGRAM_TOKEN="1:x", CACHLY_WEBHOOK_SECRET="short")
    assert bad_secret.returncode == 2 and "CACHLY_WEBHOOK_SECRET" in bad_secret.stderr
