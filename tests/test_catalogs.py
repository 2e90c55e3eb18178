"""Every message the code can show has its Vietnamese and English text, with the same placeholders."""
from __future__ import annotations

import re
import string
import typing
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conversations import household, registration
from conversations.person_steps import GENDERS
from handlers.commands import COMMANDS
from health.rules import load_rules
from health.triage import DANGER, NORMAL, WATCH
from locales import LANGUAGES, catalog, catalog_path, t
from services import reports, spreadsheets
from storage.models import RequestStatus
from storage.stations import BindResult

ROOT = Path(__file__).parents[1]
# Packages whose user-facing text must be in the catalogs. (scheduler/ belongs here too once its
# messages are in the catalogs.)
SCANNED = ("chat", "services", "conversations", "delivery", "handlers", "bot", "health")
KEY = r"[a-z_][a-z_0-9]*(?:\.[a-z_0-9]+)+"
# t(lang, "key" / ctx.t("key" / self.t("key"; ctx.button(step, value, "key"; ask("key")
CALLS = [
    re.compile(rf'\bt\(\s*(?:[\w.]+\s*,\s*)?"({KEY})"'),
    re.compile(rf'\.button\(\s*[^()]*?,\s*[^()]*?,\s*"({KEY})"'),
    re.compile(rf'\bask\(\s*"({KEY})"'),
]
F_STRING_FAMILY = re.compile(r'f"([a-z_]+(?:\.[a-z_]+)*)\.\{')
VIETNAMESE = set("ăâđêôơưĂÂĐÊÔƠƯ"
                 "áàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
                 "ÁÀẢÃẠẤẦẨẪẬẮẰẲẴẶÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ")


def sources() -> list[Path]:
    return [p for package in SCANNED for p in sorted((ROOT / package).rglob("*.py"))]


def literal_keys() -> set[str]:
    keys = set()
    for path in sources():
        text = path.read_text("utf-8")
        for pattern in CALLS:
            keys |= set(pattern.findall(text))
    return keys


def namespaced_literals() -> set[str]:
    """Every string literal that looks like a key of a namespace the catalogs use (e.g. "reason.spo2")."""
    namespaces = {key.split(".")[0] for key in catalog("vi")}
    found = set()
    for path in sources():
        for literal in re.findall(rf'(?<![\w{{])"({KEY})"', path.read_text("utf-8")):
            if literal.split(".")[0] in namespaces:
                found.add(literal)
    return found


RULES = load_rules()
WHO = ("self", "other")
SUMMARY_FIELDS = ("full_name", "birth_year", "gender", "phone", "id_number", "station_name", "address",
                  "category")
# Keys built with f-strings, by family; a new family in the code must be listed here.
FAMILIES: dict[str, list[str]] = {
    "gender": [f"gender.{g}" for g in GENDERS],
    "category": [f"category.{c}" for c in RULES.categories],
    "symptom": [f"symptom.{s.code}" for s in RULES.symptoms],
    "result": [f"result.{tier}" for tier in (NORMAL, WATCH, DANGER)],
    "alert.title": [f"alert.title.{tier}" for tier in (DANGER, WATCH)],
    "field": [f"field.{f}" for f in {*registration.EDITABLE, *household.EDITABLE}],
    "bind": [f"bind.{status}" for status in typing.get_args(typing.get_type_hints(BindResult)["status"])],
    "cmd": [c.key for c in COMMANDS],
    "summary": [f"summary.{f}" for f in SUMMARY_FIELDS],
    "deletion.person_status": [f"deletion.person_status.{s}" for s in ("active", "completed")],
    "xlsx.col": [f"xlsx.col.{k}" for k in (*spreadsheets.PEOPLE_KEYS, *spreadsheets.DECLARATION_KEYS)],
    "xlsx.status": [f"xlsx.status.{s}" for s in ("active", "completed")],
    "xlsx.tier": [f"xlsx.tier.{tier}" for tier in (NORMAL, WATCH, DANGER)],
    "template": [f"template.{c.field}" for c in spreadsheets.COLUMNS],
    "report.tier": [f"report.tier.{tier}" for tier in reports.TIERS],
    "chart": [f"chart.{tier}" for tier in reports.TIERS],
    "helpreq.status": [f"helpreq.status.{status}" for status in RequestStatus],
    "card.request": [f"card.request.{status}" for status in RequestStatus],
    **{f"ask.{q}": [f"ask.{q}.{who}" for who in WHO]
       for q in ("name", "birth_year", "gender", "category", "start_date")},
}


def all_keys() -> set[str]:
    return literal_keys() | namespaced_literals() | {k for keys in FAMILIES.values() for k in keys}


def po_entries(lang: str) -> dict[str, tuple[str, set[str]]]:
    """key -> (text, flags), read straight from the .po file."""
    with catalog_path(lang).open("rb") as fh:
        po = read_po(fh, locale=lang)
    return {str(m.id): (str(m.string), set(m.flags)) for m in po if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_scan_finds_the_code_keys() -> None:
    keys = literal_keys()
    assert len(keys) > 80, sorted(keys)
    assert {"ask.consent", "err.temperature", "common.confirm", "symptoms.none", "ask.station",
            "alert.button.ack", "sandbox.intro", "reason.spo2"} <= keys | namespaced_literals()


def test_every_f_string_family_in_the_code_is_covered() -> None:
    used = set()
    for path in sources():
        used |= set(F_STRING_FAMILY.findall(path.read_text("utf-8")))
    assert used <= set(FAMILIES), f"list these families in FAMILIES: {sorted(used - set(FAMILIES))}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_used_has_a_text(lang: str) -> None:
    entries = po_entries(lang)
    missing = sorted(k for k in all_keys() if not entries.get(k, ("", set()))[0].strip())
    assert not missing, f"{lang}: no text for {missing}"


def test_both_catalogs_have_the_same_keys() -> None:
    vi, en = set(po_entries("vi")), set(po_entries("en"))
    assert not vi - en, f"only in vi: {sorted(vi - en)}"
    assert not en - vi, f"only in en: {sorted(en - vi)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_empty_or_fuzzy_entries(lang: str) -> None:
    entries = po_entries(lang)
    assert not [k for k, (text, _) in entries.items() if not text.strip()]
    assert not [k for k, (_, flags) in entries.items() if "fuzzy" in flags]


def test_placeholders_match_between_languages() -> None:
    vi, en = po_entries("vi"), po_entries("en")
    wrong = {key: (placeholders(vi[key][0]), placeholders(en[key][0]))
             for key in vi.keys() & en.keys() if placeholders(vi[key][0]) != placeholders(en[key][0])}
    assert not wrong


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_formats_with_its_placeholders(lang: str) -> None:
    for key, (text, _) in po_entries(lang).items():
        params = dict.fromkeys(placeholders(text), "x")
        assert t(lang, key, **params)  # no KeyError or stray brace


@pytest.mark.parametrize("key", [
    "reg.welcome", "ask.consent", "reg.consent_refused", "err.phone", "ask.station", "ask.symptoms",
    "result.normal", "result.watch", "result.danger", "alert.title.danger", "alert.title.watch", "bind.expired",
    "help.citizen", "common.error", "symptom.breathless", "reg.done",
])
def test_vietnamese_sentences_have_diacritics(key: str) -> None:
    assert VIETNAMESE & set(catalog("vi")[key]), catalog("vi")[key]


def test_vietnamese_sentences_have_diacritics_everywhere() -> None:
    """Any Vietnamese text of three words or more without a single diacritic was typed without them."""
    bare = [key for key, text in catalog("vi").items()
            if len(re.findall(r"[^\W\d_]{2,}", text)) >= 3 and not VIETNAMESE & set(text)]
    assert not bare, bare


def test_english_is_not_vietnamese() -> None:
    # The English catalog is a translation, not a copy; the language picker speaks both on purpose.
    bilingual = {"language.ask"}
    copied = [key for key, text in catalog("en").items()
              if key not in bilingual and text == catalog("vi").get(key) and VIETNAMESE & set(text)]
    assert not copied, copied
