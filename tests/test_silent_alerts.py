"""The missed-days alert: counted from the later of the start and the registration, one per silent spell."""
from __future__ import annotations

from datetime import timedelta

from services.env import Core
from storage.models import Alert, Outbox
from tests.conftest import Clock
from tests.factories import TODAY, add_declaration, add_person, at, tick
from tests.steps import rows, vi


async def silent_alerts(core: Core) -> list[Alert]:
    return await rows(core, Alert, Alert.tier == "silent")


async def days_said(core: Core, alert: Alert) -> str:
    [posted] = await rows(core, Outbox, Outbox.alert_id == alert.id)
    return next(line for line in posted.payload["text"].split("\n") if line.startswith("⚠️ Không khai báo"))


async def test_a_back_dated_import_is_not_silent_at_registration(core: Core, clock: Clock) -> None:
    # an imported list: quarantine began five days ago, registered this morning
    person = await add_person(core, "Lê Thị Hoa", start=TODAY - timedelta(days=5), registered=at(7, 30))
    for days in (0, 1):
        await tick(core, clock, at(8, day=TODAY + timedelta(days=days)))
        assert await silent_alerts(core) == [], days
    await tick(core, clock, at(8, day=TODAY + timedelta(days=2)))  # two whole days since registering
    [alert] = await silent_alerts(core)
    assert alert.person_id == person.id
    assert await days_said(core, alert) == vi("alert.missed", days=2)


async def test_one_alert_per_silent_spell_saying_how_many_days(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Lê Thị Hoa", start=TODAY - timedelta(days=3))
    await tick(core, clock, at(8))
    [first] = await silent_alerts(core)
    assert await days_said(core, first) == vi("alert.missed", days=3)
    for days in range(1, 6):  # still silent: no new alert, every day
        await tick(core, clock, at(8, day=TODAY + timedelta(days=days)))
    assert len(await silent_alerts(core)) == 1

    await add_declaration(core, person, TODAY + timedelta(days=5), "08:00", hour=9)  # she declares again
    for days in (6, 7):
        await tick(core, clock, at(8, day=TODAY + timedelta(days=days)))
    assert len(await silent_alerts(core)) == 1
    await tick(core, clock, at(8, day=TODAY + timedelta(days=8)))  # then silent two whole days again
    [_, second] = await silent_alerts(core)
    assert await days_said(core, second) == vi("alert.missed", days=2)
