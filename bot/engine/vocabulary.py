"""The corpus's words with their document frequencies: IDF weights and typo correction.

Correction compares an unknown word only with known words of the same first letter and a
similar length (rapidfuzz OSA distance with a cutoff), so it stays in microseconds at a
million-article vocabulary; misspellings rarely change a word's first letter.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.engine.matching import root


class Vocabulary:
    """Word -> document frequency, with buckets for fast nearest-word lookups."""

    def __init__(self, counts: Iterable[tuple[str, int]], documents: int) -> None:
        self.df: dict[str, int] = {}
        self._buckets: dict[tuple[str, int], list[str]] = defaultdict(list)
        self._family: dict[str, list[str]] = defaultdict(list)
        self.documents = max(documents, 1)
        for word, count in counts:
            self.df[word] = count
            if len(word) >= 3 and not word.isdigit():
                self._buckets[(word[0], len(word))].append(word)
                self._family[root(word)].append(word)

    def add(self, words: Iterable[str]) -> None:
        """Count one more document containing each of ``words`` (incremental updates)."""
        self.documents += 1
        for word in set(words):
            if not self.df.get(word):
                self.df[word] = 0
                if len(word) >= 3 and not word.isdigit():
                    self._buckets[(word[0], len(word))].append(word)
                    self._family[root(word)].append(word)
            self.df[word] += 1

    def remove(self, words: Iterable[str]) -> None:
        """Count one document fewer containing each of ``words`` (an edited or removed article)."""
        self.documents = max(self.documents - 1, 1)
        for word in set(words):
            count = self.df.get(word, 0)
            if count > 1:
                self.df[word] = count - 1
            elif count == 1:
                # Gone from the corpus: no longer known, so no longer a correction target.
                self.df[word] = 0
                bucket = self._buckets.get((word[0], len(word)))
                if bucket and word in bucket:
                    bucket.remove(word)
                family = self._family.get(root(word))
                if family and word in family:
                    family.remove(word)

    def idf(self, word: str) -> float:
        """Smoothed inverse document frequency; unknown words weigh the most."""
        return math.log((self.documents + 1) / (self.df.get(word, 0) + 0.5))

    def __contains__(self, word: str) -> bool:
        return self.df.get(word, 0) > 0

    def forms(self, word: str, limit: int = 4) -> list[str]:
        """The corpus's words of ``word``'s family, most frequent first ("face" -> "facial")."""
        family = self._family.get(root(word), ())
        return sorted(family, key=lambda w: -self.df.get(w, 0))[:limit]

    def known(self, word: str) -> bool:
        """True when the corpus holds the word in some form ("shoppers" via "shopper")."""
        return word in self or bool(self._family.get(root(word)))

    def correct(self, word: str) -> str | None:
        """The most frequent known word within edit distance 1 (2 for long words), if any."""
        if len(word) < 4 or word.isdigit() or self.known(word):
            return None
        limit = 1 if len(word) <= 7 else 2
        best: tuple[int, int, str] | None = None  # (distance, -df, word)
        # Lengths within one letter: two letters dropped or added is rare as a typo, and the
        # two outer buckets were 40 % of the time spent on a word with no correction.
        for length in range(len(word) - 1, len(word) + 2):
            bucket = self._buckets.get((word[0], length))
            if not bucket:
                continue
            # OSA counts a transposition ("veiw") as one edit, as people make it.
            for candidate, distance, _ in process.extract(
                word, bucket, scorer=OSA.distance, score_cutoff=limit, limit=None
            ):
                rank = (distance, -self.df.get(candidate, 0), candidate)
                if best is None or rank < best:
                    best = rank
        return best[2] if best else None
