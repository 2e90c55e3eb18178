"""Files that hold personal data (the database, its backups, exports, import results) are readable and writable
by their owner only: another account on the same server must not read health data off the disk."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE = 0o600


def create_private(path: Path) -> Path:
    """Create the file empty with mode 0600 if it does not exist, and bring an existing one down to 0600.

    os.open's mode applies only to a file it creates (and the umask may narrow it, never widen it); a file
    already there keeps its mode, hence the chmod."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE)
    try:
        _narrow(fd)
    finally:
        os.close(fd)
    return path


def _narrow(file: int | Path) -> None:
    # Only when wider than 0600: chmod of a file someone else owns fails, even when it is private already.
    if os.stat(file).st_mode & 0o777 & ~PRIVATE:
        os.chmod(file, PRIVATE)


def write_private(path: Path, content: bytes) -> Path:
    """Write `content` to `path`, mode 0600 before the first byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as file:
        _narrow(fd)  # an existing file kept its mode through O_CREAT
        file.write(content)
    return path


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and for an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def private_sqlite(database_url: str) -> None:
    """Before SQLite opens the file: create it 0600. Its -wal and -shm files are then made with the same mode
    (SQLite gives them the database file's permissions); any already there are brought down to 0600 too."""
    path = sqlite_file(database_url)
    if path is None or str(path).startswith("file:"):  # a URI filename is SQLite's to parse
        return
    create_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            _narrow(side)
