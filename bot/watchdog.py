"""The SQLite file watchdog: the bot stops when its database file is deleted, replaced or made unwritable.

SQLite keeps writing into the file it opened: deleted, it is an unlinked inode that vanishes with the process
(every check-in and alert since, lost); replaced (a restore copied over it, another disk mounted), the open
connections write to the old one and new ones to the new. Stopping at once, with one line saying why, loses
the least. PostgreSQL has no file to watch.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from storage.files import sqlite_file

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 2.0  # two stat() and two access() calls: nothing, next to what is lost in between


def watched_file(database_url: str) -> Path | None:
    """The SQLite file to watch; None for PostgreSQL, an in-memory database, or a URI filename (SQLite's to
    parse, as storage/files.py leaves it)."""
    path = sqlite_file(database_url)
    return None if path is None or str(path).startswith("file:") else path


def warn_if_missing(path: Path) -> None:
    """At start: a missing database is created empty by the upgrade, as on a first run; said loudly, since
    after a deletion or a wrong path it means every person followed so far is gone from this bot's view."""
    if not path.exists():
        log.warning("no database at %s: a new empty one is created", path)


def _writable(path: Path) -> bool:
    # Effective ids: the bot's own right to write, as SQLite will meet it (not the login's).
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


class DatabaseFileWatchdog:
    """Checks the file every `every` seconds against the one found at start; on a problem, logs one line
    and calls `on_lost` (which stops the bot), then watches no more."""

    def __init__(self, path: Path, on_lost: Callable[[], None], every: float = CHECK_EVERY_SECONDS) -> None:
        self.path = path
        self.on_lost = on_lost
        self.every = every
        self.problem: str | None = None
        self._identity: tuple[int, int] | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)
        self._task = asyncio.create_task(self._watch(), name="database-watchdog")

    def check(self) -> str | None:
        """What is wrong with the file now, in words for the log line; None when all is well."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return "was replaced by another file"
        if not _writable(self.path):
            return "is no longer writable"
        if not _writable(self.path.parent):  # SQLite creates its -wal, -shm and journal files beside it
            return "is in a folder that is no longer writable"
        return None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                problem = self.check()
            except OSError as exc:  # the disk itself failing (EIO), a folder gone: as bad as the file gone
                problem = f"cannot be checked ({type(exc).__name__})"
            if problem is not None:
                self.problem = problem
                log.critical("the database file %s %s: cachly stops, so as not to lose or split what it "
                             "records (put the file back, or restore a backup, then start cachly again)",
                             self.path, problem)
                self.on_lost()
                return

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
