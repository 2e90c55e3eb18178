"""Roles: who is an admin, a province viewer or staff of a station, and what each may see and change."""
from __future__ import annotations

import pytest

from services.env import Core
from storage.models import StaffMember
from storage.roles import ADMIN, PROVINCE, STAFF, Access, access_of
from storage.stations import get_station

PLEIKU, QUY_NHON = "23575", "21583"


async def add_member(core: Core, user_id: str, role: str, station: str | None = None,
                     active: bool = True) -> int | None:
    async with core.db.session() as session:
        station_id = (await get_station(session, station)).id if station else None
        session.add(StaffMember(channel="telegram", user_id=user_id, role=role, station_id=station_id, active=active))
        return station_id


async def access(core: Core, user_id: str, channel: str = "telegram") -> Access:
    async with core.db.session() as session:
        return await access_of(session, channel, user_id, core.is_admin(channel, user_id))


async def test_an_admin_of_the_settings_is_admin_without_a_record(core: Core) -> None:
    assert await access(core, "999") == Access(ADMIN)


async def test_the_settings_win_over_a_record(core: Core) -> None:
    await add_member(core, "999", STAFF, PLEIKU)  # e.g. joined with a staff code by mistake
    assert await access(core, "999") == Access(ADMIN)


async def test_the_same_id_on_another_channel_is_nobody(core: Core) -> None:
    assert await access(core, "999", channel="sandbox") == Access(None)


async def test_a_granted_admin(core: Core) -> None:
    await add_member(core, "303", ADMIN)
    assert await access(core, "303") == Access(ADMIN)


async def test_a_province_viewer(core: Core) -> None:
    await add_member(core, "302", PROVINCE)
    assert await access(core, "302") == Access(PROVINCE)


async def test_staff_carry_their_station(core: Core) -> None:
    station_id = await add_member(core, "300", STAFF, PLEIKU)
    assert await access(core, "300") == Access(STAFF, station_id)


async def test_a_revoked_member_has_no_role(core: Core) -> None:
    await add_member(core, "300", STAFF, PLEIKU, active=False)
    assert await access(core, "300") == Access(None)


async def test_nobody(core: Core) -> None:
    assert await access(core, "12345") == Access(None)


A, B = 1, 2  # two stations; every record (person, alert, request) belongs to one


@pytest.mark.parametrize(("who", "sees", "changes"), [
    (Access(ADMIN), {A, B}, {A, B}),
    (Access(PROVINCE), {A, B}, set()),  # province viewers read everything and change nothing
    (Access(STAFF, A), {A}, {A}),
    (Access(STAFF, None), set(), set()),  # a staff record without a station reaches nothing, not everything
    (Access(None), set(), set()),
])
def test_sees_and_changes(who: Access, sees: set, changes: set) -> None:
    for station_id in (A, B):
        assert who.sees(station_id) == (station_id in sees), (who, station_id)
        assert who.changes(station_id) == (station_id in changes), (who, station_id)
