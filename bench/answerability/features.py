"""Try a feature for the answerability model before building it: cross-validated, then tested.

    .venv/bin/python bench/answerability/features.py [--semantic]

The shipped model's features (``bot/engine/answerable.py``) plus candidate ones, each set fitted
the way ``fit.py`` fits the shipped model (same candidates, labels and booster), and the
shipped set without the word table's three features, on queries read without the table (``- word
table``: what a machine without the semantic extra answers with):

- ``command_*``: which command asked (one-hot). A ``/summary`` or ``/source`` names an article
  the asker saw; an ``/ask`` may carry a false premise.
- ``sentence_share``: the IDF-weighted share of the subject words that one sentence of the
  article holds, the best sentence's. An answer states the asked fact in one place; a near-miss
  holds the words scattered.
- ``cosine``, ``cosine_z``, ``cosine_rank`` (``--semantic``: all-MiniLM-L6-v2 as the int8
  graph the bot would run, ~20 s here): the question's cosine with the candidate's opening;
  the same as a z-score against the question's cosines with ``meaning_z``'s evenly spread
  sample (tried in its place); and 1 / (1 + the candidate's rank by it over the whole corpus).

The engine here reads no sentence model (``bot/engine/sentences.py``): the candidates are the
ranking's own five, as answers have them until the model is loaded; ``fit.py`` fits the models
that read it.

Printed per feature set: 5-fold story-grouped cross-validation on the dev side, and the dev fit
scored on the test side. "at 0.5" is the shipped threshold (answerable questions answered
right / unanswerable ones refused, minimal pairs with both members right). The sweep reads the
threshold-free trade-off: the best worse-of-the-two rate, and the share answered right at the
threshold where ≥ 75 % and ≥ 85 % of the unanswerable questions are refused. The record of
what was tried is ``docs/answerability.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import cache
from itertools import islice

import numpy as np
from fit import (
    FOLDS,
    QUESTION_FILES,
    ROOT,
    THRESHOLD,
    Extra,
    Rows,
    candidates_for,
    fit,
    likeliest,
    story_folds,
)
from quality import Question, load_corpus, load_questions, word_vectors

from bot.corpus.articles import sorted_ids
from bot.corpus.model import Article
from bot.engine.answerable import FEATURES, WORD_TABLE_FEATURES, _pieces, opening
from bot.engine.engine import Engine
from bot.engine.index import index_terms
from bot.engine.text import sentences, stem

COMMANDS = ("search", "ask", "summary", "source", "related", "coverage")


def by_command(question: Question, _: Article) -> dict[str, float]:
    """One-hot of the command the question was asked with."""
    return {f"command_{c}": float(question.command == c) for c in COMMANDS}


def sentence_share(engine: Engine) -> Extra:
    """The best single sentence's IDF-weighted share of the question's subject words."""
    sentences_of: dict[str, list[frozenset[str]]] = {}

    @cache
    def subject(question: str) -> dict[str, float]:
        """Subject stems, each with the weight its word has in the ranking's ``coverage``.

        The engine's own reading (frame and stopwords out, typos corrected, unknown and
        corrected words discounted), so the feature differs from ``coverage`` only in where
        the words must be: one sentence, not anywhere in the article.
        """
        weights: dict[str, float] = {}
        for word, weight in engine._query_terms(question).present.items():
            key = stem(word)
            weights[key] = max(weights.get(key, 0.0), weight)
        return weights

    def extra(question: Question, article: Article) -> dict[str, float]:
        weights = subject(question.question)
        if article.id not in sentences_of:
            sentences_of[article.id] = [
                frozenset(stem(t) for t in index_terms(s))
                for p in _pieces(article)
                for s in sentences(p)
            ]
        best = max(
            (sum(w for t, w in weights.items() if t in s) for s in sentences_of[article.id]),
            default=0.0,
        )
        return {"sentence_share": best / (sum(weights.values()) or 1.0)}

    return extra


def semantic(engine: Engine, questions: Sequence[Question]) -> Extra:
    """The full model's cosine of question and candidate, as three readings of it.

    The int8 graph (``bot/engine/minilm_int8.py``), what the bot would run: ``cosine``;
    ``cosine_z``, against the question's cosines with the evenly spread sample
    ``bot.engine.meaning`` draws (``meaning_z``'s reading, with the full model); and
    ``cosine_rank``, 1 / (1 + the articles of the whole corpus closer to the question).
    """
    from bot.engine.meaning import LEAST_SPREAD, SAMPLE
    from bot.engine.vectors import Embedder

    embedder = Embedder(ROOT / ".cache" / "vectors", backend="int8")  # the graph kept there
    articles = list(engine.snapshot.articles.values())
    row = {a.id: n for n, a in enumerate(articles)}
    docs = embedder.embed_documents([opening(a) for a in articles])
    stride = max(1, len(articles) // SAMPLE)
    sample = docs[
        [row[i] for i in islice(sorted_ids(engine.snapshot.articles), 0, SAMPLE * stride, stride)]
    ]
    asked = embedder.embed_documents([q.question for q in questions])
    cosines = {q.question: (docs @ v, sample @ v) for q, v in zip(questions, asked, strict=True)}

    def extra(question: Question, article: Article) -> dict[str, float]:
        n = row[article.id]  # every candidate is an article of the snapshot embedded above
        every, spread = cosines[question.question]
        return {
            "cosine": float(every[n]),
            "cosine_z": (float(every[n]) - spread.mean()) / max(LEAST_SPREAD, spread.std()),
            "cosine_rank": 1 / (1 + int((every > every[n]).sum())),  # articles closer than it
        }

    return extra


def report(label: str, questions: Sequence[Question], chances: dict[int, tuple[float, int]]) -> str:
    """At the shipped threshold, and along the threshold sweep."""

    def rates(threshold: float) -> tuple[float, float]:
        right = [
            c >= threshold and lab == 1
            for i, (c, lab) in chances.items()
            if questions[i].answerable
        ]
        refused = [c < threshold for i, (c, _) in chances.items() if not questions[i].answerable]
        return sum(right) / max(len(right), 1), sum(refused) / max(len(refused), 1)

    pairs: dict[str, list[bool]] = {}
    for i, (c, lab) in chances.items():
        q = questions[i]
        if q.pair:
            pairs.setdefault(q.pair, []).append(
                (c >= THRESHOLD and lab == 1) if q.answerable else c < THRESHOLD
            )
    both = sum(1 for v in pairs.values() if len(v) > 1 and all(v))
    whole = sum(1 for v in pairs.values() if len(v) > 1)
    sweep = [rates(t) for t in np.linspace(0.05, 0.95, 91)]
    worse = max(min(s) for s in sweep)
    at75 = max((a for a, r in sweep if r >= 0.75), default=0.0)
    at85 = max((a for a, r in sweep if r >= 0.85), default=0.0)
    answered, refused = rates(THRESHOLD)
    return (
        f"{label:6} at 0.5 {answered:6.1%} / {refused:6.1%}, pairs {both:2}/{whole:2} | "
        f"worse-of-two {worse:6.1%}  answered at 75% refused {at75:6.1%}, at 85% {at85:6.1%}"
    )


def evaluate(
    name: str, questions: Sequence[Question], per_question: list[Rows], features: Sequence[str]
) -> None:
    """Story-grouped CV on the dev side, then the dev fit on the test side."""
    dev = [i for i, q in enumerate(questions) if q.split == "dev"]
    test = [i for i, q in enumerate(questions) if q.split == "test"]
    fold_of = story_folds([questions[i] for i in dev])
    held: dict[int, tuple[float, int]] = {}
    for k in range(FOLDS):
        model = fit([per_question[i] for i in dev if fold_of[questions[i].story] != k], features)
        held.update(
            (i, likeliest(model, per_question[i])) for i in dev if fold_of[questions[i].story] == k
        )
    model = fit([per_question[i] for i in dev], features)
    tested = {i: likeliest(model, per_question[i]) for i in test}
    print(name)
    print("  " + report("CV", questions, held))
    print("  " + report("test", questions, tested))


def main(argv: Sequence[str] | None = None) -> int:
    """Every feature set, in one run over the same candidates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--semantic", action="store_true", help="add the full-model cosine (slow)")
    args = parser.parse_args(argv)
    questions, folders = load_questions(*QUESTION_FILES)
    engine = Engine(load_corpus([str(ROOT / c) for c in folders]), word_vectors=word_vectors())
    extras: list[Extra] = [by_command, sentence_share(engine)]
    if args.semantic:
        extras.append(semantic(engine, questions))
    per_question = candidates_for(engine, questions, extras)
    command = tuple(f"command_{c}" for c in COMMANDS)
    words_alone = tuple(f for f in FEATURES if f not in WORD_TABLE_FEATURES)
    sets: list[tuple[str, tuple[str, ...]]] = [
        ("shipped", FEATURES),
        ("+ command", FEATURES + command),
        ("+ sentence_share", (*FEATURES, "sentence_share")),
    ]
    if args.semantic:
        full_z = tuple("cosine_z" if f == "meaning_z" else f for f in FEATURES)
        sets += [
            ("+ cosine", (*FEATURES, "cosine")),
            ("meaning_z read with the full model", full_z),
            ("+ cosine, cosine_rank", (*FEATURES, "cosine", "cosine_rank")),
        ]
    for name, features in sets:
        evaluate(name, questions, per_question, features)
    engine.word_vectors = None  # the queries read as they are while the table is not loaded
    evaluate("- word table", questions, candidates_for(engine, questions, extras), words_alone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
