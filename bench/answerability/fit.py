"""Fit the answerability model on the labelled questions' dev side; write its weights.

    .venv/bin/python bench/answerability/fit.py [--check]

For every dev question (``bench/answerability/questions_*.yaml``, the story-disjoint ``dev``
side of ``split.py``) the engine's leading candidates are taken before any decision
(``Engine.explain``), with their features (``bot/engine/answerable.py``). Each is labelled
with whether it is a right answer: 1 for an expected article of an answerable question, 0
otherwise (any candidate of an unanswerable question, or a wrong article). The engine answers
with the candidate the model finds likeliest, when it is more likely right than not. A
logistic regression (L2, standardised features, gradient descent: a few thousand rows need
nothing more) is fitted, cross-validated by story group, and written with its threshold to
``bot/engine/answerability.json``. ``--check`` refits and fails when the result differs from
the committed file, so the weights are always what this script makes of the data.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
from quality import Question, load_corpus, load_questions, word_vectors  # noqa: E402

from bot.corpus.model import Article  # noqa: E402
from bot.engine.answerable import (  # noqa: E402
    FEATURES,
    WEIGHTS_FILE,
    WORD_TABLE_FEATURES,
    WORDS_ALONE,
    AnswerabilityModel,
)
from bot.engine.engine import RERANK, Engine  # noqa: E402

QUESTION_FILES = sorted((BENCH / "answerability").glob("questions_*.yaml"))
L2 = 0.01
STEPS = 3_000
RATE = 0.5
FOLDS = 5
# Answer when the model finds the candidate more likely right than wrong. Not tuned: on the dev
# side a higher threshold trades answerable questions for refusals one for one or worse.
THRESHOLD = 0.5


Rows = list[tuple[dict[str, float], int]]
Extra = Callable[[Question, Article], dict[str, float]]  # more features of one candidate


def candidates_for(
    engine: Engine, questions: Sequence[Question], extras: Sequence[Extra] = ()
) -> list[Rows]:
    """Per question, its leading candidates' features and whether each is a right answer.

    ``extras`` add features to the shipped ones (``features.py`` tries candidates).
    """
    out = []
    for q in questions:
        rows = []
        for article, _, features in engine.explain(q.question, limit=RERANK):
            for extra in extras:
                features = {**features, **extra(q, article)}
            rows.append((features, int(q.answerable and q.is_right(article))))
        out.append(rows)
    return out


def likeliest(model: AnswerabilityModel, rows: Rows) -> tuple[float, int]:
    """The probability and label of the candidate the engine answers with ((0, 0): none).

    The candidate is the likeliest by the model, as the engine reorders its leading ones.
    """
    return max(
        ((model.probability(f), lab) for f, lab in rows), key=lambda x: x[0], default=(0.0, 0)
    )


def decide(model: AnswerabilityModel, rows: Rows, threshold: float) -> int | None:
    """The engine's decision: the label of the candidate it answers with, or None (refused)."""
    chance, label = likeliest(model, rows)
    return label if rows and chance >= threshold else None


def story_folds(questions: Sequence[Question]) -> dict[str, int]:
    """Each story group's cross-validation fold: no story is on both sides of a fold."""
    return {g: i % FOLDS for i, g in enumerate(sorted({q.story for q in questions}))}


def balanced(
    model: AnswerabilityModel,
    per_question: Sequence[Rows],
    answerable: Sequence[bool],
    threshold: float,
) -> tuple[float, float]:
    """Share of answerable questions answered right, share of unanswerable ones refused."""
    right = refused = n_ans = n_un = 0
    for rows, ans in zip(per_question, answerable, strict=True):
        decision = decide(model, rows, threshold)
        if ans:
            n_ans += 1
            right += decision == 1
        else:
            n_un += 1
            refused += decision is None
    return right / max(n_ans, 1), refused / max(n_un, 1)


def standardise(
    rows: Sequence[dict[str, float]], features: Sequence[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each feature's mean and spread, so one L2 weight suits every feature."""
    means, scales = {}, {}
    for name in features:
        values = [r.get(name, 0.0) for r in rows]
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        means[name], scales[name] = mean, spread or 1.0
    return means, scales


def fit(per_question: Sequence[Rows], features: Sequence[str] = FEATURES) -> AnswerabilityModel:
    """Logistic regression over every candidate (the threshold is ``THRESHOLD``).

    ``features``: the shipped ones, or a candidate set (``features.py`` tries others).
    """
    data = [row for rows in per_question for row in rows]
    means, scales = standardise([f for f, _ in data], features)
    mu = np.array([means[n] for n in features])
    sd = np.array([scales[n] for n in features])
    x = (np.array([[f.get(n, 0.0) for n in features] for f, _ in data]) - mu) / sd
    y = np.array([label for _, label in data], dtype=float)
    w, b, n = np.zeros(len(features)), 0.0, len(y)
    for _ in range(STEPS):
        err = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30))) - y
        w -= RATE * (x.T @ err / n + L2 * w)
        b -= RATE * float(err.mean())
    weights = {name: float(v) for name, v in zip(features, w, strict=True)}
    return AnswerabilityModel(weights, float(b), THRESHOLD, means, scales)


def cross_validated(
    per_question: Sequence[Rows], dev: Sequence[Question], features: Sequence[str]
) -> tuple[float, float]:
    """Fold-averaged shares answered right and refused, each fold fitted on the others."""
    answerable = [q.answerable for q in dev]
    fold_of = story_folds(dev)
    held_right = held_refused = 0.0
    for k in range(FOLDS):
        train = [i for i, q in enumerate(dev) if fold_of[q.story] != k]
        held = [i for i, q in enumerate(dev) if fold_of[q.story] == k]
        model = fit([per_question[i] for i in train], features)
        right, refused = balanced(
            model, [per_question[i] for i in held], [answerable[i] for i in held], model.threshold
        )
        held_right += right / FOLDS
        held_refused += refused / FOLDS
    return held_right, held_refused


def fitted_record(
    per_question: Sequence[Rows], dev: Sequence[Question], features: Sequence[str]
) -> tuple[AnswerabilityModel, dict[str, object]]:
    """One model fitted on every dev question, with its dev and cross-validated figures."""
    model = fit(per_question, features)
    right, refused = balanced(model, per_question, [q.answerable for q in dev], model.threshold)
    held_right, held_refused = cross_validated(per_question, dev, features)
    return model, {
        "dev_answerable_right": round(right, 4),
        "dev_unanswerable_refused": round(refused, 4),
        "cv_answerable_right": round(held_right, 4),
        "cv_unanswerable_refused": round(held_refused, 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Fit on the dev side, cross-validate by story, write (or check) the weights file.

    Two models: the shipped features, and the same without the word table's
    (``WORD_TABLE_FEATURES``), which answers while the table is not loaded.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the refit differs")
    args = parser.parse_args(argv)
    questions, folders = load_questions(*QUESTION_FILES)
    dev = [q for q in questions if q.split == "dev"]
    engine = Engine(load_corpus([str(ROOT / c) for c in folders]), word_vectors=word_vectors())
    per_question = candidates_for(engine, dev)
    model, figures = fitted_record(per_question, dev, FEATURES)
    alone = tuple(f for f in FEATURES if f not in WORD_TABLE_FEATURES)
    engine.word_vectors = None  # read as an answer reads them while the table is not loaded
    words_alone, alone_figures = fitted_record(candidates_for(engine, dev), dev, alone)
    record = {
        "fitted_on": f"{len(dev)} dev questions of {', '.join(p.name for p in QUESTION_FILES)}",
        **figures,
        WORDS_ALONE: words_alone.as_record(alone_figures),
    }
    text = model.to_json(record)
    print(text)
    return write_or_check(text, WEIGHTS_FILE, check=args.check)


def write_or_check(text: str, path: Path, *, check: bool) -> int:
    """Write a fitted file, or (``check``) exit 1 unless the committed one holds the same."""
    if check:
        same = json.loads(text) == json.loads(path.read_text(encoding="utf-8"))
        print(f"{path.name} is what this script fits" if same else f"{path.name} differs")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
