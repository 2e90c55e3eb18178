"""The `cachly` command in a subprocess, as an operator runs it, against a SQLite file in tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import UNITS_CSV, Cachly, one_error_line


def test_station_import_twice_then_add(cachly: Cachly) -> None:
    first = cachly("station", "import", str(UNITS_CSV))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "stations: 135 created, 0 updated, 0 skipped"
    assert first.stderr == ""  # migrations stay quiet
    again = cachly("station", "import", str(UNITS_CSV))
    assert again.stdout.strip() == "stations: 0 created, 135 updated, 0 skipped"

    added = cachly("station", "add", "T1", "Trạm Thử")
    assert added.returncode == 0, added.stderr
    assert "T1" in added.stdout
    assert "T1" in one_error_line(cachly("station", "add", "T1", "Trạm Thử"))


def test_bind_code_prints_only_the_code(cachly: Cachly) -> None:
    assert cachly("station", "add", "T1", "Trạm Thử").returncode == 0
    result = cachly("station", "bind-code", "T1")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}\n", result.stdout)
    assert "Traceback" not in result.stderr


def test_bind_code_unknown_station(cachly: Cachly) -> None:
    assert "nope" in one_error_line(cachly("station", "bind-code", "nope"))


def test_db_upgrade(cachly: Cachly) -> None:
    result = cachly("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "INFO" not in result.stdout + result.stderr


def test_bad_setting_is_one_line(cachly: Cachly) -> None:
    line = one_error_line(cachly("station", "add", "T1", "X", CACHLY_TIMEZONE="Mars/Phobos"))
    assert "CACHLY_TIMEZONE" in line


def test_missing_file_is_one_line(cachly: Cachly, tmp_path: Path) -> None:
    assert "missing.csv" in one_error_line(cachly("station", "import", str(tmp_path / "missing.csv")))


def test_bad_header_is_one_line(cachly: Cachly, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("code,ten\n1,A\n", encoding="utf-8")
    assert "province_code" in one_error_line(cachly("station", "import", str(bad)))


def test_run_without_token_is_one_line(cachly: Cachly) -> None:
    assert one_error_line(cachly("run")).startswith("CACHLY_TELEGRAM_TOKEN: not set")


def test_unusable_database_is_one_line(cachly: Cachly, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    assert "CACHLY_DATABASE_URL" in one_error_line(cachly("db", "upgrade", CACHLY_DATABASE_URL=url))
