"""Words as vectors: is a word an article lacks retold by one it holds, or is it a name.

A retold question ("did facebook build something to forecast which covid patients will
deteriorate") and a near-miss ("is philadelphia regulating how police use facial recognition",
closest to Pittsburgh's plan) look alike to word matching: each lacks some of its words in the
article that comes closest. They differ in *which* words. The retelling's missing words are
ordinary ones the article says otherwise ("forecast" for "predicting", "cops" for "police");
the near-miss's is a name the article does not hold. The static table of ``vectors.py`` (one
row per WordPiece token, distilled from all-MiniLM-L6-v2) answers both for a few microseconds
a word:

- ``closest``: a word's best cosine with any of an article's words;
- ``name_likeness``: how much a word looks like a name, by a logistic regression over its
  vector (``name_likeness.json``, written by ``bench/answerability/fit_names.py`` from the words
  the corpus itself writes capitalised mid-sentence, or not). It is asked only of words whose
  casing cannot be read off the corpus (``casing.py``): never used, or only in headlines and
  outlets' names; people type every name in lowercase.
- ``same_word`` and ``kin``: whether two words a letter or a suffix apart mean alike, so that a
  typo's correction, or a name's family ("norwegian" / "norway"), is one word and not another;
- ``text_vector``: a text's meaning, the sum of its tokens' rows (``bot.engine.meaning`` reads
  how much closer a query is to an article's opening than to the corpus at large).

Loading: the table is read from beside the corpus database (0.3 s) or, the first time,
distilled there (30–40 s on one core) in a thread; until it is ready (``ready``), and whenever
it cannot be (no extra installed, no name model for this table), answers use the model fitted
without these features. ``COVERAGE_BOT_SEMANTIC=0`` turns the table off.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.engine.loading import BackgroundModel
from bot.engine.vectors import Embedder, SemanticUnavailable, semantic_available

NAMES_FILE = Path(__file__).with_name("name_likeness.json")
ENVIRONMENT_SWITCH = "COVERAGE_BOT_SEMANTIC"
CACHED_WORDS = 50_000
# A word in common use (one token of the model's vocabulary) is taken for a typo of a corpus
# word only when the two mean alike: a spelling or a form of it ("behaviour" / "behavior"
# 0.94, "australian" / "australia" 0.71) and not another word one letter away ("breathing" /
# "breaking" 0.09, "swapping" / "shopping" 0.25). Of the labelled questions' corrections, the
# other words score 0.44 or less and the spellings and forms 0.47 or more (docs/answerability.md).
SAME_WORD = 0.5
KIN_LETTERS = 3  # the letters words of one family begin with alike ("aus": aussie, australian)
KIN_SHORTEST = 5  # letters of the shortest word a family is sought in ("iraq" is not "iran"'s)


@dataclass(frozen=True, slots=True)
class NameModel:
    """A logistic regression over a word's static vector: P(the word is a name)."""

    space: str  # the vector space it was fitted in (``Embedder.space``): meaningless in another
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def load(cls, path: Path = NAMES_FILE) -> NameModel | None:
        """The fitted model, or None when there is none (the feature then stays at 0)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["space"]), tuple(map(float, data["weights"])), float(data["bias"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def to_json(self, extra: dict[str, object] | None = None) -> str:
        """The file ``load`` reads, rounded so that a refit reproduces it byte for byte."""
        data = {
            "space": self.space,
            "bias": round(self.bias, 6),
            "weights": [round(w, 6) for w in self.weights],
            **(extra or {}),
        }
        return json.dumps(data, indent=1) + "\n"


def switched_on() -> bool:
    """False when the operator turned the semantic features off (``COVERAGE_BOT_SEMANTIC=0``)."""
    value = os.environ.get(ENVIRONMENT_SWITCH, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def semantic_folder(database: str | Path | None) -> Path | None:
    """Where the models' tables and graphs are kept beside ``database``.

    None when there is no database to keep them beside, the operator turned the semantic
    features off, or the extra is not installed.
    """
    if database is None or str(database) == ":memory:":
        return None
    if not switched_on() or not semantic_available():
        return None
    return Path(f"{database}.vectors")


class WordVectors(BackgroundModel):
    """One static vector per word, their closeness, and a word's likeness to a name.

    Thread-safe: answers are read from several threads, and the first one to need the table
    starts loading it.
    """

    name = "word-table"
    built = "distilled once, 30-40 s"
    meanwhile = "answers use words alone"

    def __init__(self, embedder: Embedder, names: NameModel | None = None) -> None:
        self._names = names if names is not None else NameModel.load()
        # Usable: loaded, with a name model fitted on this very table.
        super().__init__(embedder, self._load)
        self._vector = lru_cache(maxsize=CACHED_WORDS)(embedder.embed_query)
        self._likeness = lru_cache(maxsize=CACHED_WORDS)(self._likeness_of)

    @classmethod
    def beside(cls, database: str | Path | None) -> WordVectors | None:
        """The table kept beside ``database``; None when the feature is off or unavailable."""
        folder = semantic_folder(database)
        return None if folder is None else cls(Embedder(folder))

    @classmethod
    def loading_beside(cls, database: str | Path | None) -> WordVectors | None:
        """``beside``, its table already being read (or distilled, the first time)."""
        words = cls.beside(database)
        if words is not None:
            words.start()
        return words

    def _load(self) -> None:
        error: Exception | None = None
        # Twice: a second process distilling the table at the same moment may have renamed
        # the file under this one's write; the second read finds the table it wrote.
        for _ in range(2):
            try:
                self._embedder.load()
            except Exception as exc:  # any failure leaves answers on words alone, said in state
                error = exc
                continue
            names = self._names
            if names is None or names.space != self._embedder.space:
                # Without a name model for this table, the full answer model would read a
                # feature stuck at 0: answers use the model fitted without the table instead.
                raise SemanticUnavailable(
                    f"no name model for the table {self._embedder.space} (bot/engine/"
                    f"{NAMES_FILE.name} names {names.space if names else 'none'})"
                )
            return
        assert error is not None
        raise error

    def closest(self, words: Sequence[str], others: Sequence[str]) -> list[float]:
        """Each of ``words``' best cosine with any of ``others`` (-1 when there are none)."""
        import numpy as np

        if not words:
            return []
        if not others:
            return [-1.0] * len(words)
        matrix = self._embedder.embed_words(others, whole_only=True)
        asked = np.stack([self._vector(w) for w in words])
        return [float(c) for c in (matrix @ asked.T).max(axis=0)]

    def same_word(self, typed: str, corrected: str) -> bool:
        """Whether ``corrected`` can stand for ``typed``, which the corpus never uses.

        A misspelling ("recogniton") is no word of the model's vocabulary and keeps its
        correction; a word in common use ("breathing") is another word than the corpus word
        one letter away ("breaking") unless their vectors say they mean alike.
        """
        if not self._embedder.is_word(typed):
            return True
        typed_row, corrected_row = self._embedder.embed_words([typed, corrected])
        return float(typed_row @ corrected_row) >= SAME_WORD

    def kin(self, word: str, others: Sequence[str]) -> float:
        """``word``'s best cosine with a word of ``others`` that begins as it does (-1: none).

        Words of one family share their opening letters and their meaning: "norwegian" and
        "norway", "aussie" and "australian". Most names swapped for another share neither
        ("portsmouth" / "portland" 0.30; "philadelphia" / "pittsburgh" one letter), and short
        words are left out ("iraq" for "iran", "pay" for "paypal", "bai" for "baidu"). Names
        alike in both remain, and pass for one family: "austria" / "australia", "slovakia" /
        "slovenia", "niger" / "nigeria", "minneapolis" / "minnesota" (cosines 0.60-0.83).
        """
        stem = word[:KIN_LETTERS]
        family = [
            other
            for other in others
            if len(other) >= KIN_SHORTEST and other.startswith(stem) and other != word
        ]
        return self.closest([word], family)[0] if family else -1.0

    def _likeness_of(self, word: str) -> float:
        import numpy as np

        names = self._names
        if names is None or names.space != self._embedder.space:
            return 0.0  # fitted on another table (``ready`` is then False for answers)
        z = float(self._vector(word) @ np.asarray(names.weights, dtype=np.float32)) + names.bias
        return 1 / (1 + np.exp(-max(-30.0, min(30.0, z))))

    def name_likeness(self, word: str) -> float:
        """P(``word`` is a name), from its vector alone (0 without a model for this table)."""
        return float(self._likeness(word))
