"""The sample of the corpus a query's closeness in meaning is measured against.

``WordVectors.closeness`` turns a query's cosine with a candidate into a z-score against the
query's cosines with the corpus at large; this keeps the vectors of that "at large": a few
hundred articles spread evenly over the corpus, drawn when an answer first needs them and kept
while the corpus keeps about its size, so a query pays for one small matrix product, not for
reading the corpus.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING

from bot.corpus.articles import articles_of
from bot.corpus.model import Article
from bot.engine.answerable import opening

if TYPE_CHECKING:
    import numpy as np

    from bot.engine.word_vectors import Closeness, WordVectors

# Articles in the sample: their cosines' mean and spread are steady to ~0.01 at this size, and
# drawing them (reading 256 articles, embedding their openings) takes ~25 ms once.
SAMPLE = 256
# How far the corpus may grow or shrink (as a share of its size when the sample was drawn)
# before the sample is drawn again: a few articles more or less do not move the statistics.
DRIFT = 0.25


class CorpusSample:
    """Vectors of an evenly spread sample of the corpus's articles, drawn on first need."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (corpus size when drawn, the table they were read with, their vectors)
        self._drawn: tuple[int, WordVectors, np.ndarray] | None = None

    def closeness(
        self, query: str, articles: Mapping[str, Article], words: WordVectors
    ) -> Closeness:
        """``query`` read against this sample of ``articles`` (drawn again if they moved on)."""
        return words.closeness(query, self._vectors(articles, words))

    def _vectors(self, articles: Mapping[str, Article], words: WordVectors) -> np.ndarray:
        size = len(articles)
        if not _fits(self._drawn, size, words):
            with self._lock:  # one drawing at a time; the others wait for it
                if not _fits(self._drawn, size, words):
                    self._drawn = (size, words, _draw(articles, words))
        drawn = self._drawn
        assert drawn is not None
        return drawn[2]


def _fits(drawn: tuple[int, WordVectors, np.ndarray] | None, size: int, words: WordVectors) -> bool:
    """Whether a sample drawn so still stands for a corpus of ``size`` read with ``words``."""
    return drawn is not None and drawn[1] is words and abs(size - drawn[0]) <= DRIFT * drawn[0]


def _draw(articles: Mapping[str, Article], words: WordVectors) -> np.ndarray:
    """Every n-th article's opening vector: spread over the corpus, not one folder's first few.

    By id, not in the order the corpus was read (which follows the order files finished
    parsing), so the same corpus gives the same sample, and the same answers, in every run.
    """
    stride = max(1, len(articles) // SAMPLE)
    ids = list(islice(sorted(articles), 0, SAMPLE * stride, stride))
    return words.text_vectors([opening(a) for a in articles_of(articles, ids).values()])
