"""Logs: even at DEBUG, no message text and no personal data (bot/logs.py). The libraries that log what passes
through them (python-telegram-bot's Bot API parameters, httpx's URLs with the bot token, aiosqlite's calls,
SQLAlchemy's SQL) stay at WARNING whatever CACHLY_LOG_LEVEL says."""
from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import logs
from tests.conftest import _PERSONAL, ROOT, Cachly, Templates, one_error_line, sqlite_url
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_steps import ADMIN, CITIZEN, register_via_telegram

NAME, PHONE = "Nguyễn Thị Nhật Ký", "0912345678"
RECORD = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<logger>[^.:]+)[.:]")  # bot/logs.FORMAT


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """configure() at DEBUG into a buffer; the process's logging as it was afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    out = io.StringIO()
    logs.configure("debug", stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_at_debug_own_lines_pass_and_the_libraries_are_held_at_warning(configured: io.StringIO) -> None:
    logging.getLogger("delivery.sender").debug("outbox %s: own debug line", 7)
    logging.getLogger("aiosqlite").debug("executing %s", NAME)
    logging.getLogger("telegram.ext.ExtBot").debug("Calling Bot API endpoint with parameters %s", NAME)
    logging.getLogger("sqlalchemy.engine.Engine").info("INSERT INTO person (full_name) VALUES (?) %s", NAME)
    logging.getLogger("some.library.nobody.listed").info("a request for %s", NAME)  # held back by the filter
    logging.getLogger("httpx").warning("a warning of a library still shows")

    written = configured.getvalue()
    assert "outbox 7: own debug line" in written and "a warning of a library still shows" in written
    assert NAME not in written


def test_configure_twice_keeps_one_handler(configured: io.StringIO) -> None:
    logs.configure("WARNING", stream=configured)
    logging.getLogger("scheduler.runner").info("not at WARNING")
    logging.getLogger("scheduler.runner").warning("once")
    assert configured.getvalue().count("once") == 1 and "not at WARNING" not in configured.getvalue()


def test_a_wrong_log_level_is_one_line(cachly: Cachly) -> None:
    assert "CACHLY_LOG_LEVEL" in one_error_line(cachly("db", "upgrade", CACHLY_LOG_LEVEL="chatty"))


async def test_cachly_run_at_debug_logs_no_text_no_personal_data_and_no_token(
        tmp_path: Path, templates: Templates) -> None:
    """The bot as an operator runs it, its log at DEBUG, while a person registers over the real
    python-telegram-bot: without bot/logs.py the log holds every Bot API call with its text."""
    fake = FakeBotAPI()
    await fake.start()
    fake.user(ADMIN, "Quản trị")
    fake.user(CITIZEN, "An")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", CACHLY_TELEGRAM_TOKEN=fake.token,
               CACHLY_TELEGRAM_BASE_URL=fake.base_url, CACHLY_ADMIN_IDS=str(ADMIN), CACHLY_LOG_LEVEL="DEBUG",
               CACHLY_DATABASE_URL=templates.copy(sqlite_url(tmp_path / "cachly.db")))
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
                                                   stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        assert await fake.wait_until(lambda: bool(fake.calls("getUpdates")), 60), log.read_text()
        await register_via_telegram(fake, CITIZEN, name=NAME, phone=PHONE)
    finally:
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 30)
        await fake.stop()
    lines = log.read_text(errors="replace").splitlines()

    assert code == 0, lines[-20:]
    assert any("INFO bot.app: cachly is running as @" in line for line in lines), lines[:20]
    for line in lines:
        assert fake.token.split(":")[-1] not in line, line
        assert NAME not in line and "Lê Lợi" not in line, line
        for pattern, what in _PERSONAL:
            assert not pattern.search(line), f"{what} in the bot's log: {line[:300]!r}"
        header = RECORD.match(line)
        if header is not None:  # the lines of a record below WARNING are cachly's own
            assert header["level"] in ("WARNING", "ERROR", "CRITICAL") or header["logger"] in logs.OWN, line
