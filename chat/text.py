"""Text folding for forgiving search: people type "quy nhon" for "Quy Nhơn" on cheap phones."""

from __future__ import annotations

import unicodedata

# 'đ' is a letter of its own, not d + a combining mark, so NFD leaves it alone.
_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Accent-free, lower-case, whitespace collapsed.

    Dropping every combining mark also makes the old and new tone placements ("Hoà"/"Hòa",
    "Thuỷ"/"Thủy") fold equal, whichever way the source or the person wrote them.
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


LINE_BREAK = " ⏎ "  # where a person's text broke a line, inside a line of a staff message


def one_line(text: str) -> str:
    """A person's text made safe to quote inside a staff message: it cannot fake a line of the message.

    Every kind of line break (CR, LF, U+2028, U+2029, NEL...) shows as " ⏎ "; invisible format characters
    (direction marks and overrides U+200E/F, U+202A-E, U+2066-9, zero-width spaces and joiners, the BOM) are
    dropped, so nothing can reorder or hide what follows; other control characters and runs of spaces become one
    space."""
    lines = (" ".join(_visible(line).split()) for line in text.splitlines())
    return LINE_BREAK.join(line for line in lines if line)


def _visible(line: str) -> str:
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in line
                   if unicodedata.category(ch) != "Cf")


def label_keys(label: str) -> set[str]:
    """What a person may type for a button labelled `label`: it folded, without its emoji or punctuation around,
    and without a bracketed tail ("F1 (tiếp xúc gần)" -> also "f1"; "Xong (2 đã chọn)" -> also "xong")."""
    whole = answer_key(label)
    bare = answer_key(whole.split("(", 1)[0])
    return {key for key in (whole, bare) if key}


def answer_key(text: str) -> str:
    """Typed text compared with button labels: folded, no emoji, quotes or punctuation at either end."""
    folded = fold(text)
    start, end = 0, len(folded)
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum() and folded[end - 1] != ")":
        end -= 1
    return " ".join(folded[start:end].split())
