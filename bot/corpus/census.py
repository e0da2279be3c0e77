"""How many articles name each outlet and topic, and the span of their publication dates.

The engine reads outlet and topic names from queries against these counts, and reports show
the date span. Counting means reading every article, which a corpus kept in the database
(``bot.corpus.articles``) avoids doing at start-up: the saved state keeps its census, and a
change adjusts it by the articles it touched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from bot.corpus.model import Article
from bot.corpus.rows import from_micros, micros

UNKNOWN = "(unknown)"  # how reports list an outlet with neither name nor domain


class Census(NamedTuple):
    """Articles per outlet name and per topic, and the first and last publication times.

    ``unnamed`` counts the articles whose outlet has no name, by its domain (or "(unknown)"):
    reports list them, queries never name them.
    """

    outlets: Counter[str]
    topics: Counter[str]
    first: datetime | None
    last: datetime | None
    unnamed: Counter[str]

    @classmethod
    def of(cls, articles: Iterable[Article]) -> Census:
        """Count ``articles`` (every one is read)."""
        outlets: Counter[str] = Counter()
        unnamed: Counter[str] = Counter()
        topics: Counter[str] = Counter()
        first = last = None
        for article in articles:
            if article.outlet.name:
                outlets[article.outlet.name] += 1
            else:
                unnamed[article.outlet.domain or UNKNOWN] += 1
            topics.update(article.topics)
            when = article.published
            if when is not None:
                first = when if first is None or when < first else first
                last = when if last is None or when > last else last
        return cls(outlets, topics, first, last, unnamed)

    def changed(
        self, olds: Iterable[Article], news: Iterable[Article], recount: Callable[[], Census]
    ) -> Census:
        """The census after ``olds`` (as they were) gave way to ``news`` (as they are).

        Counts move by the change alone. Only when an old article held an end of the date span
        and no new one reaches it is the span unknown without reading everything: then
        ``recount`` gives the whole census. (An edit to the newest article keeps its date.)
        """
        gone, came = Census.of(olds), Census.of(news)
        lost_first = gone.first is not None and gone.first == self.first
        lost_last = gone.last is not None and gone.last == self.last
        if (lost_first and (came.first is None or came.first > gone.first)) or (
            lost_last and (came.last is None or came.last < gone.last)
        ):
            return recount()
        # In place, then without the names left at zero (``+``): a name that goes and comes
        # back in one change keeps its place among equally common ones.
        counts = []
        for field in ("outlets", "topics", "unnamed"):
            now = Counter(getattr(self, field))
            now.subtract(getattr(gone, field))
            now.update(getattr(came, field))
            counts.append(+now)
        outlets, topics, unnamed = counts
        ends = [d for d in (self.first, self.last, came.first, came.last) if d is not None]
        return Census(outlets, topics, min(ends, default=None), max(ends, default=None), unnamed)

    def outlet_counts(self) -> Counter[str]:
        """Articles per outlet as reports list them: by name, else domain, else "(unknown)"."""
        return self.outlets + self.unnamed

    def to_row(self) -> tuple[Any, ...]:
        """Plain data for the saved state (times as ``rows.micros`` stores them)."""
        return (
            dict(self.outlets),
            dict(self.topics),
            micros(self.first),
            micros(self.last),
            dict(self.unnamed),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Census:
        """The inverse of ``to_row``."""
        outlets, topics, first, last, unnamed = row
        if not all(isinstance(counts, dict) for counts in (outlets, topics, unnamed)):
            raise ValueError("census: counts are not tables")
        return cls(
            Counter(outlets),
            Counter(topics),
            from_micros(first),
            from_micros(last),
            Counter(unnamed),
        )
