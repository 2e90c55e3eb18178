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
