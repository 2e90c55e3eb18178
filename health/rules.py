"""Health rules as data: defaults from DESIGN.md (with sources), overridable by a TOML file."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from locales import t

_DEFAULTS = Path(__file__).with_name("default_rules.toml")
SYMPTOM_TIERS = ("danger", "watch")


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Symptom:
    code: str
    tier: str  # danger / watch
    max_age: int | None = None  # shown only to people younger than this (children's signs)
    min_age: int = 0  # shown only to people this old or older (where children have their own sign)
    label: dict[str, str] = field(default_factory=dict)  # optional labels for symptoms not in the catalogs


@dataclass(frozen=True)
class BreathingBand:
    min_age: int  # inclusive, years
    max_age: int  # exclusive
    danger_at: int  # breaths per minute at or above which it is a danger sign


@dataclass(frozen=True)
class Schedule:
    """When the bot reminds, chases, escalates, reports and closes quarantines (times are local)."""

    chase_after_minutes: int  # second reminder this long after a slot begins
    station_after_minutes: int  # then the station's list of the silent
    missed_days_alert: int  # whole days without a declaration that make an alert
    report_time: time
    closing_time: time  # on the end date, the closing message goes out at this time
    escalate_after_minutes: int = 15  # [alerts]: an alert nobody took goes to the province group (or admins)
    undelivered_warn_minutes: int = 30  # [alerts]: no copy of an alert delivered: the admins are told


@dataclass(frozen=True)
class Rules:
    slots: tuple[time, ...]
    quarantine_days: dict[str, int]
    self_monitoring_days: int
    temperature_watch: float
    temperature_high: float  # at or above: shown first in the alert (not a tier)
    temperature_min: float
    temperature_max: float
    spo2_danger_max: int
    spo2_min: int
    breathing: tuple[BreathingBand, ...]
    symptoms: tuple[Symptom, ...]
    schedule: Schedule
    retention_days: int

    @property
    def categories(self) -> list[str]:
        return list(self.quarantine_days)

    def symptom(self, code: str) -> Symptom | None:
        return next((s for s in self.symptoms if s.code == code), None)

    def symptom_label(self, code: str, lang: str) -> str:
        """The rules file's own label in that language, else the catalog's (symptom.<code>)."""
        symptom = self.symptom(code)
        return (symptom.label.get(lang) if symptom is not None else None) or t(lang, f"symptom.{code}")

    def symptoms_for_age(self, age: int) -> list[Symptom]:
        return [s for s in self.symptoms if s.min_age <= age and (s.max_age is None or age < s.max_age)]

    def breathing_limit(self, age: int) -> int:
        for band in self.breathing:
            if band.min_age <= age < band.max_age:
                return band.danger_at
        return self.breathing[-1].danger_at


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _parse_slot(text: str) -> time:
    try:
        hour, minute = (int(p) for p in text.split(":"))
        return time(hour, minute)
    except ValueError:
        raise RulesError(f"check-in slot '{text}' is not HH:MM") from None


def load_rules(path: Path | None = None, overrides: dict | None = None) -> Rules:
    """The default rules, with the file at `path` (if any) and then `overrides` laid over them key by key."""
    raw = tomllib.loads(_DEFAULTS.read_text("utf-8"))
    if path is not None:
        try:
            raw = _merge(raw, tomllib.loads(Path(path).read_text("utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"{path}: {exc}") from None
    raw = _merge(raw, overrides or {})
    try:
        return _build(raw)
    except RulesError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: a number written as words, say
        raise RulesError(f"rules: missing or wrong entry {exc}") from None


def _build(raw: dict) -> Rules:
    checkin, triage = raw["checkin"], raw["triage"]
    slots = tuple(sorted(_parse_slot(s) for s in checkin["slots"]))
    if not slots:
        raise RulesError("rules: at least one check-in slot is needed")
    return Rules(
        slots=slots,
        quarantine_days={k: int(v) for k, v in raw["quarantine_days"].items()},
        self_monitoring_days=int(raw["self_monitoring_days"]),
        temperature_watch=float(triage["temperature_watch"]),
        temperature_high=float(triage["temperature_high"]),
        temperature_min=float(checkin["temperature_min"]),
        temperature_max=float(checkin["temperature_max"]),
        spo2_danger_max=int(triage["spo2_danger_max"]),
        spo2_min=int(checkin["spo2_min"]),
        breathing=tuple(BreathingBand(**b) for b in triage["breathing"]),
        symptoms=_symptoms(raw["symptoms"]),
        schedule=_schedule(raw["schedule"], raw.get("alerts", {})),
        retention_days=int(raw["privacy"]["retention_days"]),
    )


def _schedule(raw: dict, alerts: dict) -> Schedule:
    escalate, warn = int(alerts.get("escalate_after_minutes", 15)), int(alerts.get("undelivered_warn_minutes", 30))
    if escalate < 1 or warn < 1:
        raise RulesError("rules: [alerts] minutes must be 1 or more")
    return Schedule(
        chase_after_minutes=int(raw["chase_after_minutes"]),
        station_after_minutes=int(raw["station_after_minutes"]),
        missed_days_alert=int(raw["missed_days_alert"]),
        report_time=_parse_slot(raw["report_time"]),
        closing_time=_parse_slot(raw["closing_time"]),
        escalate_after_minutes=escalate,
        undelivered_warn_minutes=warn,
    )


def _symptoms(entries: list[dict]) -> tuple[Symptom, ...]:
    symptoms = tuple(Symptom(**s) for s in entries)
    wrong = [s.code for s in symptoms if s.tier not in SYMPTOM_TIERS]
    if wrong:  # caught here, not at the first declaration that ticks it
        raise RulesError(f"rules: symptom tier must be danger or watch: {', '.join(wrong)}")
    return symptoms
