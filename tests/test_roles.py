"""Roles: who is an admin, a province viewer or staff of a station, and what each may see and change."""
from __future__ import annotations

import pytest

from services.env import Core
from storage.roles import ADMIN, PROVINCE, STAFF, Access
from tests.factories import PLEIKU, access, add_staff


async def test_an_admin_of_the_settings_is_admin_without_a_record(core: Core) -> None:
    assert await access(core, "999") == Access(ADMIN)


async def test_the_settings_win_over_a_record(core: Core) -> None:
    await add_staff(core, "999", STAFF, PLEIKU)  # e.g. joined with a staff code by mistake
    assert await access(core, "999") == Access(ADMIN)


async def test_the_same_id_on_another_channel_is_nobody(core: Core) -> None:
    assert await access(core, "999", channel="sandbox") == Access(None)


async def test_a_granted_admin(core: Core) -> None:
    await add_staff(core, "303", ADMIN)
    assert await access(core, "303") == Access(ADMIN)


async def test_a_province_viewer(core: Core) -> None:
    await add_staff(core, "302", PROVINCE)
    assert await access(core, "302") == Access(PROVINCE)


async def test_staff_carry_their_station(core: Core) -> None:
    station_id = await add_staff(core, "300", STAFF, PLEIKU)
    assert await access(core, "300") == Access(STAFF, station_id)


async def test_a_revoked_member_has_no_role(core: Core) -> None:
    await add_staff(core, "300", STAFF, PLEIKU, active=False)
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
