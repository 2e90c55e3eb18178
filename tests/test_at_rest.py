"""At rest: one-time codes are kept as hashes only, and the files cachly writes (the database and its -wal/-shm,
backups, exports, an import's result files, the sandbox's files) are readable by their owner only (0600)."""
from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox import Sandbox
from services.env import Core
from storage.backup import backup
from storage.db import Database
from storage.files import write_private
from storage.invitations import create_invitations
from storage.migrate import upgrade
from storage.models import Account, BindCode, Invitation, Person, StaffMember
from storage.stations import code_key, issue_bind_code, issue_staff_code
from tests.conftest import UNITS_CSV, Cachly, ChatDriver, sqlite_url
from tests.factories import PLEIKU, group_chat, person_row, station_id, xlsx
from tests.steps import rows

INVITED = {"full_name": "Trần Thị Bình", "birth_year": 1975, "gender": "female", "phone": "0905111222",
           "id_number": "064175000123", "address": "5 Hùng Vương, tổ 2", "category": "f1", "start_date": "2026-11-27",
           "station_code": PLEIKU, "station_name": "Phường Pleiku"}


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual 022, which would make new files readable by everyone: the modes below are cachly's doing."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --- codes --------------------------------------------------------------------------------------------------


def test_a_code_key_is_a_hash_of_the_code_as_people_type_it() -> None:
    key = code_key("ABCD2345")
    assert len(key) == 32 and int(key, 16) >= 0  # 128 bits in hex: fits the VARCHAR(32) key columns
    assert code_key("abcd-2345") == code_key(" ABCD 2345 ") == key != code_key("ABCD2346")
    assert "ABCD2345" not in key


async def issued_codes(core: Core) -> tuple[str, str, list[str]]:
    async with core.db.session() as session:
        bind = await issue_bind_code(session, PLEIKU, core.utcnow())
        staff = await issue_staff_code(session, PLEIKU, core.utcnow())
        invitations = await create_invitations(session, [(await station_id(core), INVITED)] * 3, "test",
                                               core.utcnow())
    return bind, staff, invitations


async def keys(core: Core, table: type[BindCode] | type[Invitation]) -> set[str]:
    async with core.db.session() as session:
        return set((await session.exec(select(table.code))).all())


def raw_bytes(url: str) -> bytes:
    """What a thief copying the database's files would have: the file and its write-ahead log."""
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    return b"".join(side.read_bytes() for side in (path, Path(f"{path}-wal")) if side.exists())


async def test_only_the_hashes_of_codes_are_stored(core: Core, seeded_db_url: str) -> None:
    bind, staff, invitations = await issued_codes(core)
    assert await keys(core, BindCode) == {code_key(bind), code_key(staff)}
    assert await keys(core, Invitation) == {code_key(c) for c in invitations}
    data = raw_bytes(seeded_db_url)
    assert code_key(bind).encode() in data  # the search below looks where the codes would be
    for code in (bind, staff, *invitations):
        assert code.encode() not in data, code


async def test_codes_given_out_still_work_and_are_not_written_down_when_used(core: Core,
                                                                              seeded_db_url: str) -> None:
    bind, staff, [invitation, *_] = await issued_codes(core)
    group = group_chat(core)
    await group.say(f"/lienket {bind[:4].lower()}-{bind[4:]}")
    assert group.text().startswith("✅") and "Phường Pleiku" in group.text(), group.text()
    newcomer = ChatDriver(core, "301", name="Hoa")
    await newcomer.say(f"/nhanvien {staff.lower()}")
    [member] = [m for m in await rows(core, StaffMember) if m.user_id == "301"]
    assert member.active and member.station_id == await station_id(core)
    person = ChatDriver(core, "100")
    await person.say(f"/start {invitation}")
    await person.press("Đồng ý")
    await person.press("Xác nhận")
    assert "Đăng ký xong" in person.text()
    [registered] = await rows(core, Person)
    [account] = [a for a in await rows(core, Account) if a.external_id == "100"]
    assert registered.account_id == account.id
    async with core.db.session() as session:
        used = (await session.exec(select(Invitation).where(Invitation.used_by_account == account.id))).one()
    assert used.code == code_key(invitation)
    data = raw_bytes(seeded_db_url)
    for code in (bind, staff, invitation):  # neither the conversation nor its audit trail kept the code typed
        assert code.encode() not in data, code


# --- files --------------------------------------------------------------------------------------------------


async def test_a_new_database_and_its_wal_and_shm_are_for_their_owner_only(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "cachly.db")
    await upgrade(url)
    db = Database(url)
    try:
        async with db.session() as session:
            session.add(Account(channel="telegram", external_id="100"))
        assert sorted(os.listdir(tmp_path)) == ["cachly.db", "cachly.db-shm", "cachly.db-wal"]  # WAL mode, open
        assert {name: mode(tmp_path / name) for name in os.listdir(tmp_path)} == {
            "cachly.db": 0o600, "cachly.db-wal": 0o600, "cachly.db-shm": 0o600}
    finally:
        await db.dispose()


async def test_a_database_readable_by_others_is_narrowed_when_the_bot_starts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # made before cachly created its files 0600
    os.chmod(path, 0o644)
    await upgrade(sqlite_url(path))
    assert mode(path) == 0o600


def test_a_backup_is_for_its_owner_only_even_over_an_older_copy(tmp_path: Path) -> None:
    source = tmp_path / "cachly.db"
    with sqlite3.connect(source) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    target = tmp_path / "copy.db"
    target.write_bytes(b"")
    os.chmod(target, 0o666)  # an older copy anyone could read
    backup(sqlite_url(source), target)
    assert mode(target) == 0o600
    backup(sqlite_url(source), tmp_path / "new" / "copy.db")
    assert mode(tmp_path / "new" / "copy.db") == 0o600


def test_writing_privately_replaces_the_content_and_narrows_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"older and longer content")
    os.chmod(path, 0o644)
    assert write_private(path, b"new") == path
    assert path.read_bytes() == b"new" and mode(path) == 0o600


def test_the_cli_database_backup_exports_and_import_results_are_for_their_owner_only(cachly: Cachly,
                                                                                       tmp_path: Path) -> None:
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    assert mode(tmp_path / "cli.db") == 0o600
    done = cachly("backup", str(tmp_path / "saved" / "copy.db"))
    assert done.returncode == 0, done.stderr
    (tmp_path / "old.csv").write_bytes(b"")
    os.chmod(tmp_path / "old.csv", 0o644)
    for output in ("out.xlsx", "old.csv"):
        done = cachly("export", "--station", PLEIKU, "--format", output.rsplit(".")[1], "--output",
                      str(tmp_path / output))
        assert done.returncode == 0, done.stderr
    source = tmp_path / "danh-sach.xlsx"
    source.write_bytes(xlsx(person_row(1), person_row(2, phone="123")))
    done = cachly("import", str(source), "--station", PLEIKU, "--bot", "tram_bot")
    assert done.returncode == 0 and "1 accepted, 1 rejected" in done.stdout, done.stdout + done.stderr
    written = [tmp_path / "saved" / "copy.db", tmp_path / "out.xlsx", tmp_path / "old.csv",
               tmp_path / "danh-sach-lien-ket-moi.xlsx", tmp_path / "danh-sach-ket-qua.xlsx"]
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}


def test_the_sandbox_files_are_for_their_owner_only() -> None:
    path = Sandbox.save_file("cachly-test.csv", b"line list")
    try:
        assert path.read_bytes() == b"line list" and mode(path) == 0o600
    finally:
        path.unlink()
