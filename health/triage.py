"""Triage of a declaration by the rules: danger (notify at once), watch (call today), normal."""
from __future__ import annotations

from dataclasses import dataclass, field

from health.rules import Rules

DANGER, WATCH, NORMAL = "danger", "watch", "normal"
_ORDER = {NORMAL: 0, WATCH: 1, DANGER: 2}


@dataclass(frozen=True)
class Answers:
    temperature: float | None  # None: no thermometer (then `feverish` says whether the person feels feverish)
    symptoms: tuple[str, ...] = ()
    spo2: int | None = None
    breathing_rate: int | None = None
    feverish: bool = False


@dataclass(frozen=True)
class Reason:
    """Why a declaration is not normal: a message key and its parameters, rendered per language."""

    tier: str
    key: str
    params: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"tier": self.tier, "key": self.key, "params": self.params}


@dataclass(frozen=True)
class Result:
    tier: str
    reasons: tuple[Reason, ...]


def triage(rules: Rules, answers: Answers, age: int) -> Result:
    reasons: list[Reason] = []
    if answers.spo2 is not None and answers.spo2 <= rules.spo2_danger_max:
        reasons.append(Reason(DANGER, "reason.spo2", {"value": answers.spo2}))
    limit = rules.breathing_limit(age)
    if answers.breathing_rate is not None and answers.breathing_rate >= limit:
        reasons.append(Reason(DANGER, "reason.breathing", {"value": answers.breathing_rate, "limit": limit}))
    if answers.temperature is not None and answers.temperature >= rules.temperature_watch:
        reasons.append(Reason(WATCH, "reason.temperature", {"value": f"{answers.temperature:.1f}"}))
    if answers.temperature is None and answers.feverish:  # felt, not measured: as a temperature at the watch line
        reasons.append(Reason(WATCH, "reason.felt_fever"))
    for code in answers.symptoms:
        symptom = rules.symptom(code)
        if symptom is not None:
            reasons.append(Reason(symptom.tier, "reason.symptom", {"code": code}))
    tier = max((r.tier for r in reasons), key=_ORDER.__getitem__, default=NORMAL)
    reasons.sort(key=lambda r: _rank(rules, r.tier, r.key, r.params))
    return Result(tier, tuple(reasons))


def in_alert_order(rules: Rules, reasons: list[dict]) -> list[dict]:
    """Stored reasons (Reason.as_json) in the order an alert shows them, whatever order they were kept in."""
    return sorted(reasons, key=lambda r: _rank(rules, r.get("tier", NORMAL), r["key"], r.get("params", {})))


def _rank(rules: Rules, tier: str, key: str, params: dict) -> tuple[bool, int]:
    """A high temperature first (rules: temperature_high; it is not a tier), then danger before watch."""
    high = key == "reason.temperature" and float(params["value"]) >= rules.temperature_high
    return (not high, -_ORDER.get(tier, 0))
