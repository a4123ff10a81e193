"""The understanding step, judged on the held-out set it never trained on, and its mechanics."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assistant.domain.intents import ACTIONS, NAMES
from assistant.understanding.classifier import ACTION_THRESHOLD, Classifier, default_classifier, load_examples
from assistant.understanding.features import normalise, pinyin

HELDOUT = Path(__file__).resolve().parent.parent / "data" / "nlu_heldout.toml"


def heldout() -> list[tuple[str, str, str]]:
    with open(HELDOUT, "rb") as file:
        data = tomllib.load(file)
    return [(language, intent, text) for intent, table in data.items() for language, texts in table.items()
            for text in texts]


def test_every_intent_has_training_examples_in_both_languages() -> None:
    examples = load_examples()
    for language in ("zh", "en"):
        counts = {name: sum(1 for lang, intent, _ in examples if lang == language and intent == name)
                  for name in NAMES}
        assert min(counts.values()) >= 15, (language, counts)


def test_the_heldout_set_is_never_trained_on() -> None:
    trained = {normalise(text) for _, _, text in load_examples()}
    overlap = [text for _, _, text in heldout() if normalise(text) in trained]
    assert not overlap


@pytest.mark.parametrize("language", ["zh", "en"])
def test_heldout_accuracy_is_at_least_95_percent(language: str) -> None:
    rows = [row for row in heldout() if row[0] == language]
    classifier = default_classifier()
    right = sum(classifier.understand(text).likely[0] == intent for _, intent, text in rows)
    assert right / len(rows) >= 0.95, f"{right}/{len(rows)}"


def test_confident_mistakes_are_rare_and_never_an_action() -> None:
    """A message taken with the wrong intent gets a wrong answer: at most 1% of the held-out set, and never a
    wrong ticket or lookup."""
    classifier = default_classifier()
    rows = heldout()
    wrong = [(intent, text, classifier.understand(text).intent) for _, intent, text in rows
             if classifier.understand(text).intent not in (None, intent)]
    assert len(wrong) <= len(rows) // 100, wrong
    assert not [row for row in wrong if row[2] in ACTIONS], wrong


def test_an_action_is_never_taken_below_its_threshold() -> None:
    classifier = default_classifier()
    for _, _, text in heldout():
        understood = classifier.understand(text)
        if understood.intent in ACTIONS:
            assert understood.confidence >= ACTION_THRESHOLD


def test_the_fast_scorer_is_the_trained_model() -> None:
    """Scores computed from the weights alone (our own n-grams, numpy) equal the fitted scikit-learn model's."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.svm import LinearSVC

    from assistant.understanding.training import vectorizers

    examples = load_examples()
    texts = [normalise(text) for _, _, text in examples]
    chars, sounds = vectorizers()
    matrix = hstack([chars.fit_transform(texts), sounds.fit_transform([pinyin(t) for t in texts])]).tocsr()
    model = LinearSVC(C=0.5, random_state=0).fit(matrix, [intent for _, intent, _ in examples])
    classifier = Classifier.train(examples)
    probes = [text for _, _, text in heldout()[:60]] + ["", "？？", "x" * 400]
    for text in probes:
        row = hstack([chars.transform([normalise(text)]), sounds.transform([pinyin(normalise(text))])])
        assert np.allclose(classifier.scorer.scores(text), model.decision_function(row)[0], atol=1e-9), text


def test_training_is_deterministic_and_the_bot_s_process_never_loads_scikit_learn() -> None:
    """The bot's classifier is trained in a child process: the same weights as in-process training, and
    neither scikit-learn nor SciPy imported here by it."""
    import subprocess
    import sys

    examples = load_examples()
    here = Classifier.train(examples)
    for _, _, text in heldout()[:40]:
        assert default_classifier().rank(text) == here.rank(text)
    probe = ("import sys; from assistant.understanding.classifier import default_classifier; "
             "default_classifier().understand('查不到'); print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('sklearn', 'scipy')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_homophones_typed_by_a_pinyin_keyboard_sound_alike() -> None:
    assert pinyin("茶无此票") == pinyin("查无此票") == "cha wu ci piao"
    assert pinyin("invoice 12") == ""


@pytest.mark.parametrize("text", ["", "   ", "?", "🙂", "x" * 5000, "\u202e\u200b"])
def test_any_text_gets_an_understanding(text: str) -> None:
    understood = default_classifier().understand(text)
    assert len(understood.likely) == 4 and set(understood.likely) <= set(NAMES)
