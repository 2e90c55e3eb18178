"""Clinical wording against the sources of DESIGN.md: 115 for danger signs only, the advice for breathlessness,
the labels of the symptoms 261/QĐ-BYT adds, and a high temperature leading the alert's reasons."""
from __future__ import annotations

import re

import pytest

from health.triage import DANGER, WATCH
from locales import LANGUAGES, catalog
from services.alerts import reason_texts
from services.env import Core

# Texts for a watch-tier or normal result, or for an ordinary moment: they send the person to the station, not to
# 115 (the emergency number is for danger signs, and the station calls it when needed).
ORDINARY = ("result.normal", "result.watch", "reg.done", "help.citizen", "closing.message", "reg.consent_refused")
EMERGENCY = re.compile(r"(?<!\d)115(?!\d)")


def watch_or_normal_keys(lang: str) -> set[str]:
    return {key for key in catalog(lang) if re.search(r"\.(watch|normal)(\.|$)", key)}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_watch_or_ordinary_text_names_115(lang: str) -> None:
    texts = catalog(lang)
    keys = set(ORDINARY) | watch_or_normal_keys(lang)
    assert {"result.watch", "result.normal", "alert.title.watch"} <= keys
    assert [key for key in sorted(keys) if EMERGENCY.search(texts.get(key, ""))] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_danger_result_names_115_and_the_station(lang: str) -> None:
    text = catalog(lang)["result.danger"]
    assert EMERGENCY.search(text)
    assert ("trạm y tế" if lang == "vi" else "health station") in text


def test_breathlessness_advice_is_to_sit_up_or_lie_with_the_head_raised() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert "ngồi dậy" in vi["result.danger"] and "nằm đầu cao" in vi["result.danger"]
    assert "sit up" in en["result.danger"] and "head raised" in en["result.danger"]
    assert [key for key, text in vi.items() if "nằm nghiêng" in text.lower()] == []
    assert [key for key, text in en.items() if "on your side" in text.lower()] == []


def test_the_new_symptoms_have_plain_labels() -> None:
    assert catalog("vi")["symptom.cough_blood"] == "Ho ra máu"
    assert catalog("vi")["symptom.nausea_vomiting"] == "Buồn nôn, nôn"
    assert catalog("en")["symptom.cough_blood"] == "Coughing up blood"
    assert catalog("en")["symptom.nausea_vomiting"] == "Nausea, vomiting"


async def test_a_high_temperature_leads_the_alert_even_when_stored_after_the_danger_signs(core: Core) -> None:
    stored = [{"tier": DANGER, "key": "reason.symptom", "params": {"code": "breathless"}},
              {"tier": DANGER, "key": "reason.symptom", "params": {"code": "cough_blood"}},
              {"tier": WATCH, "key": "reason.temperature", "params": {"value": "39.8"}}]
    assert reason_texts(core, "vi", stored) == ["Nhiệt độ 39,8°C", "Khó thở, thở hụt hơi", "Ho ra máu"]
    stored[2]["params"]["value"] = "39.4"
    assert reason_texts(core, "vi", stored)[0] == "Khó thở, thở hụt hơi"
