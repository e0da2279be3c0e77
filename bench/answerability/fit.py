"""Fit the answerability model on the labelled questions' dev side; write its trees.

    .venv/bin/python bench/answerability/fit.py [--check]

For every dev question (``bench/answerability/questions_*.yaml``, the story-disjoint ``dev``
side of ``split.py``) the engine's leading candidates are taken before any decision
(``Engine.explain``), with their features (``bot/engine/answerable.py``). Each is labelled
with whether it is a right answer: 1 for an expected article of an answerable question, 0
otherwise (any candidate of an unanswerable question, or a wrong article). The engine answers
with the candidate the model finds likeliest, when it is more likely right than not.
Gradient-boosted trees (scikit-learn, the bench extra; the engine reads the written trees in
plain Python) are fitted, cross-validated by story group, and written with their threshold to
``bot/engine/answerability.json``. ``--check`` refits and fails when the result differs from
the committed file (numbers to their last few bits), so the trees are always what this
script makes of the data.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
from quality import (  # noqa: E402
    Question,
    load_corpus,
    load_questions,
    sentence_model,
    word_vectors,
)

from bot.corpus.model import Article  # noqa: E402
from bot.engine.answerable import (  # noqa: E402
    FEATURES,
    WEIGHTS_FILE,
    WITH_SENTENCES,
    WITH_SENTENCES_WITHOUT_MEANING,
    WITHOUT_MEANING,
    WORD_TABLE_FEATURES,
    WORDS_ALONE,
    AnswerabilityModel,
    Tree,
)
from bot.engine.engine import RERANK, Engine  # noqa: E402
from bot.engine.sentences import SENTENCE_FEATURES  # noqa: E402

QUESTION_FILES = sorted((BENCH / "answerability").glob("questions_*.yaml"))
# The booster's settings, chosen by story-grouped cross-validation over A-L (docs/answerability.md,
# "Seventh step"): depth 2-4, 100-400 trees and leaves of 20-80 candidates all land within a
# point of each other; these are in the middle of that plateau.
TREES = 200
RATE = 0.05
DEPTH = 3
LEAF = 80
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


def fit(per_question: Sequence[Rows], features: Sequence[str] = FEATURES) -> AnswerabilityModel:
    """Gradient-boosted trees over every candidate (the threshold is ``THRESHOLD``).

    ``features``: the shipped ones, or a candidate set (``features.py`` tries others).
    scikit-learn's exact (not histogram) booster: one thread and no sampling, so a refit
    reproduces the shipped trees bit for bit.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    data = [row for rows in per_question for row in rows]
    x = np.array([[f.get(n, 0.0) for n in features] for f, _ in data])
    y = np.array([label for _, label in data])
    booster = GradientBoostingClassifier(
        n_estimators=TREES,
        learning_rate=RATE,
        max_depth=DEPTH,
        min_samples_leaf=LEAF,
        random_state=0,
    ).fit(x, y)
    share = float(y.mean())
    model = AnswerabilityModel(
        features=tuple(features),
        trees=tuple(_tree(t.tree_, RATE) for t in booster.estimators_[:, 0]),
        bias=math.log(share / (1 - share)),  # the booster's prior
        threshold=THRESHOLD,
    )
    # The engine's reading of the trees is the booster's: checked on the very rows fitted.
    ours = np.array([model.probability(f) for f, _ in data])
    assert np.allclose(ours, booster.predict_proba(x)[:, 1], atol=1e-6), "trees misread"
    return model


def _tree(tree: Any, rate: float) -> Tree:
    """A fitted scikit-learn regression tree as the engine reads it.

    Its leaves are scaled by ``rate`` (the booster's learning rate), so the model is a plain
    sum of leaves.
    """
    leaf = tree.children_left < 0
    values = tree.value[:, 0, 0]
    return Tree(
        feature=tuple(int(f) if not lf else -1 for f, lf in zip(tree.feature, leaf, strict=True)),
        threshold=tuple(
            float(t) if not lf else 0.0 for t, lf in zip(tree.threshold, leaf, strict=True)
        ),
        left=tuple(int(n) for n in tree.children_left),
        right=tuple(int(n) for n in tree.children_right),
        value=tuple(float(v) * rate if lf else 0.0 for v, lf in zip(values, leaf, strict=True)),
    )


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

    Five models: the shipped features; the same without ``meaning_z``, which answers over a
    corpus too small to read it (``bot.engine.meaning.SAMPLE``); each of these two with the
    sentence model's features (``bot.engine.sentences``), which answer once it is loaded; and
    without the word table's features (``WORD_TABLE_FEATURES``), which answers while the table
    is not loaded.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the refit differs")
    args = parser.parse_args(argv)
    questions, folders = load_questions(*QUESTION_FILES)
    dev = [q for q in questions if q.split == "dev"]
    engine = Engine(
        load_corpus([str(ROOT / c) for c in folders]),
        word_vectors=word_vectors(),
        sentences=sentence_model(),
    )
    # With the sentence model loaded, the leading candidates are chosen with it too
    # (``Engine._with_sentences``): its models are fitted on those, the others on the ranking's own.
    told_rows = candidates_for(engine, dev)
    told = (*FEATURES, *SENTENCE_FEATURES)
    with_sentences, told_figures = fitted_record(told_rows, dev, told)
    meaningless = tuple(f for f in FEATURES if f != "meaning_z")
    told_meaningless = (*meaningless, *SENTENCE_FEATURES)
    told_without_meaning, told_meaningless_figures = fitted_record(told_rows, dev, told_meaningless)
    engine.sentences = None  # as answers read before the model is loaded, or without it
    per_question = candidates_for(engine, dev)
    model, figures = fitted_record(per_question, dev, FEATURES)
    without_meaning, meaningless_figures = fitted_record(per_question, dev, meaningless)
    alone = tuple(f for f in FEATURES if f not in WORD_TABLE_FEATURES)
    engine.word_vectors = None  # read as an answer reads them while the table is not loaded
    words_alone, alone_figures = fitted_record(candidates_for(engine, dev), dev, alone)
    record = {
        "fitted_on": f"{len(dev)} dev questions of {', '.join(p.name for p in QUESTION_FILES)}",
        **figures,
        WITHOUT_MEANING: without_meaning.as_record(meaningless_figures),
        WITH_SENTENCES: with_sentences.as_record(told_figures),
        WITH_SENTENCES_WITHOUT_MEANING: told_without_meaning.as_record(told_meaningless_figures),
        WORDS_ALONE: words_alone.as_record(alone_figures),
    }
    text = model.to_json(record)
    print(text)
    return write_or_check(text, WEIGHTS_FILE, check=args.check)


def write_or_check(text: str, path: Path, *, check: bool) -> int:
    """Write a fitted file, or (``check``) exit 1 unless the committed one holds the same."""
    if check:
        same = _alike(json.loads(text), json.loads(path.read_text(encoding="utf-8")))
        print(f"{path.name} is what this script fits" if same else f"{path.name} differs")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _alike(fitted: object, shipped: object) -> bool:
    """The same record, numbers equal to their last few bits.

    A tree's thresholds and features come from float32 dot products whose last bits can
    depend on the machine's numeric kernels; the same data gives the same splits, so a real
    difference shows as a different structure or a different number, not a rounding.
    """
    if isinstance(fitted, dict) and isinstance(shipped, dict):
        same_keys = fitted.keys() == shipped.keys()
        return same_keys and all(_alike(fitted[k], shipped[k]) for k in fitted)
    if isinstance(fitted, list) and isinstance(shipped, list):
        return len(fitted) == len(shipped) and all(map(_alike, fitted, shipped))
    if isinstance(fitted, float) or isinstance(shipped, float):
        both = isinstance(fitted, int | float) and isinstance(shipped, int | float)
        return both and math.isclose(fitted, shipped, rel_tol=1e-6, abs_tol=1e-9)  # type: ignore[arg-type]
    return fitted == shipped


if __name__ == "__main__":
    sys.exit(main())
