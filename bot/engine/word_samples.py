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
    word's sample holds, and what it learns from them (``_learn``). Answers are kept per
    corpus change (``forget``): a lookup that began before a change, and so may have read the
    old articles, stores its answer under the old generation, where no later lookup reads it.
    """

    ARTICLES: ClassVar[int]
    CHARS: ClassVar[int]

    def __init__(
        self,
        find: Callable[[str, int], Iterable[str]],
        texts: Callable[[list[str]], Iterable[Iterable[str]]],
    ) -> None:
        """``find(word, n)``: ids of up to ``n`` articles using it; ``texts(ids)``: their openings.

        Read together: a saved corpus reads a word's articles in one database query, not one
        each (a question's first sight of a word is most of what its slowest answers pay).
        """
        self._find = find
        self._texts = texts
        self._generation = 0
        self._cached = lru_cache(maxsize=CACHED_WORDS)(self._learn_in)

    def lookup(self, word: str) -> Found:
        """What the corpus says of ``word``, learnt on the first ask since the last change."""
        return self._cached(self._generation, word)

    def _learn_in(self, generation: int, word: str) -> Found:
        return self._learn(word)

    def _learn(self, word: str) -> Found:
        raise NotImplementedError

    def sample(self, word: str) -> Iterator[str]:
        """The texts of the articles that use ``word``, each cut to the sample's length."""
        for texts in self._texts(list(self._find(word, self.ARTICLES))):
            for text in texts:
                yield text[: self.CHARS]

    def forget(self) -> None:
        """Drop what was learnt: the corpus changed."""
        self._generation += 1
        self._cached.cache_clear()
