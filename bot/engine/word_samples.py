"""What the corpus says of a word, read off a few articles that use it when the word is first asked.

How the corpus cases a word (``casing``) or what it spells a short form out as
(``abbreviations``) could be tabulated for every word at build time, at seconds per 100k
articles, for tables read a few words per query. Instead each word is looked up once: the index
finds a few articles holding it, their openings are read, and the answer is kept until the
corpus changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import ClassVar, Generic, TypeVar

CACHED_WORDS = 50_000

Found = TypeVar("Found")


class WordSamples(Generic[Found]):
    """One fact per word (``lookup``), learnt from a sample of the articles that use it.

    A subclass says how many articles (``ARTICLES``) and how much of each text (``CHARS``) a
    word's sample holds, and what it learns from them (``_learn``).
    """

    ARTICLES: ClassVar[int]
    CHARS: ClassVar[int]

    def __init__(
        self,
        find: Callable[[str, int], Iterable[str]],
        texts: Callable[[str], Iterable[str]],
    ) -> None:
        """``find(word, n)``: ids of up to ``n`` articles holding it; ``texts(id)``: its opening."""
        self._find = find
        self._texts = texts
        self.lookup: Callable[[str], Found] = lru_cache(maxsize=CACHED_WORDS)(self._learn)

    def _learn(self, word: str) -> Found:
        raise NotImplementedError

    def sample(self, word: str) -> Iterator[str]:
        """The texts of the articles that use ``word``, each cut to the sample's length."""
        for article_id in self._find(word, self.ARTICLES):
            for text in self._texts(article_id):
                yield text[: self.CHARS]

    def forget(self) -> None:
        """Drop what was learnt: the corpus changed."""
        self.lookup.cache_clear()  # type: ignore[attr-defined]
