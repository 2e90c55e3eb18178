"""The SQLite file watchdog on the real bot (python-telegram-bot against FakeBotAPI, long polling): its database
file deleted, replaced or made unwritable while it runs stops it with one clear line; a missing file at start
is created empty, said in a WARNING; `serve` (what `cachly run` runs) ends with status 1."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import TelegramBot, build_core, serve
from bot.settings import Settings, load_settings
from tests.conftest import sqlite_url
from tests.fake_bot_api import FakeBotAPI

WATCH_EVERY = 0.1  # seconds between checks in these tests (2 in production)
NOBODY = 65534


def settings_on(fake: FakeBotAPI, database: Path) -> Settings:
    return load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url,
                         database_url=sqlite_url(database))


@contextlib.asynccontextmanager
async def running_bot(fake: FakeBotAPI, database: Path, clock) -> AsyncIterator[TelegramBot]:
    settings = settings_on(fake, database)
    bot = TelegramBot(settings, build_core(settings, clock=clock), poll_timeout=1, watch_every=WATCH_EVERY)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def database_copy(migrated_db_url: str, folder: Path) -> Path:
    source = Path(migrated_db_url.removeprefix("sqlite+aiosqlite:///"))
    target = folder / "bot.db"
    shutil.copyfile(source, target)
    return target


def watchdog_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.watchdog" and r.levelno >= logging.ERROR]


async def stops_with_one_line(bot: TelegramBot, caplog: pytest.LogCaptureFixture, problem: str) -> None:
    await asyncio.wait_for(bot.must_stop.wait(), timeout=3.0)
    lines = watchdog_lines(caplog)
    assert len(lines) == 1 and problem in lines[0] and "cachly stops" in lines[0], lines
    assert bot.database_lost


async def test_a_deleted_database_file_stops_the_bot_with_one_line(fake, migrated_db_url, tmp_path, clock, caplog):
    database = database_copy(migrated_db_url, tmp_path)
    async with running_bot(fake, database, clock) as bot:
        await asyncio.sleep(5 * WATCH_EVERY)
        assert not bot.must_stop.is_set()  # a healthy file: checked again and again, nothing said
        database.unlink()
        await stops_with_one_line(bot, caplog, f"{database} was deleted")
    assert len(watchdog_lines(caplog)) == 1  # said once, also through the stop


async def test_a_database_file_replaced_under_the_bot_stops_it(fake, migrated_db_url, tmp_path, clock, caplog):
    database = database_copy(migrated_db_url, tmp_path)
    async with running_bot(fake, database, clock) as bot:
        other = tmp_path / "restored.db"
        shutil.copyfile(database, other)
        os.replace(other, database)  # a restore copied over the live file
        await stops_with_one_line(bot, caplog, "was replaced by another file")


@contextlib.contextmanager
def as_an_unprivileged_user(folder: Path) -> Iterator[None]:
    """root writes through any mode bits: the read-only cases are tried as `nobody`, owner of the folder."""
    if os.geteuid() != 0:
        yield
        return
    for path in (folder, *folder.iterdir()):
        os.chown(path, NOBODY, -1)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def own_folder() -> Iterator[Path]:
    """A folder `nobody` can reach (pytest's tmp_path sits under a root-only one)."""
    folder = Path(tempfile.mkdtemp(prefix="cachly-watchdog-", dir="/tmp"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


@pytest.mark.parametrize(("make_read_only", "problem"), [
    (lambda db: os.chmod(db, 0o444), "is no longer writable"),
    (lambda db: os.chmod(db.parent, 0o555), "is in a folder that is no longer writable"),
])
async def test_a_database_made_read_only_stops_the_bot(fake, migrated_db_url, own_folder, clock, caplog,
                                                       make_read_only, problem):
    database = database_copy(migrated_db_url, own_folder)
    with as_an_unprivileged_user(own_folder):
        async with running_bot(fake, database, clock) as bot:
            await asyncio.sleep(3 * WATCH_EVERY)
            assert not bot.must_stop.is_set()
            make_read_only(database)
            await stops_with_one_line(bot, caplog, problem)
        os.chmod(own_folder, 0o755)


async def test_a_missing_database_at_start_is_created_with_a_warning(fake, tmp_path, clock, caplog):
    database = tmp_path / "new" / "cachly.db"
    database.parent.mkdir()
    async with running_bot(fake, database, clock) as bot:  # the quick start: a first run makes the database
        assert database.is_file()
        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.watchdog"]
        assert warnings == [f"no database at {database}: a new empty one is created"]
        await asyncio.sleep(3 * WATCH_EVERY)
        assert not bot.must_stop.is_set()
    caplog.clear()
    async with running_bot(fake, database, clock):  # the next start finds it: nothing to say
        assert [r for r in caplog.records if r.name == "bot.watchdog"] == []


async def test_cachly_run_ends_with_status_1_when_the_database_file_goes(fake, migrated_db_url, tmp_path, caplog):
    database = database_copy(migrated_db_url, tmp_path)
    running = asyncio.create_task(serve(settings_on(fake, database)))  # what `cachly run` runs, watching every 2 s
    for _ in range(100):
        if any("cachly is running" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    else:
        running.cancel()
        raise AssertionError("the bot did not start")
    database.unlink()
    assert await asyncio.wait_for(running, timeout=6.0) == 1
    assert len(watchdog_lines(caplog)) == 1
