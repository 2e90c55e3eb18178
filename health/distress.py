"""Words of a danger sign typed outside a question ("tôi bị khó thở quá"): the danger advice and one tap to
alert the station. Matched on folded text, accents optional; a false match costs one message of advice."""
from __future__ import annotations

import re

from chat.text import fold

# Folded, whole words. Danger signs of 261/QĐ-BYT as people say them (see DESIGN.md); not "ngạt" alone
# ("ngạt mũi" is a blocked nose) nor "tím môi" ("tìm mọi" folds the same).
DANGER_WORDS = (
    "kho tho", "tho khong duoc", "khong tho duoc", "tho khong noi", "khong tho noi", "tho gap", "tho doc",
    "hut hoi", "ngop tho", "tuc nguc", "dau nguc", "tim tai", "moi tim", "lo mo", "ngu li bi", "li bi",
    "co giat", "ho ra mau", "ngat xiu", "bat tinh", "breathless", "can't breathe", "cannot breathe",
    "chest pain", "blue lips", "seizure",
)
_NOT_A_LETTER = re.compile(r"[^\w']+")


def words_of_danger(text: str | None) -> bool:
    """Whether the text holds words of a danger sign, with or without accents."""
    padded = f" {_NOT_A_LETTER.sub(' ', fold(text or ''))} "
    return any(f" {words} " in padded for words in DANGER_WORDS)
