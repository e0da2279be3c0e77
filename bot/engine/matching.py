"""Which of a query's words an article holds, forgiving word forms ("face"/"facial").

One compiled regex per query finds every word that could match (same first letters), in C;
only those few words are stemmed in Python. Tokenising whole bodies per candidate cost 13 ms a
search at 100k articles with bodies; this costs a fraction of that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from bot.engine.text import stem

_PREFIX = 4  # letters a candidate word must share with a query word to be looked at
_LONG = 6  # words this long also match when one extends the other by ≤ 2 letters


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
    """Finds a query's terms in article text, by word family, with their positions."""

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = tuple(dict.fromkeys(terms))
        self._roots = {t: root(t) for t in self.terms}
        heads = sorted(
            {t[:_PREFIX] for t in self.terms} | {r[:_PREFIX] for r in self._roots.values()}
        )
        self._pattern = (
            re.compile(r"\b(?:" + "|".join(map(re.escape, heads)) + r")\w*") if heads else None
        )

    def _matches(self, word: str) -> tuple[str, ...]:
        return tuple(t for t in self.terms if related_forms(t, word))

    def found(self, text: str) -> set[str]:
        """The query terms present in ``text`` in some form."""
        if self._pattern is None:
            return set()
        words = set(self._pattern.findall(text.lower()))
        present: set[str] = set()
        for word in words:
            present.update(self._matches(word))
            if len(present) == len(self.terms):
                break
        return present

    def found_in(self, texts: Iterable[str]) -> set[str]:
        """The query terms present in any of ``texts``."""
        present: set[str] = set()
        for text in texts:
            present |= self.found(text)
        return present

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every word in ``text`` that matches a query term."""
        if self._pattern is None:
            return []
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters change length when lowercased
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        return [
            (m.start(), m.end())
            for m in self._pattern.finditer(lowered)
            if self._matches(m.group())
        ]
