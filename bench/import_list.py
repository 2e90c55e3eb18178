"""An imported list of many people on SQLite, with someone chatting meanwhile: how long the import takes
end to end (read, check, invitations, the files back), how long that person waits for each reply (issue 4: an
import of 10,000 rows must finish in well under a minute), and the longest time SQLite's write lock is held
(issue 12: at most about a second, for the bot's import and for the CLI's, also with two CLI imports at once).
Crafted files (a forged dimension, a zip bomb) are timed to their refusal.

    python bench/import_list.py [rows]

The write lock is measured from outside, as another writer sees it: a probe thread tries BEGIN IMMEDIATE on its
own connection every few milliseconds without waiting; the longest run of refusals is the longest hold.
"""
# ruff: noqa: E402  (the project's packages are imported once the root is on the path)
from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from sqlmodel import col, select

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from chat.messages import Attachment, Incoming
from handlers.people_files import RUNNING
from handlers.pipeline import handle
from health.rules import load_rules
from services.env import Core
from services.spreadsheets import COLUMNS, XLSX_MIME, FileProblem, read_list
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Outbox, StaffMember, Station
from storage.stations import get_station, import_units_csv

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = ROOT / "storage" / "data" / "gia-lai-2025-units.csv"
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=TZ)
UPDATE_IDS = count(1)
RESULT = "📥 Kết quả nhập danh sách"


def workbook(rows: int, first_day: date | None = None, offset: int = 0) -> bytes:
    first_day = first_day or NOW.date() - timedelta(days=8)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Danh sách")
    sheet.append([c.header for c in COLUMNS])
    for i in range(offset + 1, offset + rows + 1):
        sheet.append(["Trần Thị Bình", 1975, "Nữ", f"09{i:08d}", f"0640{i:08d}", "5 Hùng Vương, tổ 2", "F1",
                      datetime.combine(first_day + timedelta(days=i % 8), datetime.min.time()), "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def forged(rows: int = 3) -> bytes:
    """The issue's 5 KB file: a small sheet whose <dimension> claims 16,384 columns."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([c.header for c in COLUMNS])
    for i in range(rows):
        sheet.append(["Trần Thị Bình", 1975, "Nữ", f"09{i:08d}", "", "5 Hùng Vương", "F1", "27/11/2026", "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    return _with_sheet(buffer.getvalue(), lambda xml: xml.replace(b'ref="A1:J4"', b'ref="A1:XFD4"', 1))


def bomb() -> bytes:
    """60 MB of blanks in the sheet, packed into some 60 KB."""
    return _with_sheet(forged(), lambda xml: xml.replace(b"</sheetData>", b"</sheetData>" + b" " * (60 << 20)))


def _with_sheet(content: bytes, change) -> bytes:
    import zipfile

    source, buffer = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            data = source.read(name)
            out.writestr(name, change(data) if name == "xl/worksheets/sheet1.xml" else data)
    return buffer.getvalue()


class LockProbe:
    """The longest time another writer could not get SQLite's write lock, while running."""

    def __init__(self, path: str) -> None:
        self.path, self.longest, self._stop = path, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        locked_since = None
        while not self._stop.is_set():
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                if locked_since is not None:
                    self.longest = max(self.longest, time.monotonic() - locked_since)
                locked_since = None
            except sqlite3.OperationalError:  # database is locked: someone holds the write lock
                locked_since = locked_since or time.monotonic()
            time.sleep(0.002)
        connection.close()


async def chatting(core: Core, stop: asyncio.Event, waits: list[float]) -> None:
    """Someone asking for help over and over while the import runs, each message an update with its id, as
    Telegram delivers it: each writes its processed-update record, so each needs the write lock."""
    while not stop.is_set():
        started = time.monotonic()
        await handle(core, Incoming(channel="telegram", user_id="7", chat_id="7", text="/trogiup",
                                    update_id=str(next(UPDATE_IDS))))
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.05)


async def through_the_bot(core: Core, path: str, name: str, content: bytes) -> None:
    stop, waits = asyncio.Event(), []
    other = asyncio.create_task(chatting(core, stop, waits))
    with LockProbe(path) as probe:
        started = time.monotonic()
        replies = await handle(core, Incoming(channel="telegram", user_id="501", chat_id="501", text="",
                                             document=Attachment(name, content, XLSX_MIME),
                                             update_id=str(next(UPDATE_IDS))))
        answered = time.monotonic() - started
        while RUNNING:  # a big list goes on in the background, its result through the outbox
            await asyncio.gather(*RUNNING)
        elapsed = time.monotonic() - started
    stop.set()
    await other
    async with core.db.session() as session:
        queued = (await session.exec(select(Outbox).where(Outbox.chat_id == "501").order_by(col(Outbox.id)))).all()
    results = [m.payload["text"] for m in queued if m.payload["text"].startswith(RESULT)]
    text = results[-1] if results else replies[0].text
    print(f"bot, {name} ({len(content) // 1024} KiB): update answered in {answered:.2f} s, done in {elapsed:.2f} s; "
          f"longest write lock {probe.longest * 1000:.0f} ms")
    print("   " + text.splitlines()[0][:140])
    print(f"   meanwhile {len(waits)} replies to someone else: median {statistics.median(waits) * 1000:.0f} ms, "
          f"slowest {max(waits) * 1000:.0f} ms")


def through_the_cli(folder: str, url: str, files: list[Path]) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    environment.update({"PYTHONPATH": str(ROOT), "CACHLY_DATABASE_URL": url})
    with LockProbe(f"{folder}/bench.db") as probe:
        started = time.monotonic()
        runs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "import", str(f), "--station", "23575",
                                  "--bot", "bench_bot"], cwd=folder, env=environment, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for f in files]
        outputs = [run.communicate() for run in runs]
        elapsed = time.monotonic() - started
    print(f"cli, {len(files)} import(s) at once: {elapsed:.1f} s; longest write lock {probe.longest * 1000:.0f} ms")
    for run, (out, err) in zip(runs, outputs, strict=True):
        print(f"   exit {run.returncode}: {(out.splitlines() or err.splitlines() or [''])[0]}")


def refusals() -> None:
    for name, content in (("forged dimension, 16,384 columns", forged()), ("zip bomb, 60 MB unpacked", bomb())):
        started = time.monotonic()
        try:
            read_list("ds.xlsx", content)
        except FileProblem as problem:
            print(f"{name} ({len(content) // 1024} KiB): refused in {(time.monotonic() - started) * 1000:.1f} ms "
                  f"({problem.key})")


async def main(rows: int) -> None:
    refusals()
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        core = Core(Database(url), load_rules(), TZ, clock=lambda: NOW)
        async with core.db.session() as session:
            await import_units_csv(session, UNITS)
            station: Station = await get_station(session, "23575")
            session.add(StaffMember(channel="telegram", user_id="501", role="staff", station_id=station.id))
        await handle(core, Incoming(channel="telegram", user_id="7", chat_id="7", text="/trogiup"))  # its account
        await through_the_bot(core, path, "forged.xlsx", forged())
        await through_the_bot(core, path, "ds.xlsx", workbook(rows))
        await core.db.dispose()
        today = date.today()  # the CLI runs on the real clock
        lists = [Path(folder) / f"list-{n}.xlsx" for n in range(3)]
        for n, file in enumerate(lists):
            file.write_bytes(workbook(rows, today - timedelta(days=7), offset=(n + 1) * rows))
        through_the_cli(folder, url, lists[:1])
        through_the_cli(folder, url, lists[1:])


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
