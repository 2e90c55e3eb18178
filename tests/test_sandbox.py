"""The terminal sandbox, driven with scripted input: the same core, buttons as numbers, the staff group inline."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox import CHANNEL, STAFF, Sandbox
from health.rules import load_rules
from services.env import Core
from storage.db import Database
from tests.conftest import ROOT, TZ, Clock

# What a person types, from the consent question (asked by the sandbox's own /start) to the staff's tap.
REGISTRATION = [
    "1",                # [1] Đồng ý
    "Nguyễn Văn An",
    "1980",
    "1",                # [1] Nam
    "0912 345 678",
    "1",                # [1] Bỏ qua (no CCCD)
    "pleiku",
    "1",                # [1] Phường Pleiku
    "12 Lê Lợi, tổ 3",
    "1",                # [1] F1
    "1",                # [1] Hôm nay
    "1",                # [1] Xác nhận
]
DANGER_CHECKIN = [
    "/khaibao",
    "39,2",
    "1",                # [1] Khó thở, thở hụt hơi (toggled on)
    "xong",             # the «Xong» button's word, typed
    "92",               # SpO2 92 %: a danger sign
    "1",                # [1] Bỏ qua (breathing rate)
    "1",                # [1] Không có (note)
    "1",                # [1] Đúng (the recap of what was recorded)
]
# The alert is printed at the tick of «Khó thở» ([g1] [g2]), then edited, with new numbers, when SpO2 92 is
# typed ([g3] [g4]) and when the check-in is complete ([g5] [g6]): staff take it with its newest button.
TAKE = "g5"


async def scripted(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


@pytest.fixture
async def sandbox_core(seeded_db_url: str, clock: Clock) -> AsyncIterator[Core]:
    """A core whose staff console is the sandbox terminal, as `cachly sandbox` builds it."""
    db = Database(seeded_db_url)
    yield Core(db, load_rules(), TZ, admin_chats=[], clock=clock, staff_console=(CHANNEL, STAFF))
    await db.dispose()


async def run(core: Core, lines: list[str]) -> str:
    out = io.StringIO()
    await Sandbox(core, out=out).run(scripted(lines), echo=True)
    return out.getvalue()


def answers(output: str, typed: str) -> list[str]:
    """What the sandbox printed after each time `typed` was entered, up to the next input."""
    parts = output.split(f"> {typed}\n")[1:]
    assert parts, f"{typed!r} was never typed:\n{output}"
    return [part.split("\n> ", 1)[0] for part in parts]


def answer_to(output: str, typed: str) -> str:
    """The answer to the last time `typed` was entered."""
    return answers(output, typed)[-1]


async def test_from_consent_to_an_alert_taken_in_the_terminal(sandbox_core: Core) -> None:
    output = await run(sandbox_core, [*REGISTRATION, *DANGER_CHECKIN, TAKE])

    assert output.startswith("=== Hộp thử cachly (sandbox) ===")
    assert "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15" in output and "[1] Đồng ý   [2] Không đồng ý" in output
    assert "Đăng ký xong" in output
    assert "✅ Khó thở, thở hụt hơi" in output  # the multi-select question, shown again after the toggle

    result_and_alert = answer_to(output, "1")  # the last "1": «Đúng», the final answer of the check-in
    assert "CẦN HỖ TRỢ NGAY cho Nguyễn Văn An" in result_and_alert
    group = result_and_alert.split("📣 Nhóm trạm y tế:", 1)[1]
    for shown in ("🔴 NGUY HIỂM", "Nguyễn Văn An — 46 tuổi, Nam", "📞 0912345678", "SpO2 92",
                  "Khó thở, thở hụt hơi", "[g5] ✋ Đã tiếp nhận   [g6] ✅ Đã xử lý"):
        assert shown in group, shown
    assert output.index("[g1] ✋ Đã tiếp nhận") < output.index("> xong")  # alerted at the tick, before «Xong»

    taken = answer_to(output, TAKE)
    assert "Đã ghi nhận: bạn tiếp nhận ca này." in taken
    assert "(tin nhắn được cập nhật)" in taken
    assert "✋ Đã tiếp nhận: Nhân viên trạm (hộp thử) lúc 09:30" in taken
    assert "[g7] ✅ Đã xử lý" in taken and "Đã tiếp nhận   [" not in taken  # the taken button is gone
    assert output.rstrip().endswith("Tạm biệt! Dữ liệu đã lưu trong cơ sở dữ liệu.")


async def test_bad_answers_get_a_message_and_the_same_question_again(sandbox_core: Core) -> None:
    output = await run(sandbox_core, [
        "1", "Nguyễn Văn An",
        "abc",          # not a year
        "1980",
        "7",            # no button [7] at the gender question
        "1",
        "12345",        # not a phone number
        "0912 345 678",
        "123",          # a CCCD has 12 digits
        "079080001234",
        "zzzz",         # no such commune
        "pleiku",
    ])
    year = answer_to(output, "abc")
    assert "Năm sinh là 4 chữ số" in year and "Bạn sinh năm nào?" in year
    gender = answer_to(output, "7")
    assert "bấm một trong các nút" in gender and "Giới tính của bạn?" in gender and "[1] Nam" in gender
    phone = answer_to(output, "12345")
    assert "Số điện thoại chưa đúng" in phone and "Số điện thoại của bạn?" in phone
    cccd = answer_to(output, "123")
    assert "12 chữ số" in cccd and "Số CCCD (căn cước công dân, 12 số) của bạn?" in cccd
    assert "zzzz" in answer_to(output, "zzzz")  # the message names what was not found
    assert "[1] Phường Pleiku" in answer_to(output, "pleiku")


async def test_a_button_number_that_does_not_exist_gets_a_clear_message(sandbox_core: Core) -> None:
    output = await run(sandbox_core, ["g1", "9", *REGISTRATION, *DANGER_CHECKIN, TAKE, "g2", "g9"])
    assert answer_to(output, "g1").strip() == "Không có nút số g1."  # before any alert
    assert "Đã tiếp nhận: Nhân viên trạm (hộp thử)" in answer_to(output, TAKE)
    assert answer_to(output, "g2").strip() == "Không có nút số g2."  # its message was edited: new numbers
    assert answer_to(output, "g9").startswith("Không có nút số g9.")
    consent = answer_to(output, "9")  # the consent question has only [1] and [2]
    assert "bấm một trong các nút" in consent and "Bạn có đồng ý không?" in consent


def test_the_cachly_sandbox_command_runs_a_whole_conversation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CACHLY_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}"
    script = "\n".join([*REGISTRATION, *DANGER_CHECKIN, TAKE, "/thoat", "this line is never read"]) + "\n"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "sandbox"], input=script, env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15" in output
    assert "Đăng ký xong" in output
    assert "NGUY HIỂM" in output and "[g1] ✋ Đã tiếp nhận" in output
    assert "Đã tiếp nhận: Nhân viên trạm (hộp thử)" in output
    assert "Traceback" not in output
    assert "> this line is never read" not in output
