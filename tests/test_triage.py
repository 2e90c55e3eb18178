"""Triage by the default rules of DESIGN.md, and rules files that override them."""
from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from health.rules import RulesError, load_rules
from health.triage import DANGER, NORMAL, WATCH, Answers, in_alert_order, triage

RULES = load_rules()
ADULT = 40


def tier(age: int = ADULT, **answers: object) -> str:
    return triage(RULES, Answers(**{"temperature": 36.8, **answers}), age).tier


def test_normal_declaration() -> None:
    result = triage(RULES, Answers(36.8, (), 98, 16), ADULT)
    assert result.tier == NORMAL
    assert result.reasons == ()


def test_nothing_measured_is_normal() -> None:
    assert tier(spo2=None, breathing_rate=None) == NORMAL


def test_temperature_threshold_is_inclusive() -> None:
    assert tier(temperature=37.4) == NORMAL
    assert tier(temperature=37.5) == WATCH
    reasons = triage(RULES, Answers(37.5), ADULT).reasons
    assert [(r.tier, r.key, r.params) for r in reasons] == [(WATCH, "reason.temperature", {"value": "37.5"})]


def test_spo2_96_is_danger_97_is_normal() -> None:
    assert tier(spo2=97) == NORMAL
    assert tier(spo2=96) == DANGER
    reason = triage(RULES, Answers(36.8, spo2=96), ADULT).reasons[0]
    assert (reason.key, reason.params) == ("reason.spo2", {"value": 96})


@pytest.mark.parametrize("age, limit", [
    (0, 50), (1, 40), (4, 40), (5, 30), (11, 30), (12, 20), (40, 20), (99, 20),
])
def test_breathing_thresholds_by_age(age: int, limit: int) -> None:
    assert RULES.breathing_limit(age) == limit
    assert tier(age, breathing_rate=limit - 1) == NORMAL
    assert tier(age, breathing_rate=limit) == DANGER
    reason = triage(RULES, Answers(36.8, breathing_rate=limit), age).reasons[0]
    assert (reason.key, reason.params) == ("reason.breathing", {"value": limit, "limit": limit})


def test_breathing_of_an_age_past_every_band_uses_the_last() -> None:
    assert RULES.breathing_limit(250) == 20


def test_a_watch_symptom() -> None:
    result = triage(RULES, Answers(36.8, ("cough",)), ADULT)
    assert result.tier == WATCH
    assert [(r.tier, r.key, r.params) for r in result.reasons] == [(WATCH, "reason.symptom", {"code": "cough"})]


def test_a_danger_symptom() -> None:
    assert tier(symptoms=("chest_pain",)) == DANGER


def test_an_unknown_symptom_code_is_ignored() -> None:
    # A code from an older rules file, say, still stored in a conversation: no crash, no reason.
    assert triage(RULES, Answers(36.8, ("no_such_symptom",)), ADULT).reasons == ()


def test_danger_outranks_watch_and_reasons_are_danger_first() -> None:
    result = triage(RULES, Answers(38.5, ("cough", "breathless", "fever"), 94, 25), ADULT)
    assert result.tier == DANGER
    tiers = [r.tier for r in result.reasons]
    assert tiers == sorted(tiers, key=[DANGER, WATCH].index)
    assert tiers.count(DANGER) == 3 and tiers.count(WATCH) == 3
    assert {r.key for r in result.reasons} == {"reason.spo2", "reason.breathing", "reason.temperature",
                                               "reason.symptom"}


def test_default_rules_follow_the_design() -> None:
    assert RULES.slots == (time(8), time(15))
    assert RULES.quarantine_days == {"f1": 14, "f2": 7, "after_central": 7, "other": 14}
    assert RULES.self_monitoring_days == 14
    assert (RULES.temperature_min, RULES.temperature_max, RULES.spo2_min) == (34.0, 43.0, 70)
    codes = {s.code: s.tier for s in RULES.symptoms}
    assert {c for c, t in codes.items() if t == DANGER} == {
        "breathless", "chest_pain", "confusion", "blue_lips", "cough_blood", "child_cannot_drink"}
    assert len([c for c, t in codes.items() if t == WATCH]) == 11
    assert RULES.temperature_high == 39.5


def test_child_only_symptom_is_offered_to_children_only() -> None:
    assert "child_cannot_drink" in [s.code for s in RULES.symptoms_for_age(11)]
    assert "child_cannot_drink" not in [s.code for s in RULES.symptoms_for_age(12)]


def test_coughing_blood_is_a_danger_sign() -> None:
    assert tier(symptoms=("cough_blood",)) == DANGER
    assert tier(age=8, symptoms=("cough_blood",)) == DANGER
    assert "cough_blood" in [s.code for s in RULES.symptoms_for_age(40)]
    assert "cough_blood" in [s.code for s in RULES.symptoms_for_age(3)]


def test_nausea_and_vomiting_is_a_watch_sign_and_a_child_vomiting_is_the_danger_sign() -> None:
    assert tier(symptoms=("nausea_vomiting",)) == WATCH
    assert tier(symptoms=("nausea_vomiting", "cough_blood")) == DANGER
    # 261/QĐ-BYT: vomiting in a child is a danger sign, so a child is offered that sign, not the watch one.
    assert "nausea_vomiting" in [s.code for s in RULES.symptoms_for_age(12)]
    child = [s.code for s in RULES.symptoms_for_age(11)]
    assert "nausea_vomiting" not in child and "child_cannot_drink" in child


def test_a_high_temperature_is_shown_first_but_is_no_tier_of_its_own() -> None:
    assert tier(temperature=39.5) == WATCH  # 261/QĐ-BYT names no temperature among the danger signs
    assert tier(temperature=41.0, symptoms=("cough",)) == WATCH
    result = triage(RULES, Answers(39.5, ("cough", "breathless"), 95), ADULT)
    assert result.tier == DANGER
    assert [(r.key, r.params) for r in result.reasons] == [
        ("reason.temperature", {"value": "39.5"}), ("reason.spo2", {"value": 95}),
        ("reason.symptom", {"code": "breathless"}), ("reason.symptom", {"code": "cough"})]


def test_below_the_high_line_the_temperature_comes_after_the_danger_signs() -> None:
    result = triage(RULES, Answers(39.4, ("cough", "breathless")), ADULT)
    assert [(r.tier, r.key) for r in result.reasons] == [
        (DANGER, "reason.symptom"), (WATCH, "reason.temperature"), (WATCH, "reason.symptom")]


def test_stored_reasons_in_an_older_order_are_shown_in_the_alert_order() -> None:
    stored = [{"tier": DANGER, "key": "reason.symptom", "params": {"code": "breathless"}},
              {"tier": WATCH, "key": "reason.symptom", "params": {"code": "cough"}},
              {"tier": WATCH, "key": "reason.temperature", "params": {"value": "40.1"}},
              {"tier": DANGER, "key": "reason.spo2", "params": {"value": 93}}]
    assert [r["key"] for r in in_alert_order(RULES, stored)] == [
        "reason.temperature", "reason.symptom", "reason.spo2", "reason.symptom"]
    assert [r["params"] for r in in_alert_order(RULES, stored)][1:3] == [{"code": "breathless"}, {"value": 93}]
    assert in_alert_order(RULES, []) == []


# --- rules files --------------------------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_changes_slots_threshold_and_days_and_keeps_the_rest(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, """
[quarantine_days]
f2 = 10

[checkin]
slots = ["16:30", "07:00", "12:00"]

[triage]
temperature_watch = 38.0
"""))
    assert rules.slots == (time(7), time(12), time(16, 30))  # sorted
    assert rules.quarantine_days == {"f1": 14, "f2": 10, "after_central": 7, "other": 14}
    assert rules.temperature_watch == 38.0
    assert rules.spo2_danger_max == 96 and rules.temperature_min == 34.0  # untouched keys stay
    assert triage(rules, Answers(37.8), ADULT).tier == NORMAL
    assert triage(rules, Answers(38.0), ADULT).tier == WATCH


def test_override_adds_a_category_and_a_labelled_symptom(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, """
[quarantine_days]
returnee = 21

[[symptoms]]
code = "rash"
tier = "watch"
label = { vi = "Phát ban", en = "Rash" }
"""))
    assert rules.quarantine_days["returnee"] == 21
    assert [s.code for s in rules.symptoms] == ["rash"]  # lists are replaced whole
    assert rules.symptom("rash").label["vi"] == "Phát ban"
    assert triage(rules, Answers(36.8, ("rash",)), ADULT).tier == WATCH


def test_the_high_temperature_line_follows_the_rules_file(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "[triage]\ntemperature_high = 39.0"))
    assert rules.temperature_high == 39.0 and rules.temperature_watch == 37.5
    reasons = triage(rules, Answers(39.0, ("chest_pain",)), ADULT).reasons
    assert [r.key for r in reasons] == ["reason.temperature", "reason.symptom"]


@pytest.mark.parametrize("text", [
    "this is = not toml [",
    "[checkin\nslots = []",
    '[checkin]\nslots = ["8h"]',
    '[checkin]\nslots = ["25:00"]',
    "[checkin]\nslots = []",
    "[triage]\nbreathing = [{ min_age = 0 }]",
    '[[symptoms]]\ncode = "x"',
    '[[symptoms]]\ncode = "x"\ntier = "watch"\ncolour = "red"',
    '[[symptoms]]\ncode = "x"\ntier = "urgent"',
    '[triage]\ntemperature_watch = "hot"',
    '[triage]\ntemperature_high = "very hot"',
    "[quarantine_days]\nf1 = \"two weeks\"",
])
def test_a_malformed_rules_file_raises_rules_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(RulesError):
        load_rules(write(tmp_path, text))
