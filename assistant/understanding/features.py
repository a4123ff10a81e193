"""What the understanding step reads from a message: character n-grams of the text and word n-grams of its
pinyin, computed exactly as scikit-learn's `TfidfVectorizer` computes them (`char_wb`, and `word` with a
token pattern), so that weights trained there score here without it."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

CHAR_NGRAMS = (1, 4)
WORD_NGRAMS = (1, 2)
WORD_PATTERN = r"[a-z]+"
MAX_CHARS = 300
"""Only the start of a long message is read (a question is short; the rest adds cost, not meaning)."""

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORDS = re.compile(WORD_PATTERN)


def normalise(text: str) -> str:
    """Lower case, half-width, digits folded to 0, spaces folded."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    return _SPACES.sub(" ", _DIGITS.sub("0", text)).strip()


@lru_cache(maxsize=1)
def _sounds() -> dict[str, str]:
    """Each Chinese character's first reading without tones (pypinyin's table): 查 -> cha, 茶 -> cha."""
    from pypinyin.pinyin_dict import pinyin_dict

    def plain(reading: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", reading) if not unicodedata.combining(c))

    return {chr(point): plain(readings.split(",")[0]) for point, readings in pinyin_dict.items()}


def pinyin(text: str) -> str:
    """The text's Chinese characters as toneless syllables; other characters are dropped."""
    if not _HAN.search(text):
        return ""
    sounds = _sounds()
    return " ".join(sounds[char] for char in text if char in sounds)


def char_ngrams(text: str) -> list[str]:
    """scikit-learn's `char_wb` n-grams: within each word padded with a space on either side."""
    low, high = CHAR_NGRAMS
    grams: list[str] = []
    for word in _SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for size in range(low, high + 1):
            grams += [padded[i:i + size] for i in range(max(1, len(padded) - size + 1))]
            if len(padded) <= size:  # a short word is counted once, as a whole
                break
    return grams


def word_ngrams(text: str) -> list[str]:
    """scikit-learn's `word` n-grams over the token pattern: the tokens, then each pair of neighbours."""
    tokens = _WORDS.findall(text.lower())
    low, high = WORD_NGRAMS
    grams = list(tokens) if low == 1 else []
    for size in range(max(2, low), high + 1):
        grams += [" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)]
    return grams
