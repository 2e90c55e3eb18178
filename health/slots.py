"""Check-in slot windows: a slot is open from its time until the next slot begins (the last: until midnight)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from health.rules import Rules

END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class Window:
    index: int
    slot: str  # "08:00", the label declarations are stored under
    start: datetime  # local, aware
    end: datetime  # exclusive

    def is_open(self, now: datetime) -> bool:
        return self.start <= now < self.end


def windows(rules: Rules, day: date, tz: ZoneInfo) -> list[Window]:
    starts = [datetime.combine(day, s, tz) for s in rules.slots]
    ends = [*starts[1:], datetime.combine(day + timedelta(days=1), time(0), tz)]
    return [Window(i, s.strftime("%H:%M"), start, end)
            for i, (s, start, end) in enumerate(zip(rules.slots, starts, ends, strict=True))]


def reminder_time(window: Window, personal: list | None) -> datetime:
    """When an account is reminded for a slot: its own time if it chose one inside the window, else the slot's."""
    if personal and window.index < len(personal) and personal[window.index]:
        hour, minute = (int(p) for p in str(personal[window.index]).split(":"))
        chosen = window.start.replace(hour=hour, minute=minute)
        if window.start <= chosen < window.end:
            return chosen
    return window.start


def slot_of(rules: Rules, tz: ZoneInfo, moment: datetime) -> tuple[date, str]:
    """The check-in slot a moment belongs to: the last slot begun, or the first one before it begins."""
    local = moment.astimezone(tz)
    begun = [s for s in rules.slots if s <= local.time()]
    slot = begun[-1] if begun else rules.slots[0]
    return local.date(), slot.strftime("%H:%M")


def slot_text(rules: Rules) -> str:
    return ", ".join(s.strftime("%H:%M") for s in rules.slots)
