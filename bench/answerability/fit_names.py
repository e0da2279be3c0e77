"""Fit how much a word looks like a name from its static vector; write its weights.

    .venv/bin/python bench/answerability/fit_names.py [--check]

The labels are the corpus's own: every word of the question files' corpus whose casing the
corpus shows (``bot/engine/casing.py``: its capitalised share of mid-sentence uses) is a name
when that share is at least ``NAME_SHARE``, as the query reader decides. The inputs are the
words' vectors in the static table (``bot/engine/vectors.py``, distilled once into
``.cache/vectors`` as ``bench/quality.py`` does). A logistic regression (L2, gradient descent)
is fitted, its held-out accuracy printed by 5-fold cross-validation beside the majority
class's, and the model written to ``bot/engine/name_likeness.json`` with the table's space, so
that it is never applied to the vectors of another table. ``--check`` refits and fails when
the result differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np
from fit import QUESTION_FILES, ROOT, write_or_check
from quality import VECTOR_CACHE, load_corpus, load_questions

from bot.engine.engine import Engine
from bot.engine.query import NAME_SHARE
from bot.engine.vectors import Embedder
from bot.engine.word_vectors import NAMES_FILE, NameModel

SCALE = 8.0  # unit vectors' components are ~0.1: scaled, one step size and L2 suit them
L2 = 1e-3
STEPS = 2_000
RATE = 0.5
FOLDS = 5


def labelled_words(engine: Engine) -> tuple[list[str], np.ndarray]:
    """The corpus's words whose casing it shows, and whether each is a name."""
    words, labels = [], []
    for word, _ in sorted(engine.index.vocabulary()):
        if not word.isalpha() or len(word) < 2:
            continue
        share = engine.capitalised_share(word)
        if share is not None:
            words.append(word)
            labels.append(share >= NAME_SHARE)
    return words, np.array(labels, dtype=float)


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on ``x * SCALE``; the weights returned apply to ``x`` itself."""
    xs = x * SCALE
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(STEPS):
        err = 1 / (1 + np.exp(-np.clip(xs @ w + b, -30, 30))) - y
        w -= RATE * (xs.T @ err / len(y) + L2 * w)
        b -= RATE * float(err.mean())
    return w * SCALE, b


def main(argv: Sequence[str] | None = None) -> int:
    """Fit on every labelled word, cross-validate, write (or check) the model file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the refit differs")
    args = parser.parse_args(argv)
    _, folders = load_questions(*QUESTION_FILES)
    engine = Engine(load_corpus([str(ROOT / c) for c in folders]), stories=False)
    words, y = labelled_words(engine)
    embedder = Embedder(VECTOR_CACHE)
    x = embedder.embed_documents(words).astype(np.float64)
    order = np.random.default_rng(0).permutation(len(words))
    right = 0
    for k in range(FOLDS):
        held = order[k::FOLDS]
        train = np.setdiff1d(order, held)
        w, b = fit(x[train], y[train])
        right += int(((x[held] @ w + b > 0) == (y[held] > 0)).sum())
    w, b = fit(x, y)
    majority = max(y.mean(), 1 - y.mean())
    record = {
        "fitted_on": f"{len(words)} words of the corpus of {', '.join(folders)}",
        "names": int(y.sum()),
        "cv_accuracy": round(right / len(words), 4),
        "majority_accuracy": round(float(majority), 4),
    }
    model = NameModel(embedder.space, tuple(float(v) for v in w), float(b))
    print(json.dumps(record, indent=1))
    return write_or_check(model.to_json(record), NAMES_FILE, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
