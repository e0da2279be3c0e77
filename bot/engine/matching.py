"""Which of a query's words an article holds, forgiving word forms ("face"/"facial").

Only words sharing a query word's first letters are looked at, and only those few are stemmed
in Python. Tokenising whole bodies per candidate cost 13 ms a search at 100k articles with
bodies; this costs a fraction of that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from bot.engine.text import stem

_PREFIX = 4  # letters a candidate word must share with a query word to be looked at
_LONG = 6  # words this long also match when one extends the other by ≤ 2 letters
_WORD_TAIL = re.compile(r"\w*")


@lru_cache(maxsize=200_000)
def root(word: str) -> str:
    """The stem words of one family share: "images"/"image", "paying"/"paid", "facial"/"face"."""
    base = stem(word)
    if base.endswith("ial") and len(base) >= 6:
        base = base[:-3]  # "facial" -> "fac" = stem("face"); "financial" -> "financ"
    return base


def related_forms(a: str, b: str) -> bool:
    """True when two words are one word in two forms (not merely similar spellings)."""
    if a == b or root(a) == root(b):
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _LONG and long_.startswith(short) and len(long_) - len(short) <= 2


class QueryMatcher:
    """Finds a query's terms in article text, by word family, with their positions.

    Candidate words are found with ``str.find`` on each term's first letters (C speed, and no
    per-query regex compile, which alone cost 0.2 ms); only those words are compared in Python,
    and each distinct word once per query.
    """

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = tuple(dict.fromkeys(terms))
        roots = (root(t) for t in self.terms)
        heads = {t[:_PREFIX] for t in self.terms} | {r[:_PREFIX] for r in roots if r}
        # A head that extends another finds nothing new ("clea" covers "clear").
        self._heads = tuple(h for h in heads if not any(o != h and h.startswith(o) for o in heads))
        # Which terms each head can find, so scanning a head stops once they are all found.
        self._head_terms = {
            h: frozenset(t for t in self.terms if t.startswith(h) or root(t).startswith(h))
            for h in self._heads
        }
        self._seen: dict[str, tuple[str, ...]] = {}

    def _matches(self, word: str) -> tuple[str, ...]:
        cached = self._seen.get(word)
        if cached is None:
            cached = self._seen[word] = tuple(t for t in self.terms if related_forms(t, word))
        return cached

    def _candidates(self, lowered: str) -> Iterator[tuple[int, int]]:
        """(start, end) of each word in ``lowered`` that begins with one of the heads."""
        for head in self._heads:
            pos = lowered.find(head)
            while pos != -1:
                if pos == 0 or not lowered[pos - 1].isalnum():
                    yield pos, _WORD_TAIL.match(lowered, pos + len(head)).end()
                pos = lowered.find(head, pos + 1)

    def found(self, text: str, already: frozenset[str] | set[str] = frozenset()) -> set[str]:
        """The query terms present in ``text`` in some form (beyond those ``already`` found).

        Each head's scan stops as soon as every term it can find is found: in a long body the
        first occurrence is all that matters, and short heads ("ai") occur everywhere.
        """
        lowered = text.lower()
        present = set(already)
        for head in self._heads:
            wanted = self._head_terms[head]
            if wanted <= present:
                continue
            pos = lowered.find(head)
            while pos != -1:
                if pos == 0 or not lowered[pos - 1].isalnum():
                    end = _WORD_TAIL.match(lowered, pos + len(head)).end()
                    present.update(self._matches(lowered[pos:end]))
                    if wanted <= present:
                        break
                pos = lowered.find(head, pos + 1)
        return present - set(already) if already else present

    def found_in(
        self, texts: Iterable[str], already: frozenset[str] | set[str] = frozenset()
    ) -> set[str]:
        """The query terms present in any of ``texts``."""
        return self.found("\n".join(texts), already)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every word in ``text`` that matches a query term, in text order."""
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters change length when lowercased
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        return sorted(
            (start, end)
            for start, end in self._candidates(lowered)
            if self._matches(lowered[start:end])
        )
