"""An imported list of many people on SQLite, with someone chatting meanwhile: how long the import takes
end to end (read, check, invitations, the files back), and how long that person waits for each reply
(issue 4: an import of 10,000 rows must finish in well under a minute).

    python bench/import_list.py [rows]
"""
from __future__ import annotations

import asyncio
import io
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

sys.path.insert(0, str(Path(__file__).parents[1]))

from chat.messages import Attachment, Incoming
from handlers.pipeline import handle
from health.rules import load_rules
from services.env import Core
from services.spreadsheets import COLUMNS, XLSX_MIME
from storage.db import Database
from storage.migrate import upgrade
from storage.models import StaffMember, Station
from storage.stations import get_station, import_units_csv

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = Path(__file__).parents[1] / "storage" / "data" / "gia-lai-2025-units.csv"
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=TZ)


def workbook(rows: int) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Danh sách")
    sheet.append([c.header for c in COLUMNS])
    for i in range(1, rows + 1):
        sheet.append(["Trần Thị Bình", 1975, "Nữ", f"09{i:08d}", f"0640{i:08d}", "5 Hùng Vương, tổ 2", "F1",
                      datetime(2026, 11, 20 + i % 9), "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def chatting(core: Core, stop: asyncio.Event, waits: list[float]) -> None:
    """Someone asking for help over and over while the import runs (reads only: a write, such as a
    declaration, waits for the import's transaction, SQLite having one writer at a time)."""
    while not stop.is_set():
        started = time.monotonic()
        await handle(core, Incoming(channel="telegram", user_id="7", chat_id="7", text="/trogiup"))
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.05)


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await upgrade(url)
        core = Core(Database(url), load_rules(), TZ, clock=lambda: NOW)
        async with core.db.session() as session:
            await import_units_csv(session, UNITS)
            station: Station = await get_station(session, "23575")
            session.add(StaffMember(channel="telegram", user_id="501", role="staff", station_id=station.id))
        content = workbook(rows)
        await handle(core, Incoming(channel="telegram", user_id="7", chat_id="7", text="/trogiup"))  # its account
        stop, waits = asyncio.Event(), []
        other = asyncio.create_task(chatting(core, stop, waits))
        started = time.monotonic()
        replies = await handle(core, Incoming(channel="telegram", user_id="501", chat_id="501", text="",
                                             document=Attachment("ds.xlsx", content, XLSX_MIME)))
        elapsed = time.monotonic() - started
        stop.set()
        await other
        await core.db.dispose()
    print(f"{rows} rows ({len(content) // 1024} KiB): {elapsed:.1f} s end to end")
    print(replies[0].text.splitlines()[0])
    print(f"meanwhile {len(waits)} replies to someone else: median {statistics.median(waits) * 1000:.0f} ms, "
          f"slowest {max(waits) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
