"""The understanding step: a merchant's free text to ranked intents, learned from `data/train_*.toml`.

Features are TF-IDF weights of character n-grams of the text (typos, word order, both languages) and of
word n-grams of its toneless pinyin (a homophone typed by a pinyin keyboard, 茶无此票 for 查无此票, sounds
the same); a linear support vector machine (one-vs-rest) scores every intent. Measured against logistic
regression on the held-out set (bench/nlu.py): as accurate or better, and 0.3 s to train instead of 5 s.

Training (`training.py`, scikit-learn) is deterministic and runs once per process start in a process of its
own; the bot keeps only the weights and scores a message with numpy (`Scorer`), well under a millisecond.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.domain.intents import ACTIONS, NAMES, Understood
from assistant.understanding.features import char_ngrams, normalise, pinyin, word_ngrams

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
LANGUAGES = ("zh", "en")
THRESHOLD = -0.25
"""The best intent's score must reach this (0 is the support vector machine's own yes/no line). Chosen by
5-fold cross-validation on the training set (bench/nlu.py --tune): about three in four messages are taken,
with about 3% of those wrong there; the held-out set is never used to choose it."""
ACTION_THRESHOLD = 0.0
"""An intent that makes the bot act (a ticket, a lookup) needs a clear yes of its own."""
MARGIN = 0.25
"""The best intent must beat the second by this much, or the merchant is asked which one they meant."""
TRAINING_SECONDS = 120


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


@dataclass(frozen=True)
class _Part:
    """One vectorizer's features: how a message's n-grams are made, their columns and idf weights."""

    grams: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: Any
    offset: int


class Scorer:
    """The support vector machine's decision scores for one message, from its weights alone."""

    def __init__(self, weights: Mapping[str, Any]) -> None:
        import numpy as np

        chars = {str(term): i for i, term in enumerate(weights["char_terms"])}
        sounds = {str(term): i for i, term in enumerate(weights["sound_terms"])}
        self.parts = [_Part(lambda text: char_ngrams(normalise(text)), chars, np.asarray(weights["char_idf"]), 0),
                      _Part(lambda text: word_ngrams(pinyin(normalise(text))), sounds,
                            np.asarray(weights["sound_idf"]), len(chars))]
        self.coef_t = np.ascontiguousarray(np.asarray(weights["coef"]).T)  # a message's features are a few rows
        self.intercept = np.asarray(weights["intercept"])
        self.labels = [str(label) for label in weights["labels"]]

    def scores(self, text: str) -> Any:
        import numpy as np

        columns: list[int] = []
        values: list[float] = []
        for part in self.parts:
            counts = Counter(gram for gram in part.grams(text) if gram in part.vocabulary)
            start = len(values)
            for gram, count in counts.items():
                index = part.vocabulary[gram]
                columns.append(part.offset + index)
                values.append((1.0 + math.log(count)) * float(part.idf[index]))  # sublinear tf × idf
            norm = math.sqrt(sum(v * v for v in values[start:]))  # each vectorizer's row has unit length
            if norm:
                values[start:] = [v / norm for v in values[start:]]
        if not columns:
            return self.intercept.copy()
        return np.asarray(values) @ self.coef_t[columns] + self.intercept


class Classifier:
    """Weights and the rules that turn their scores into an understanding."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.labels = scorer.labels

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str, str]]) -> Classifier:
        """Trained in this process (benchmarks, tests); the bot trains in a process of its own instead."""
        from assistant.understanding.training import fit

        return cls(Scorer(fit(examples)))

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


def train_apart() -> dict[str, Any]:
    """The weights trained on the repository's data by `training.py` in a child process."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="understanding-") as folder:
        out = Path(folder) / "weights.npz"
        try:
            subprocess.run([sys.executable, "-m", "assistant.understanding.training", str(out)], check=True,
                           timeout=TRAINING_SECONDS, capture_output=True, text=True)
        except subprocess.CalledProcessError as error:
            last = (error.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"the understanding step could not be trained: {last[0]}") from None
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"training the understanding step took over {TRAINING_SECONDS} s") from None
        with np.load(out, allow_pickle=False) as weights:
            return {name: weights[name] for name in weights.files}


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The classifier trained on the repository's data: once per process."""
    classifier = Classifier(Scorer(train_apart()))
    logger.info("understanding: %s intents, %s features", len(classifier.labels), classifier.scorer.coef_t.shape[0])
    return classifier
