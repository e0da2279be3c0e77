"""How the corpus writes a word: the share of its mid-sentence uses that are capitalised.

People type "detroit", "nfl" and "amazon" in lowercase; the corpus writes them as names. So a
query's names are recognised by the corpus's casing, not the user's. Counting every word of
every article at build time would cost seconds per 100k articles for a table read a few words
per query, so each word is looked up when first asked: the index finds a few articles that use
it, and their excerpts and lead paragraphs say how it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

SAMPLE_ARTICLES = 8  # articles read per word
SAMPLE_CHARS = 1_000  # of each: the excerpt and the body's lead
CACHED_WORDS = 50_000
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = frozenset(".!?:\"'“”")


class CorpusCasing:
    """``share(word)``: capitalised share of a word's mid-sentence uses, or None if unused."""

    def __init__(
        self,
        find: Callable[[str, int], Iterable[str]],
        texts: Callable[[str], Iterable[str]],
    ) -> None:
        """``find(word, n)``: ids of up to ``n`` articles holding it; ``texts(id)``: its text."""
        self._find = find
        self._texts = texts
        self.share = lru_cache(maxsize=CACHED_WORDS)(self._share)

    def forget(self) -> None:
        """Drop what was learnt: the corpus changed."""
        self.share.cache_clear()

    def _share(self, word: str) -> float | None:
        capital = lower = 0
        for article_id in self._find(word, SAMPLE_ARTICLES):
            for text in self._texts(article_id):
                c, n = _count(text[:SAMPLE_CHARS], word)
                capital += c
                lower += n
        seen = capital + lower
        return capital / seen if seen else None


def _count(text: str, word: str) -> tuple[int, int]:
    """Capitalised and lowercase mid-sentence uses of ``word`` in ``text``."""
    capital = lower = 0
    for match in _WORD.finditer(text):
        token = match.group()
        if token.lower() != word:
            continue
        at = match.start() - 1
        while at >= 0 and text[at].isspace():
            at -= 1
        if at < 0 or text[at] in _SENTENCE_END:
            continue  # a sentence's first word is capitalised whatever it is
        if token[0].isupper():
            capital += 1
        else:
            lower += 1
    return capital, lower
