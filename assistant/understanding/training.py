"""Training the understanding step with scikit-learn, in a process of its own.

`python -m assistant.understanding.training OUT.npz` trains on the repository's data and writes the fitted
weights (vocabularies, idf, coefficients) as plain arrays: the bot loads them with numpy and never imports
scikit-learn or SciPy, which would cost it ~150 MB for the life of the process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assistant.understanding.features import CHAR_NGRAMS, WORD_NGRAMS, WORD_PATTERN, normalise, pinyin


def vectorizers() -> tuple[Any, Any]:
    """The two vectorizers, set up exactly as `features` computes their n-grams at run time."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True)
    sounds = TfidfVectorizer(analyzer="word", token_pattern=WORD_PATTERN, ngram_range=WORD_NGRAMS, sublinear_tf=True)
    return chars, sounds


def fit(examples: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """The fitted model as arrays: terms of each vocabulary in column order, their idf, the SVM's weights."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.svm import LinearSVC

    rows = list(examples)
    texts = [normalise(text) for _, _, text in rows]
    chars, sounds = vectorizers()
    matrix = hstack([chars.fit_transform(texts), sounds.fit_transform([pinyin(t) for t in texts])]).tocsr()
    model = LinearSVC(C=0.5, random_state=0).fit(matrix, [intent for _, intent, _ in rows])

    def terms(vectorizer: Any) -> Any:
        ordered = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
        return np.array([term for term, _ in ordered], dtype=str)

    return {"labels": np.array(model.classes_, dtype=str), "char_terms": terms(chars), "char_idf": chars.idf_,
            "sound_terms": terms(sounds), "sound_idf": sounds.idf_, "coef": model.coef_,
            "intercept": model.intercept_}


def main(out: str) -> None:
    import numpy as np

    from assistant.understanding.classifier import load_examples

    np.savez(Path(out), **fit(load_examples()))


if __name__ == "__main__":
    main(sys.argv[1])
