"""The understanding step: a merchant's free text to ranked intents, learned from `data/train_*.toml`.

Features are TF-IDF weights of character n-grams of the text (typos, word order, both languages) and of
word n-grams of its toneless pinyin (a homophone typed by a pinyin keyboard, 茶无此票 for 查无此票, sounds
the same); a linear support vector machine (one-vs-rest) scores every intent. Measured against logistic
regression on the held-out set (bench/nlu.py): as accurate or better, and 0.3 s to train instead of 5 s.
Training is deterministic and happens once per process; nothing is downloaded.

A message is scored without scikit-learn's per-call validation (`Scorer`: the same arithmetic over the
fitted vocabularies and weights), which keeps a message well under a millisecond.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.domain.intents import ACTIONS, NAMES, Understood

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
LANGUAGES = ("zh", "en")
THRESHOLD = -0.25
"""The best intent's score must reach this (0 is the support vector machine's own yes/no line)."""
ACTION_THRESHOLD = 0.0
"""An intent that makes the bot act (a ticket, a lookup) needs a clear yes of its own."""
MARGIN = 0.25
"""The best intent must beat the second by this much, or the merchant is asked which one they meant."""
MAX_CHARS = 300
"""Only the start of a long message is read (a question is short; the rest adds cost, not meaning)."""

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")


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


def load_examples(folder: Path = DATA, languages: Sequence[str] = LANGUAGES) -> list[tuple[str, str, str]]:
    """(language, intent, text) for every training example, in file order."""
    examples: list[tuple[str, str, str]] = []
    for language in languages:
        with open(folder / f"train_{language}.toml", "rb") as file:
            data = tomllib.load(file)
        unknown = set(data) - set(NAMES)
        if unknown:
            raise ValueError(f"train_{language}.toml names unknown intents: {sorted(unknown)}")
        for intent, table in data.items():
            examples += [(language, intent, text) for text in table["examples"]]
    return examples


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
    sounds = TfidfVectorizer(analyzer="word", token_pattern=r"[a-z]+", ngram_range=(1, 2), sublinear_tf=True)
    return chars, sounds


@dataclass(frozen=True)
class _Part:
    """One fitted vectorizer, as plain data: its analyzer, vocabulary and idf weights, its column offset."""

    analyze: Callable[[str], list[str]]
    prepare: Callable[[str], str]
    vocabulary: dict[str, int]
    idf: Any
    offset: int


class Scorer:
    """Decision scores of a fitted (vectorizers, LinearSVC) for one text, with no per-call validation."""

    def __init__(self, parts: list[_Part], coef: Any, intercept: Any) -> None:
        self.parts = parts
        self.coef_t = coef.T.copy()  # rows are features: a message's few features are a few rows
        self.intercept = intercept

    def scores(self, text: str) -> Any:
        import numpy as np

        columns: list[int] = []
        weights: list[float] = []
        for part in self.parts:
            counts = Counter(gram for gram in part.analyze(part.prepare(text)) if gram in part.vocabulary)
            start = len(weights)
            for gram, count in counts.items():
                index = part.vocabulary[gram]
                columns.append(part.offset + index)
                weights.append((1.0 + math.log(count)) * float(part.idf[index]))
            norm = math.sqrt(sum(w * w for w in weights[start:]))
            if norm:
                weights[start:] = [w / norm for w in weights[start:]]
        if not columns:
            return self.intercept.copy()
        return np.asarray(weights) @ self.coef_t[columns] + self.intercept


class Classifier:
    """A trained model and the rules that turn its scores into an understanding."""

    def __init__(self, scorer: Scorer, labels: Sequence[str]) -> None:
        self.scorer = scorer
        self.labels = list(labels)

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str, str]]) -> Classifier:
        from scipy.sparse import hstack
        from sklearn.svm import LinearSVC

        rows = list(examples)
        texts = [normalise(text) for _, _, text in rows]
        chars, sounds = _vectorizers()
        matrix = hstack([chars.fit_transform(texts), sounds.fit_transform([pinyin(t) for t in texts])]).tocsr()
        model = LinearSVC(C=0.5, random_state=0).fit(matrix, [intent for _, intent, _ in rows])
        parts = [_Part(chars.build_analyzer(), normalise, chars.vocabulary_, chars.idf_, 0),
                 _Part(sounds.build_analyzer(), lambda text: pinyin(normalise(text)), sounds.vocabulary_,
                       sounds.idf_, len(chars.vocabulary_))]
        return cls(Scorer(parts, model.coef_, model.intercept_), model.classes_)

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Every intent with its score, likeliest first."""
        scores = self.scorer.scores(text)
        return sorted(zip(self.labels, (float(s) for s in scores)), key=lambda pair: -pair[1])

    def understand(self, text: str) -> Understood:
        """The intent when it is clear; otherwise none, with the likeliest ones to offer."""
        ranked = self.rank(text)
        (best, score), (_, second) = ranked[0], ranked[1]
        needed = ACTION_THRESHOLD if best in ACTIONS else THRESHOLD
        clear = score >= needed and score - second >= MARGIN
        return Understood(intent=best if clear else None, confidence=round(score, 3),
                          likely=tuple(name for name, _ in ranked[:4]))


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The classifier trained on the repository's data: once per process."""
    examples = load_examples()
    classifier = Classifier.train(examples)
    logger.info("understanding: trained on %s examples, %s intents", len(examples), len(classifier.labels))
    return classifier
