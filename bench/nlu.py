"""How well the understanding step understands: held-out accuracy per language, per-intent precision and
recall, the confusion pairs, cross-validation on the training set, and the cost per message.

    python bench/nlu.py [--folds 5] [--repeat 2000] [--tune]

The held-out set (`tests/data/nlu_heldout.toml`) was written apart from the training data and is never
trained on. "Taken" counts messages whose best intent passed the threshold; "wrong and taken" is the
number that matters most: a confident wrong answer. Asked-back messages are counted right only when the
right intent is among the buttons offered.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.domain.intents import ACTIONS, NAMES  # noqa: E402
from assistant.understanding.classifier import Classifier, load_examples  # noqa: E402

HELDOUT = ROOT / "tests" / "data" / "nlu_heldout.toml"
OFFERED_BUTTONS = 3


def heldout() -> list[tuple[str, str, str]]:
    """(language, intent, text) of the held-out set."""
    with open(HELDOUT, "rb") as file:
        data = tomllib.load(file)
    return [(language, intent, text) for intent, table in data.items() for language, texts in table.items()
            for text in texts]


def evaluate(classifier: Classifier, rows: list[tuple[str, str, str]]) -> dict[str, object]:
    """Accuracy of the best intent, how many were taken, and confident mistakes."""
    right = taken = wrong_taken = asked_with_right = wrong_actions = 0
    confusions: Counter[tuple[str, str]] = Counter()
    predicted: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    for _, intent, text in rows:
        understood = classifier.understand(text)
        best = understood.likely[0]
        actual[intent] += 1
        predicted[best] += 1
        if best == intent:
            right += 1
            correct[intent] += 1
        else:
            confusions[intent, best] += 1
        if understood.intent is not None:
            taken += 1
            wrong_taken += understood.intent != intent
            wrong_actions += understood.intent != intent and understood.intent in ACTIONS
        elif intent in understood.likely[:OFFERED_BUTTONS]:
            asked_with_right += 1
    return {"n": len(rows), "accuracy": right / len(rows), "taken": taken, "wrong_taken": wrong_taken,
            "asked_with_right": asked_with_right, "wrong_actions": wrong_actions, "confusions": confusions, "predicted": predicted,
            "correct": correct, "actual": actual}


def report(title: str, result: dict[str, object]) -> None:
    n = result["n"]
    print(f"{title}: {n} messages, accuracy {result['accuracy']:.1%}; taken {result['taken']} "
          f"(wrong and taken: {result['wrong_taken']}, of which a ticket or lookup: {result['wrong_actions']}); asked back with the right intent among the buttons: "
          f"{result['asked_with_right']}")


def per_intent(result: dict[str, object]) -> None:
    actual, predicted, correct = result["actual"], result["predicted"], result["correct"]
    print(f"  {'intent':<16}{'precision':>10}{'recall':>8}{'n':>5}")
    for name in NAMES:
        if not actual[name]:  # type: ignore[index]
            continue
        precision = correct[name] / predicted[name] if predicted[name] else 0.0  # type: ignore[index]
        recall = correct[name] / actual[name]  # type: ignore[index]
        print(f"  {name:<16}{precision:>10.0%}{recall:>8.0%}{actual[name]:>5}")  # type: ignore[index]


def cross_validate(rows: list[tuple[str, str, str]], folds: int) -> float:
    """Stratified k-fold accuracy on the training set (each fold trained on the others)."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    labels = [intent for _, intent, _ in rows]
    right = 0
    for train, test in splitter.split(rows, labels):
        classifier = Classifier.train([rows[i] for i in train])
        right += sum(classifier.understand(rows[i][2]).likely[0] == rows[i][1] for i in test)
    return right / len(rows)


def tune(rows: list[tuple[str, str, str]], folds: int) -> None:
    """Out-of-fold scores on the training set: how many messages each threshold and margin would take, and
    how many of those would be wrong (how the classifier's THRESHOLD and MARGIN were chosen)."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    scored: list[tuple[bool, float, float]] = []
    for train, test in splitter.split(rows, [intent for _, intent, _ in rows]):
        classifier = Classifier.train([rows[i] for i in train])
        for i in test:
            (best, score), (_, second) = classifier.rank(rows[i][2])[:2]
            scored.append((best == rows[i][1], score, score - second))
    print("threshold margin   taken  wrong-of-taken")
    for threshold in (-0.5, -0.35, -0.25, -0.1, 0.0):
        for margin in (0.0, 0.1, 0.25, 0.4):
            taken = [right for right, score, gap in scored if score >= threshold and gap >= margin]
            wrong = sum(not right for right in taken) / max(1, len(taken))
            print(f"{threshold:>9} {margin:>6} {len(taken) / len(scored):>7.1%} {wrong:>15.1%}")


def cost(classifier: Classifier, rows: list[tuple[str, str, str]], repeat: int) -> float:
    """Microseconds per message, over `repeat` messages of the held-out set."""
    texts = [text for _, _, text in rows]
    start = time.perf_counter()
    for i in range(repeat):
        classifier.understand(texts[i % len(texts)])
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--confusions", type=int, default=15)
    parser.add_argument("--tune", action="store_true", help="print the threshold table (cross-validation)")
    args = parser.parse_args()
    examples = load_examples()
    if args.tune:
        tune(examples, args.folds)
        return
    start = time.perf_counter()
    classifier = Classifier.train(examples)
    trained = time.perf_counter() - start
    print(f"trained on {len(examples)} examples ({Counter(label for label, _, _ in examples)}) in {trained:.2f} s")
    rows = heldout()
    for language in ("zh", "en"):
        result = evaluate(classifier, [row for row in rows if row[0] == language])
        report(f"held-out {language}", result)
        per_intent(result)
        pairs = result["confusions"].most_common(args.confusions)  # type: ignore[attr-defined]
        if pairs:
            print("  confused (true -> predicted): " + ", ".join(f"{a}->{b} {n}" for (a, b), n in pairs))
    print(f"cross-validation ({args.folds} folds) on the training set: {cross_validate(examples, args.folds):.1%}")
    print(f"cost: {cost(classifier, rows, args.repeat):.0f} µs per message (understand(), one message at a time)")


if __name__ == "__main__":
    main()
