"""Staff joining with a code, /tram, /capquyen and /thuhoi, the audit of alerts and bindings, the CLI."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.env import Core
from storage.audit import record
from storage.models import BindCode, GroupBinding, StaffMember, Station
from storage.roles import ADMIN, PROVINCE, STAFF, Access
from storage.stations import code_key, find_stations, get_station, issue_bind_code, issue_staff_code
from tests import telegram_steps as e2e
from tests.conftest import ChatDriver, Clock, register, run_cachly
from tests.factories import (
    GROUP,
    OTHER_GROUP,
    PLEIKU,
    QUY_NHON,
    access,
    add_staff,
    audit_events,
    bind_code,
    bind_group,
    get,
    group_chat,
    labels,
)
from tests.steps import alerts, declare, outbox, rows, vi

CODE = re.compile(r": ([A-HJ-NP-Z2-9]{8})\n")


# --- helpers ----------------------------------------------------------------------------------------


def admin_chat(core: Core) -> ChatDriver:
    return ChatDriver(core, "999", name="Quản trị")


async def staff_code(core: Core, station: str = PLEIKU, ttl: timedelta = timedelta(hours=24)) -> str:
    async with core.db.session() as session:
        return await issue_staff_code(session, station, core.utcnow(), ttl)


async def members(core: Core) -> dict[str, StaffMember]:
    return {m.user_id: m for m in await rows(core, StaffMember)}


async def station(core: Core, code: str) -> Station:
    async with core.db.session() as session:
        return await get_station(session, code)


def code_in(chat: ChatDriver) -> str:
    found = CODE.search(chat.text())
    assert found, chat.text()
    return found.group(1)


async def press_value(chat: ChatDriver, step: str, value: str) -> None:
    """Press a flow button by its payload, as a forged or an older button would be."""
    await chat.send(button=f"s:{step}:{value}", message_id="7")


# --- joining as staff with a code -------------------------------------------------------------------


async def test_a_staff_code_makes_its_sender_staff_of_the_station(core: Core, clock: Clock) -> None:
    code = await staff_code(core)
    hoa = ChatDriver(core, "300", name="Chị Hoa")
    await hoa.say(f"/nhanvien {code[:4].lower()}-{code[4:]}")  # copied in any case, with a dash
    assert hoa.text() == vi("staff_join.ok", station="Phường Pleiku")
    member = (await members(core))["300"]
    assert (member.role, member.name, member.active) == (STAFF, "Chị Hoa", True)
    assert await access(core, "300") == Access(STAFF, (await station(core, PLEIKU)).id)
    [event] = await audit_events(core, "role.join")
    assert event.actor == "telegram:300" and (event.entity, event.entity_id) == ("role", "telegram:300")
    assert event.before is None
    assert event.after == {"role": STAFF, "station": PLEIKU, "active": True, "code": code_key(code)}


async def test_the_english_alias_and_a_move_to_another_station(core: Core) -> None:
    await add_staff(core, "300", STAFF, QUY_NHON)
    hoa = ChatDriver(core, "300", name="Chị Hoa")
    await hoa.say(f"/staff {await staff_code(core)}")
    assert hoa.text() == vi("staff_join.ok", station="Phường Pleiku")
    assert (await access(core, "300")).station_id == (await station(core, PLEIKU)).id
    [event] = await audit_events(core, "role.join")
    assert event.before == {"role": STAFF, "station": QUY_NHON, "active": True}


@pytest.mark.parametrize("typed", ["/nhanvien ABCDEFGH", "/nhanvien 12"])
async def test_an_unknown_staff_code(core: Core, typed: str) -> None:
    chat = ChatDriver(core, "300")
    await chat.say(typed)
    assert chat.text() == vi("staff_join.unknown")
    assert await access(core, "300") == Access(None)


async def test_a_group_bind_code_does_not_make_staff_and_a_staff_code_binds_no_group(core: Core) -> None:
    chat = ChatDriver(core, "300")
    await chat.say(f"/nhanvien {await bind_code(core)}")
    assert chat.text() == vi("staff_join.unknown")
    group = group_chat(core)
    await group.say(f"/lienket {await staff_code(core)}")
    assert group.text() == vi("bind.unknown")
    assert await rows(core, GroupBinding) == [] and await members(core) == {}


async def test_a_used_staff_code(core: Core) -> None:
    code = await staff_code(core)
    await ChatDriver(core, "300").say(f"/nhanvien {code}")
    other = ChatDriver(core, "301")
    await other.say(f"/nhanvien {code}")
    assert other.text() == vi("staff_join.used")
    assert await access(core, "301") == Access(None)


async def test_an_expired_staff_code(core: Core, clock: Clock) -> None:
    code = await staff_code(core)
    clock.advance(hours=24, seconds=1)
    chat = ChatDriver(core, "300")
    await chat.say(f"/nhanvien {code}")
    assert chat.text() == vi("staff_join.expired")
    assert await access(core, "300") == Access(None)


async def test_in_a_group_the_code_is_not_used_and_private_is_explained(core: Core) -> None:
    code = await staff_code(core)
    group = group_chat(core)
    await group.say(f"/nhanvien {code}")
    assert group.text() == vi("staff_join.private_only")
    assert await access(core, "300") == Access(None)
    assert (await get(core, BindCode, code_key(code))).used_at is None


async def test_without_a_code_and_for_someone_with_a_wider_role(core: Core) -> None:
    chat = ChatDriver(core, "300")
    await chat.say("/nhanvien")
    assert chat.text() == vi("staff_join.usage")
    code = await staff_code(core)
    admin = admin_chat(core)
    await admin.say(f"/nhanvien {code}")
    assert admin.text() == vi("staff_join.has_role")
    await add_staff(core, "302", PROVINCE)
    province = ChatDriver(core, "302")
    await province.say(f"/nhanvien {code}")
    assert province.text() == vi("staff_join.has_role")
    assert (await get(core, BindCode, code_key(code))).used_at is None  # still good for its staff member


# --- /tram: the list ----------------------------------------------------------------------------------


async def test_tram_pages_through_every_station(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/tram")
    assert admin.last[0].text.startswith(vi("tram.list", count=135, page=1, pages=14))
    assert len(labels(admin)) == 11 and labels(admin)[-1] == "▶"
    assert labels(admin)[0] == "Xã Al Bá"  # by name, accents aside
    first_page = labels(admin)[:10]
    await admin.press("▶")
    [page] = admin.last
    assert page.edit_id == "1"  # the same message turns its page
    assert page.text.startswith(vi("tram.list", count=135, page=2, pages=14))
    assert labels(admin)[-2:] == ["◀", "▶"] and not set(labels(admin)[:10]) & set(first_page)
    await press_value(admin, "list", "p13")
    assert admin.text().startswith(vi("tram.list", count=135, page=14, pages=14))
    assert len(labels(admin)) == 6 and labels(admin)[-1] == "◀"  # 135 = 13 × 10 + 5
    await press_value(admin, "list", "p99")  # past the end: the last page, not an error
    assert admin.text().startswith(vi("tram.list", count=135, page=14, pages=14))


async def test_tram_search_by_typing_part_of_a_name(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/tram")
    await admin.say("quy nhon")
    assert admin.text().startswith(vi("tram.list_found", query="quy nhon", count=5, page=1, pages=1))
    assert labels(admin) == ["Phường Quy Nhơn", "Phường Quy Nhơn Bắc", "Phường Quy Nhơn Đông",
                             "Phường Quy Nhơn Nam", "Phường Quy Nhơn Tây", vi("tram.all")]
    await admin.say("không có trạm này")
    assert admin.last[0].text == vi("tram.no_match", query="không có trạm này")
    assert admin.last[1].text.startswith(vi("tram.list_found", query="quy nhon", count=5, page=1, pages=1))
    await admin.press(vi("tram.all"))
    assert admin.text().startswith(vi("tram.list", count=135, page=1, pages=14))


async def test_tram_with_a_name_searches_at_once(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/tram Pleiku")
    assert admin.text().startswith(vi("tram.list_found", query="Pleiku", count=1, page=1, pages=1))
    await admin.say("/stations xyzxyz")
    assert admin.text().startswith(vi("tram.no_match", query="xyzxyz"))
    assert vi("tram.list", count=135, page=1, pages=14) in admin.text()


async def open_station(core: Core, name: str = "Pleiku") -> ChatDriver:
    admin = admin_chat(core)
    await admin.say(f"/tram {name}")
    await admin.press(f"Phường {name}")
    return admin


async def test_a_station_page(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_staff(core, "300", STAFF, PLEIKU)
    await bind_group(core)
    admin = await open_station(core)
    text = admin.text()
    assert admin.last[0].edit_id == "1"
    for line in (vi("tram.station", name="Phường Pleiku", code=PLEIKU), vi("tram.active"), vi("tram.people", count=1),
                 vi("tram.staff", count=1), vi("tram.groups", count=1),
                 vi("tram.group_line", chat=GROUP, channel="telegram", at="09:30 29/11/2026")):
        assert line in text, (line, text)
    assert "Nguyễn Văn An" not in text  # counts, not people
    assert labels(admin) == [vi("tram.button.bind_code"), vi("tram.button.staff_code"), vi("tram.button.phone"),
                             vi("tram.button.unbind"), vi("tram.button.deactivate"), vi("tram.button.back")]
    await admin.press(vi("tram.button.back"))
    assert admin.text().startswith(vi("tram.list_found", query="Pleiku", count=1, page=1, pages=1))


# --- /tram: actions -----------------------------------------------------------------------------------


async def test_issue_a_group_bind_code_and_bind_with_it(core: Core) -> None:
    admin = await open_station(core)
    await admin.press(vi("tram.button.bind_code"))
    code = code_in(admin)
    assert admin.text() == vi("tram.bind_code", station="Phường Pleiku", code=code, until="09:30 30/11/2026")
    [issued] = await audit_events(core, "binding.code")
    assert issued.actor == "telegram:999"
    assert (issued.entity, issued.entity_id) == ("station", str((await station(core, PLEIKU)).id))
    assert issued.after["code"] == code_key(code)  # the audit keeps the hash, as the database does
    group = group_chat(core)
    await group.say(f"/lienket {code}")
    assert group.text() == vi("bind.ok", station="Phường Pleiku")
    [bound] = await audit_events(core, "binding.bind")
    assert (bound.entity, bound.entity_id, bound.before) == ("binding", f"telegram:{GROUP}", None)
    assert bound.after == {"station": PLEIKU, "scope": "station"}


async def test_issue_a_staff_code_and_join_with_it(core: Core) -> None:
    admin = await open_station(core)
    await admin.press(vi("tram.button.staff_code"))
    code = code_in(admin)
    assert admin.text() == vi("tram.staff_code", station="Phường Pleiku", code=code, until="09:30 30/11/2026")
    assert (await audit_events(core, "staffcode.issue"))[0].after["code"] == code_key(code)
    await ChatDriver(core, "300", name="Chị Hoa").say(f"/nhanvien {code}")
    await admin.say("/tram Pleiku")
    await admin.press("Phường Pleiku")
    assert vi("tram.staff", count=1) in admin.text()


async def test_unbind_one_of_two_groups(core: Core) -> None:
    await bind_group(core)
    await bind_group(core, chat_id=OTHER_GROUP)
    elsewhere = await bind_group(core, QUY_NHON, chat_id="-100700")
    admin = await open_station(core)
    await admin.press(vi("tram.button.unbind"))
    assert admin.last[0].text == vi("tram.unbind_which", station="Phường Pleiku")
    assert labels(admin) == [vi("tram.group_button", chat=GROUP, channel="telegram"),
                             vi("tram.group_button", chat=OTHER_GROUP, channel="telegram"), vi("tram.button.back")]
    other_station = next(b for b in await rows(core, GroupBinding) if b.chat_id == elsewhere.chat_id)
    await press_value(admin, "unbind", str(other_station.id))  # forged: another station's group
    assert admin.last[0].text == vi("err.use_buttons")
    await admin.press(GROUP)
    assert admin.text().startswith(vi("tram.unbound", chat=GROUP, channel="telegram"))
    assert vi("tram.groups", count=1) in admin.text()
    assert sorted(b.chat_id for b in await rows(core, GroupBinding)) == [OTHER_GROUP, "-100700"]
    [event] = await audit_events(core, "binding.unbind")
    assert (event.entity_id, event.before, event.after) == (f"telegram:{GROUP}", {"station": PLEIKU,
                                                                                  "scope": "station"}, None)
    [told] = [row for row in await outbox(core) if row.chat_id == GROUP]
    assert told.payload["text"] == vi("tram.unbound_group", station="Phường Pleiku")


async def test_unbind_offers_nothing_without_groups(core: Core) -> None:
    admin = await open_station(core)
    assert vi("tram.button.unbind") not in labels(admin)
    await press_value(admin, "station", "unbind")  # an older page's button
    assert admin.last[0].text == vi("tram.no_groups")


async def test_deactivate_and_reactivate_a_station(core: Core, chat: ChatDriver) -> None:
    admin = await open_station(core)
    await admin.press(vi("tram.button.deactivate"))
    assert admin.text().startswith(vi("tram.deactivated", station="Phường Pleiku"))
    assert vi("tram.inactive") in admin.text()
    assert labels(admin) == [vi("tram.button.phone"), vi("tram.button.activate"),  # no codes for a closed station
                             vi("tram.button.back")]
    assert not (await station(core, PLEIKU)).active
    [event] = await audit_events(core, "station.deactivate")
    assert (event.before, event.after) == ({"active": True}, {"active": False})
    async with core.db.session() as session:
        assert await find_stations(session, "pleiku") == []  # not offered at registration
    await press_value(admin, "station", "staff")  # a forged or older button
    assert admin.last[0].text == vi("tram.inactive_no_codes")
    assert await audit_events(core, "staffcode.issue") == []

    await admin.say("/tram pleiku")  # the admins' list still shows it, marked
    assert labels(admin)[0] == "⛔ Phường Pleiku"
    await admin.press("Phường Pleiku")
    await admin.press(vi("tram.button.activate"))
    assert admin.text().startswith(vi("tram.activated", station="Phường Pleiku"))
    assert (await station(core, PLEIKU)).active
    assert len(await audit_events(core, "station.activate")) == 1
    await register(chat)  # offered again


async def test_a_forged_station_choice(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/tram")
    for value in ("99999", "abc", "p-1", ""):
        await press_value(admin, "list", value)
        assert admin.last[0].text == vi("err.use_buttons"), value
    await press_value(admin, "station", "off")  # a button of a step the admin is not on
    assert admin.last[0].text == vi("common.stale_button")
    assert all(s.active for s in await rows(core, Station))


async def test_tram_is_for_admins_only_and_refusals_are_recorded(core: Core) -> None:
    await add_staff(core, "300", STAFF, PLEIKU)
    await add_staff(core, "302", PROVINCE)
    for user_id in ("100", "300", "302"):
        chat = ChatDriver(core, user_id)
        await chat.say("/tram")
        assert chat.text() == vi("access.refused")
        await press_value(chat, "station", "off")  # no flow to reach the station with
        assert chat.last[0].text == vi("common.stale_button")
    refused = await audit_events(core, "access.refused")
    assert [(e.actor, e.entity_id, e.after) for e in refused] == [
        ("telegram:100", "/tram", {"role": None}), ("telegram:300", "/tram", {"role": STAFF}),
        ("telegram:302", "/tram", {"role": PROVINCE})]
    assert all(s.active for s in await rows(core, Station))
    group = group_chat(core, "999")
    await group.say("/tram")
    assert group.text() == vi("group.private_only")


async def test_an_admin_revoked_mid_flow_is_stopped_at_the_next_button(core: Core) -> None:
    await add_staff(core, "303", ADMIN)
    granted = ChatDriver(core, "303", name="Lan")
    await granted.say("/tram Pleiku")
    await admin_chat(core).say("/thuhoi 303")
    await granted.press("Phường Pleiku")
    assert granted.text() == vi("access.refused")
    assert [e.entity_id for e in await audit_events(core, "access.refused")] == ["tram"]
    await granted.say("pleiku")  # the flow is over: typed text is not a search any more
    assert vi("tram.list_found", query="pleiku", count=1, page=1, pages=1) not in granted.text()


async def test_a_granted_admin_runs_tram_in_english(core: Core) -> None:
    await add_staff(core, "303", ADMIN)
    admin = ChatDriver(core, "303", language_code="en")
    await admin.say("/stations pleiku")
    assert admin.text().startswith("🔎 Stations matching «pleiku»: 1 (page 1/1).")


# --- /capquyen and /thuhoi ----------------------------------------------------------------------------


async def test_grant_staff_by_station_code(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say(f"/capquyen 300 nhanvien {PLEIKU}")
    assert admin.text() == vi("grant.ok_staff", user="300", station="Phường Pleiku")
    assert await access(core, "300") == Access(STAFF, (await station(core, PLEIKU)).id)
    [event] = await audit_events(core, "role.grant")
    assert (event.actor, event.entity_id, event.before) == ("telegram:999", "telegram:300", None)
    assert event.after == {"role": STAFF, "station": PLEIKU, "active": True}
    [told] = await outbox(core)
    assert (told.chat_id, told.payload["text"]) == ("300", vi("role.granted_staff", station="Phường Pleiku"))


async def test_grant_staff_by_station_name_then_province_then_admin(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/grant 300 staff Quy Nhơn")  # "Quy Nhơn Bắc" etc. also match; the exact name wins
    assert admin.text() == vi("grant.ok_staff", user="300", station="Phường Quy Nhơn")
    await admin.say("/capquyen 300 tỉnh")
    assert admin.text() == vi("grant.ok_province", user="300")
    assert await access(core, "300") == Access(PROVINCE)
    await admin.say("/capquyen 300 QuanTri")
    assert admin.text() == vi("grant.ok_admin", user="300")
    assert await access(core, "300") == Access(ADMIN)
    grants = await audit_events(core, "role.grant")
    assert [(e.before or {}).get("role") for e in grants] == [None, STAFF, PROVINCE]
    assert grants[1].before == {"role": STAFF, "station": QUY_NHON, "active": True}
    assert grants[1].after == {"role": PROVINCE, "station": None, "active": True}
    new_admin = ChatDriver(core, "300")
    await new_admin.say("/tram pleiku")
    assert new_admin.text().startswith(vi("tram.list_found", query="pleiku", count=1, page=1, pages=1))


@pytest.mark.parametrize(("typed", "expected"), [
    ("/capquyen", vi("grant.usage")),
    ("/capquyen 300", vi("grant.usage")),
    (f"/capquyen abc staff {PLEIKU}", vi("grant.bad_user", value="abc") + "\n" + vi("grant.usage")),
    (f"/capquyen @hoa staff {PLEIKU}", vi("grant.bad_user", value="@hoa") + "\n" + vi("grant.usage")),
    ("/capquyen 300 boss", vi("grant.bad_role", value="boss") + "\n" + vi("grant.usage")),
    ("/capquyen 300 staff", vi("grant.need_station") + "\n" + vi("grant.usage")),
    ("/capquyen 300 nhanvien 99999", vi("grant.unknown_station", value="99999")),
    ("/capquyen 300 nhanvien Sao Hỏa", vi("grant.unknown_station", value="Sao Hỏa")),
    (f"/capquyen 999 staff {PLEIKU}", vi("grant.self")),
])
async def test_grant_with_bad_input(core: Core, typed: str, expected: str) -> None:
    admin = admin_chat(core)
    await admin.say(typed)
    assert admin.text() == expected
    assert await members(core) == {} and await audit_events(core, "role.grant") == []


async def test_grant_with_a_name_that_fits_several_stations(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/capquyen 300 staff nhon")
    lines = admin.text().splitlines()
    assert lines[0] == vi("grant.several_stations", value="nhon")
    assert vi("grant.station_choice", code="21910", name="Phường An Nhơn") in lines
    assert len(lines) == 7 and await members(core) == {}


async def test_revoke(core: Core) -> None:
    await add_staff(core, "300", STAFF, PLEIKU)
    admin = admin_chat(core)
    await admin.say("/thuhoi 300")
    assert admin.text() == vi("revoke.ok", user="300")
    assert await access(core, "300") == Access(None)
    assert (await members(core))["300"].active is False  # kept for the history
    [event] = await audit_events(core, "role.revoke")
    assert event.before == {"role": STAFF, "station": PLEIKU, "active": True}
    assert event.after == {"role": STAFF, "station": PLEIKU, "active": False}
    [told] = await outbox(core)
    assert (told.chat_id, told.payload["text"]) == ("300", vi("role.revoked"))
    await admin.say("/revoke 300")
    assert admin.text() == vi("revoke.none", user="300")
    await admin.say(f"/capquyen 300 staff {QUY_NHON}")  # granted again: the same record, active
    assert await access(core, "300") == Access(STAFF, (await station(core, QUY_NHON)).id)
    assert len(await rows(core, StaffMember)) == 1


@pytest.mark.parametrize(("typed", "expected"), [
    ("/thuhoi", vi("revoke.usage")),
    ("/thuhoi 300 301", vi("revoke.usage")),
    ("/thuhoi hoa", vi("grant.bad_user", value="hoa") + "\n" + vi("revoke.usage")),
    ("/thuhoi 12345", vi("revoke.none", user="12345")),
    ("/thuhoi 999", vi("grant.self")),
])
async def test_revoke_with_bad_input(core: Core, typed: str, expected: str) -> None:
    admin = admin_chat(core)
    await admin.say(typed)
    assert admin.text() == expected
    assert await audit_events(core, "role.revoke") == []


async def test_a_settings_admin_stays_admin(core: Core) -> None:
    await add_staff(core, "303", ADMIN)
    granted = ChatDriver(core, "303")
    await granted.say("/thuhoi 999")
    assert granted.text() == vi("revoke.settings_admin", user="999")
    await granted.say(f"/capquyen 999 staff {PLEIKU}")
    assert granted.text() == "\n".join([vi("grant.ok_staff", user="999", station="Phường Pleiku"),
                                        vi("grant.settings_admin_note")])
    assert await access(core, "999") == Access(ADMIN)


@pytest.mark.parametrize("typed", ["/capquyen 300 admin", "/grant 300 admin", "/thuhoi 999", "/revoke 303"])
async def test_grant_and_revoke_refused_to_others(core: Core, typed: str) -> None:
    await add_staff(core, "303", ADMIN)
    await add_staff(core, "301", STAFF, PLEIKU)
    await add_staff(core, "302", PROVINCE)
    for user_id in ("300", "301", "302"):
        chat = ChatDriver(core, user_id)
        await chat.say(typed)
        assert chat.text() == vi("access.refused")
    command = typed.split()[0]
    refused = await audit_events(core, "access.refused")
    assert [(e.actor.split()[0], e.entity_id) for e in refused] == [
        ("telegram:300", command), ("telegram:301", command), ("telegram:302", command)]
    assert await audit_events(core, "role.grant") == [] and await audit_events(core, "role.revoke") == []
    assert (await access(core, "300")).role is None and (await access(core, "303")).role == ADMIN


# --- audit of alerts and bindings ---------------------------------------------------------------------


async def watch_alert(core: Core, chat: ChatDriver) -> dict:
    await register(chat)
    await chat.say("/khaibao")
    await declare(chat, "37,8")
    [row] = [r for r in await outbox(core) if r.alert_id]
    return row.payload


def button_of(payload: dict, index: int) -> str:
    return payload["buttons"][0][index][1]


async def test_taking_and_resolving_an_alert_is_recorded(core: Core, chat: ChatDriver, clock: Clock) -> None:
    group = await bind_group(core)
    payload = await watch_alert(core, chat)
    clock.advance(minutes=5)
    await group.send(button=button_of(payload, 0), message_id="9")
    minh = group_chat(core, "301", "Anh Minh")
    await minh.send(button=button_of(payload, 0), message_id="9")  # already taken: nothing changes
    await minh.send(button=button_of(payload, 1), message_id="9")
    await group.send(button=button_of(payload, 1), message_id="9")  # already resolved
    [alert] = await alerts(core)
    recorded = [e for e in await audit_events(core) if e.entity == "alert"]
    assert [(e.action, e.actor, e.entity_id, e.before, e.after) for e in recorded] == [
        ("alert.ack", "telegram:300", str(alert.id), {"status": "open"}, {"status": "acknowledged"}),
        ("alert.resolve", "telegram:301", str(alert.id), {"status": "acknowledged"},
         {"status": "resolved"}),
    ]
    assert core.to_local(recorded[0].at).strftime("%H:%M") == "09:35"


async def test_resolving_an_open_alert_at_once_is_one_event(core: Core, chat: ChatDriver) -> None:
    group = await bind_group(core)
    payload = await watch_alert(core, chat)
    await group.send(button=button_of(payload, 1), message_id="9")
    recorded = [e for e in await audit_events(core) if e.entity == "alert"]
    assert [(e.action, e.before, e.after) for e in recorded] == [
        ("alert.resolve", {"status": "open"}, {"status": "resolved"})]


async def test_a_refused_alert_press_changes_and_records_nothing(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    payload = await watch_alert(core, chat)
    stranger = group_chat(core, "400", "Người lạ", chat_id="-100999")
    await stranger.send(button=button_of(payload, 0), message_id="9")
    assert [e for e in await audit_events(core) if e.entity == "alert"] == []


async def test_moving_a_group_to_another_station_records_before_and_after(core: Core) -> None:
    await bind_group(core)
    await bind_group(core, QUY_NHON)
    async with core.db.session() as session:
        province_code = await issue_bind_code(session, "PROVINCE", core.utcnow())
    await group_chat(core).say(f"/lienket {province_code}")
    recorded = await audit_events(core, "binding.bind")
    assert [(e.before, e.after) for e in recorded] == [
        (None, {"station": PLEIKU, "scope": "station"}),
        ({"station": PLEIKU, "scope": "station"}, {"station": QUY_NHON, "scope": "station"}),
        ({"station": QUY_NHON, "scope": "station"}, {"station": None, "scope": "province"}),
    ]
    assert {e.entity_id for e in recorded} == {f"telegram:{GROUP}"}


async def test_a_failed_bind_records_nothing(core: Core) -> None:
    await group_chat(core).say("/lienket ABCDEFGH")
    assert await audit_events(core, "binding.bind") == []


# --- /trogiup ------------------------------------------------------------------------------------------


async def test_citizen_help_is_unchanged(core: Core, chat: ChatDriver) -> None:
    await chat.say("/trogiup")
    assert chat.text() == vi("help.citizen")
    await register(chat)
    await chat.say("/help")
    assert chat.text() == vi("help.citizen")


async def test_staff_help_lists_the_staff_commands(core: Core) -> None:
    await add_staff(core, "300", STAFF, PLEIKU)
    chat = ChatDriver(core, "300")
    await chat.say("/trogiup")
    text = chat.text()
    assert text.startswith(vi("help.citizen") + "\n\n" + vi("help.staff_title", station="Phường Pleiku"))
    assert "/baocao (/report) — " + vi("cmd.baocao") in text
    assert "/tram" not in text and "/capquyen" not in text
    assert text.endswith(vi("help.staff_footer"))


async def test_admin_and_province_help(core: Core) -> None:
    admin = admin_chat(core)
    await admin.say("/trogiup")
    assert vi("help.admin_title") in admin.text()
    for line in ("/tram (/stations) — " + vi("cmd.tram"), "/capquyen (/grant) — " + vi("cmd.capquyen"),
                 "/thuhoi (/revoke) — " + vi("cmd.thuhoi"), "/baocao (/report)"):
        assert line in admin.text(), line
    await add_staff(core, "302", PROVINCE)
    province = ChatDriver(core, "302", language_code="en")
    await province.say("/help")
    assert "📊 Commands for province viewers" in province.text()
    assert "/baocao (/report)" in province.text() and "/tram" not in province.text()


async def test_a_revoked_member_gets_the_citizen_help(core: Core) -> None:
    await add_staff(core, "300", STAFF, PLEIKU)
    await admin_chat(core).say("/thuhoi 300")
    chat = ChatDriver(core, "300")
    await chat.say("/trogiup")
    assert chat.text() == vi("help.citizen")


# --- the CLI --------------------------------------------------------------------------------------------


async def test_cli_staff_code_prints_only_the_code_and_it_works(core: Core, db_url: str) -> None:
    result = run_cachly(db_url, "station", "staff-code", PLEIKU)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}\n", result.stdout)
    assert "/nhanvien" in result.stderr and "Traceback" not in result.stderr
    chat = ChatDriver(core, "300")
    await chat.say(f"/nhanvien {result.stdout.strip()}")
    assert chat.text() == vi("staff_join.ok", station="Phường Pleiku")
    [issued] = await audit_events(core, "staffcode.issue")
    assert (issued.actor, issued.after["code"]) == ("cli", code_key(result.stdout.strip()))


@pytest.mark.parametrize(("args", "says"), [
    (("station", "staff-code", "nope"), "nope"),
    (("station", "staff-code", "PROVINCE"), "one station"),
    (("station", "staff-code", PLEIKU, "--hours", "0"), "--hours"),
])
async def test_cli_staff_code_problems_are_one_line(core: Core, db_url: str, args: tuple, says: str) -> None:
    result = run_cachly(db_url, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr


async def test_cli_bind_code_is_audited(core: Core, db_url: str) -> None:
    result = run_cachly(db_url, "station", "bind-code", PLEIKU)
    assert result.returncode == 0, result.stderr
    [issued] = await audit_events(core, "binding.code")
    assert (issued.actor, issued.after["code"]) == ("cli", code_key(result.stdout.strip()))


async def test_cli_audit_of_a_person_and_of_an_alert(core: Core, chat: ChatDriver, clock: Clock,
                                                     db_url: str) -> None:
    group = await bind_group(core)
    payload = await watch_alert(core, chat)
    clock.advance(minutes=5)
    await group.send(button=button_of(payload, 0), message_id="9")
    clock.advance(minutes=10)
    await group_chat(core, "301", "Anh Minh").send(button=button_of(payload, 1), message_id="9")
    [alert] = await alerts(core)
    async with core.db.session() as session:  # as the person card's actions record theirs
        record(session, "telegram:301 (Anh Minh)", "person.extend", "person", alert.person_id,
               before={"end_date": "2026-12-12"}, after={"end_date": "2026-12-19"},
               at=core.utcnow() + timedelta(minutes=1))
        record(session, "cli", "person.extend", "person", alert.person_id + 1, after={"end_date": "x"})

    result = run_cachly(db_url, "audit", "--person", str(alert.person_id))
    assert result.returncode == 0, result.stderr
    # Among the person's other events (e.g. their registration), in time order:
    ours = [line for line in result.stdout.splitlines() if " alert." in line or " person.extend " in line]
    assert ours == [
        f"2026-11-29 09:35  telegram:300  alert.ack  alert {alert.id}  status: open → acknowledged",
        f"2026-11-29 09:45  telegram:301  alert.resolve  alert {alert.id}  "
        "status: acknowledged → resolved",
        f"2026-11-29 09:46  telegram:301  person.extend  person {alert.person_id}  "
        "end_date: 2026-12-12 → 2026-12-19",
    ]
    for private in ("Nguyễn Văn An", "0912345678", "Lê Lợi"):  # nothing of the person beyond the events
        assert private not in result.stdout
    by_alert = run_cachly(db_url, "audit", "--alert", str(alert.id))
    assert by_alert.stdout.splitlines() == ours[:2]


async def test_cli_audit_without_events_or_subject(core: Core, db_url: str) -> None:
    result = run_cachly(db_url, "audit", "--person", "12345")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.strip() == "no audit events for person 12345"
    assert run_cachly(db_url, "audit").returncode == 2  # argparse: one of --person / --alert
    assert run_cachly(db_url, "audit", "--alert", "x").returncode == 2



# --- over the fake Bot API --------------------------------------------------------------------------------


async def test_tram_and_staff_joining_over_telegram(harness: e2e.Harness) -> None:
    """An admin pages and searches /tram, issues a staff code; Lan joins with it; Bình is granted and told."""
    fake, say, tap = harness.fake, e2e.say, e2e.tap
    admin, lan, binh = e2e.ADMIN, e2e.STAFF_LAN, e2e.STAFF_BINH
    listing = await say(fake, admin, "/tram", vi("tram.list", count=135, page=1, pages=14))
    assert [label for label, _ in fake.buttons(listing)][-1] == "▶"
    await fake.press(admin, listing, fake.button(listing, "▶"))
    turned = await fake.wait_for_edit(admin, listing["message_id"])  # the same message, next page
    assert turned["text"].startswith(vi("tram.list", count=135, page=2, pages=14))

    found = await say(fake, admin, "pleiku", vi("tram.list_found", query="pleiku", count=1, page=1, pages=1))
    await fake.press(admin, found, fake.button(found, "Phường Pleiku"))
    page = await fake.wait_for_edit(admin, found["message_id"])
    assert page["text"].startswith(vi("tram.station", name="Phường Pleiku", code=PLEIKU))
    issued = await tap(fake, admin, vi("tram.button.staff_code"), "/nhanvien ")
    code = CODE.search(issued["text"]).group(1)

    await say(fake, lan, f"/nhanvien {code}", vi("staff_join.ok", station="Phường Pleiku"))
    helped = await say(fake, lan, "/trogiup", vi("help.staff_title", station="Phường Pleiku"))
    assert "/tram" not in helped["text"]
    await say(fake, lan, "/tram", vi("access.refused"))

    await say(fake, admin, f"/capquyen {binh} nhanvien {PLEIKU}",
              vi("grant.ok_staff", user=str(binh), station="Phường Pleiku"))
    await fake.wait_for_message(binh, lambda m: m["text"] == vi("role.granted_staff", station="Phường Pleiku"))
