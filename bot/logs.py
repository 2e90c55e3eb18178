"""Logging, the same for every way cachly runs (`cachly run`, the sandbox, the other CLI commands): cachly's own
lines at the level asked for (CACHLY_LOG_LEVEL), the libraries' at WARNING whatever it is.

cachly's own lines never carry a message text or personal data, at any level (tests/conftest.py scans every
line of every test at DEBUG). The libraries' lines below WARNING do: python-telegram-bot logs each Bot API call
with its parameters (the texts, the chat ids), httpx and httpcore the request lines (their URLs hold the bot
token), aiosqlite every call with its arguments, SQLAlchemy's engine the SQL and its parameters. So the loggers
known to do so are held at WARNING, and the handler lets no other library's line below WARNING through.
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER = "cachly"  # the name of configure()'s handler, which a second call replaces
# cachly's own packages: the only loggers whose lines below WARNING are written
OWN = ("bot", "handlers", "conversations", "scheduler", "delivery", "services", "storage", "health", "locales",
       "chat")
# The libraries known to log what passes through them (or to be loud) below WARNING; set at WARNING so that they
# do not even build those records (aiosqlite would, for every query).
LIBRARIES = ("telegram", "httpx", "httpcore", "hpack", "aiosqlite", "sqlalchemy", "asyncpg", "alembic", "tornado",
             "aiohttp", "apscheduler", "matplotlib", "PIL", "openpyxl", "asyncio", "aiolimiter", "babel")


class OwnLinesOnly(logging.Filter):
    """Below WARNING, only cachly's own lines pass: a library not listed in LIBRARIES is held back too."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] in OWN


def quiet_libraries() -> None:
    """The libraries' loggers at WARNING, whatever the level of the rest."""
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def level_of(name: str | int) -> int:
    """A level by name ("debug", "INFO") or number; ValueError for one that is neither."""
    if isinstance(name, int):
        return name
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"'{name}' is not a log level (DEBUG, INFO, WARNING, ERROR)")
    return level


def configure(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """One handler on the root logger, writing to stderr (or `stream`) at `level`; called again, it replaces it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(OwnLinesOnly())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_of(level))
    quiet_libraries()
