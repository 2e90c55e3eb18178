"""Message catalogs: gettext .po files whose msgids are message keys; Vietnamese is the reference."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

DEFAULT_LANGUAGE = "vi"
DOMAIN = "cachly"
_DIR = Path(__file__).parent


def catalog_path(lang: str) -> Path:
    return _DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def languages() -> tuple[str, ...]:
    """The languages with a catalog here (a language is its file <code>/LC_MESSAGES/cachly.po, the code an
    ISO 639-1 one such as "fr"): Vietnamese, the reference, first; then the others sorted."""
    found = sorted(path.parents[1].name for path in _DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


LANGUAGES = languages()  # for the code that reads them once; languages() sees the directory tests swap in


@cache
def catalog(lang: str) -> dict[str, str]:
    with catalog_path(lang).open("rb") as fh:
        po = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def language_for(code: str | None) -> str:
    """The catalog language for a client's language code ("en-US", "fr"): the one of its primary subtag when
    there is a catalog for it, else Vietnamese."""
    primary = (code or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in languages() else DEFAULT_LANGUAGE


def number(lang: str, value: float | None) -> str:
    """A decimal for people to read: one decimal at most, and a comma in Vietnamese ("37,5"); "—" for none
    (e.g. no thermometer)."""
    if value is None:
        return "—"
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "vi" else text


def t(lang: str, key: str, **params: object) -> str:
    """The text of a message key in a language, falling back to Vietnamese, then to the key itself."""
    text = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**params) if params else text
