"""The calibrated 0–100 score of one candidate article for one query.

The score is how much of the query's meaning (IDF-weighted content words, in any form) the
article holds, adjusted by what a reader means by the query's names: one threshold
(``CONFIDENT``) then separates answers from "not in this coverage". Fuzzy title similarity and
BM25 only order candidates; they never decide confidence (measured: fuzzy re-ranking helps
fragments with typos and ruins questions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from math import fsum
from typing import TYPE_CHECKING, NamedTuple

from rapidfuzz import fuzz

from bot.corpus.model import Article
from bot.engine.acronyms import Acronyms, opening
from bot.engine.matching import QueryMatcher
from bot.engine.query import QueryIntent
from bot.engine.text import is_question

if TYPE_CHECKING:
    import numpy as np

    from bot.engine.word_vectors import WordVectors

# A hit below this calibrated score is not an answer. Chosen on bench/questions.yaml: it is where
# unanswerable questions stop and real ones start (see README, "Answer quality").
CONFIDENT = 50.0
ACRONYM_CANDIDATES = 8  # leading candidates whose openings are read for acronyms
# A capitalised query word the corpus has never seen names a subject it doesn't cover.
UNKNOWN_SUBJECT_FACTOR = 0.6
MISSING_NAME_PENALTY = 0.5  # times the weighted share of the query's names an article lacks
NAME_ONLY_FACTOR = 0.5  # an article holding the query's names and none of its other words
LONG_QUERY_WORDS = 6  # content words past this many each add LONG_QUERY_STEP to the score
LONG_QUERY_STEP = 2.0
LONG_QUERY_MAX = 15.0


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A query read for ranking: each term's weight when sought and when found."""

    weights: dict[str, float]
    present: dict[str, float]
    corrected: str | None
    unknown_names: frozenset[str]  # capitalised words the corpus never uses: uncovered subjects
    names: frozenset[str] = frozenset()  # capitalised words: names an answer must contain
    # Words of a name, the query's first word included when a name goes on ("San Diego"):
    # not part of the subject that an answer must also hold.
    name_words: frozenset[str] = frozenset()
    intent: QueryIntent | None = None  # the whole reading: outlets, period, facts, event
    unknown: frozenset[str] = frozenset()  # words the corpus holds in no form, uncorrected
    typed: Mapping[str, str] = field(default_factory=dict)  # a corrected word -> as typed
    # The word table as this query found it (None: not loaded), read once so that the
    # corrections and every candidate's features agree on it.
    word_table: WordVectors | None = None
    # The question's sentence vector (``bot.engine.sentences``), computed in a thread while
    # the ranking runs; None when the sentence model was not loaded as the query was read.
    sentence: Future[np.ndarray] | None = None


class Rated(NamedTuple):
    """One candidate's ordering key and calibrated score, with the query words it holds."""

    key: float
    bm25: float
    article: Article
    score: float
    in_title: set[str]
    covered: set[str]


class Scorer:
    """Scores candidates for one query; built once per query, used for each batch of them."""

    def __init__(
        self,
        query: str,
        parsed: QueryTerms,
        known: Callable[[str], bool],
        matcher: QueryMatcher | None = None,
        expand: Callable[[str], tuple[str, ...] | None] | None = None,
    ) -> None:
        """``matcher``: one the caller built for ``parsed``'s terms and uses after the search.

        ``expand``: the corpus's long form of a short form (``Acronyms``).
        """
        self.parsed = parsed
        self.terms = list(parsed.weights)
        self.matcher = matcher or QueryMatcher(self.terms)
        self.acronyms = Acronyms(query, self.terms, known, expand)
        self.total = sum(parsed.weights.values()) or 1.0
        self.question = is_question(query)
        self.clean_query = " ".join(self.terms)
        # The subject besides the names; only a subject of two or more words is told apart
        # ("Tesla Cybertruck deliveries" may be answered by a Cybertruck story).
        subject = set(self.terms) - parsed.name_words if parsed.name_words else set()
        self.subject = subject if len(subject) >= 2 else set()
        # A long description retold in other words shares a smaller part of its words with
        # the article than a short fragment does, and chance overlaps that large are rarer.
        extra = max(0, len(self.terms) - LONG_QUERY_WORDS)
        self.allowance = min(LONG_QUERY_MAX, LONG_QUERY_STEP * extra)

    def rate_all(self, candidates: Iterable[tuple[Article, float]]) -> list[Rated]:
        """Every candidate rated, best first; the leading ones also read for acronyms."""
        matcher, top = self.matcher, None
        scored: list[Rated] = []
        for article, bm25 in candidates:
            top = top or bm25 or 1.0
            in_title = matcher.found(_title(article))
            covered = in_title | matcher.found_in(_other_text(article), in_title)
            scored.append(self.rate(article, bm25 / top, in_title, covered))
        scored.sort(key=best_first)
        if self.acronyms:
            # Reading acronyms costs a regex pass over an article's opening: only the leading
            # candidates get it (for all 40 it tripled a search's p99 at 10k articles).
            for i, item in enumerate(scored[:ACRONYM_CANDIDATES]):
                missing = set(self.terms) - item.covered
                if not missing:
                    continue
                article = item.article
                found = self.acronyms.covered(
                    _title(article), opening(article.excerpt, article.body), missing
                )
                if found:
                    scored[i] = self.rate(article, item.bm25, item.in_title, item.covered | found)
            scored.sort(key=best_first)
        return scored

    def rate(self, article: Article, bm25: float, in_title: set[str], covered: set[str]) -> Rated:
        """The calibrated score and ordering key of one article (``bm25`` relative to the best)."""
        parsed, total = self.parsed, self.total
        # fsum: exact whatever order a set yields its words in, so equal articles tie exactly
        # and the ranking is the same in every process (str hashing differs between runs).
        coverage = fsum(parsed.present[t] for t in covered) / total
        rank_bonus = 8 * bm25
        if self.question:
            score = 100 * coverage
        else:
            # Calibrated part: how much of the query the title itself holds. Ordering part:
            # fuzzy title similarity, which helps fragments and must not decide confidence.
            title_part = fsum(parsed.present[t] for t in in_title) / total
            score = 100 * (0.8 * coverage + 0.2 * title_part)
            rank_bonus += 0.1 * fuzz.token_sort_ratio(self.clean_query, article.title.lower())
        score += self.allowance
        missing_names = fsum(parsed.weights[t] for t in parsed.names - covered) / total
        # "San Diego police ban" answered by Portland's ban: a named subject is missing.
        score *= 1.0 - MISSING_NAME_PENALTY * missing_names
        if parsed.unknown_names - covered:  # only an acronym can cover a word never seen
            score *= UNKNOWN_SUBJECT_FACTOR
        if self.subject and not self.subject & covered:
            # ...or by a San Diego clinic's news: the name is there, the subject isn't.
            score *= NAME_ONLY_FACTOR
        return Rated(score + rank_bonus, bm25, article, score, in_title, covered)


def best_first(item: Rated) -> tuple[float, float, str]:
    """Sort key: ordering score, then BM25 (relative to its batch's best), then the article id.

    The id settles exact ties the same way in every process: the order articles reach the
    index can differ between runs, and an answer should not.
    """
    return (-item.key, -item.bm25, item.article.id)


def _title(article: Article) -> str:
    if not article.alt_titles:
        return article.title
    return " ".join((article.title, *article.alt_titles))


def _other_text(article: Article) -> tuple[str, ...]:
    return (
        article.outlet.name,
        article.outlet.domain,
        " ".join(article.topics),
        article.excerpt,
        *article.body,
    )
