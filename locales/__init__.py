"""Message catalogs: gettext .po files whose msgids are message keys; Vietnamese is the reference."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
DOMAIN = "cachly"
_DIR = Path(__file__).parent


def catalog_path(lang: str) -> Path:
    return _DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(lang: str) -> dict[str, str]:
    with catalog_path(lang).open("rb") as fh:
        po = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def language_for(code: str | None) -> str:
    """The catalog language for a client's language code: English for en*, else Vietnamese."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def number(lang: str, value: float) -> str:
    """A decimal for people to read: one decimal at most, and a comma in Vietnamese ("37,5")."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "vi" else text


def t(lang: str, key: str, **params: object) -> str:
    """The text of a message key in a language, falling back to Vietnamese, then to the key itself."""
    text = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**params) if params else text
