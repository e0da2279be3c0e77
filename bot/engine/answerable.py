"""Whether the best candidate answers the query: features of (query, article) -> probability.

A topical score cannot tell "why did ICE cancel its Clearview contract" from the contract
story itself: both share every subject word but one. What separates a near-miss from an answer
is whether the article holds everything the query *asserts* — its names, figures, outlet,
period and event — so those are features here, next to the lexical ones, and gradient-boosted
trees fitted on labelled questions (``bench/answerability/fit.py``, which writes
``answerability.json`` beside this module) weigh them. No weight in this file is set by hand.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bot.corpus.model import Article
from bot.engine.index import index_terms
from bot.engine.query import (
    COUNT,
    DATE,
    MONEY,
    Period,
    QueryIntent,
    relation_forms,
    stated_facts,
)
from bot.engine.word_vectors import SAME_WORD

if TYPE_CHECKING:
    from bot.engine.meaning import Closeness
    from bot.engine.word_vectors import WordVectors

WEIGHTS_FILE = Path(__file__).with_name("answerability.json")
WORDS_ALONE = "without_word_table"  # the nested model answers use while the table loads
# The nested model for a corpus too small to measure a query's closeness against
# (``bot.engine.meaning``): with the table's other features, without ``meaning_z``.
WITHOUT_MEANING = "without_meaning"
# The nested models that also read the sentence model (``bot.engine.sentences``), with and
# without ``meaning_z``: the ones answers use once it is loaded.
WITH_SENTENCES = "with_sentences"
WITH_SENTENCES_WITHOUT_MEANING = "with_sentences_without_meaning"
# The figures that answer each kind of question: "how much" wants an amount, "how many" a count.
_ANSWER_KINDS = {
    MONEY: frozenset({"money"}),
    COUNT: frozenset({"number", "percent"}),
    DATE: frozenset({"year", "month", "date"}),
}
# How articles state a count or a date in words rather than figures ("four legs", "on
# Tuesday", "in June"): read as stating that kind of answer. "one" and "may" are left out: they
# are in nearly every text for other reasons; so are the scales ("million"), which follow a
# figure ("$2 million") that is read as such already.
_WORDED_KINDS = {
    **dict.fromkeys(
        """two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
        eighty ninety dozen dozens""".split(),
        "number",
    ),
    **dict.fromkeys(
        """monday tuesday wednesday thursday friday saturday sunday yesterday today tomorrow
        january february march april june july august september october november
        december""".split(),
        "date",
    ),
}
_RELATIVE_DATE = re.compile(r"\b(?:this|last|next) week\b", re.IGNORECASE)
# Paragraphs of a body read for names, figures and event words: the lead carries the facts a
# headline story asserts, and the read stays bounded whatever a body holds.
BODY_PARAGRAPHS = 12
BODY_CHARS = 8_000
# Articles whose words and figures are kept: the same stories lead many questions. Keyed by the
# article itself (an edited article is a new value), so a change is never read stale.
ARTICLES_CACHED = 4_096
# The opening an article's words are compared with, word by word, for a retold query's words:
# where a report states what it is about, and a bounded cost per candidate.
LEAD_CHARS = 1_500
MAX_GAP_MONTHS = 12.0  # ``period_gap``: a year or more apart is simply another time
DAYS_A_MONTH = 30.44

FEATURES = (
    "score",  # the ranking's calibrated 0-100 score, over 100 (coverage after name checks)
    "coverage",  # IDF-weighted share of the subject words the article holds (any form)
    "title_share",  # ... that its title holds
    "missing_rarest",  # IDF of the rarest subject word it lacks, over the query's rarest
    "missing_names",  # names the query asserts (as the corpus cases them) it lacks
    # Share of the subject words the corpus never uses in any form ("portsmouth", "ppl"): a
    # share, not a count, so a long description retold in other words is not six times as
    # suspect as a short query with one such word.
    "unknown_share",
    "clipped_words",  # unknown words the article holds a full form of ("ppl": people, "rec")
    "missing_figures",  # amounts, counts and years it lacks
    "missing_event",  # 1 when an event verb of the query ("cancel", "buy") is absent in all forms
    "missing_answer",  # 1 when it asks for an amount, count or date and the article has none
    "outlet_mismatch",  # 1 when the query names outlets and this is none of them
    "outlet_match",  # 1 when it names outlets and this is one
    # Months from the period the query names to the article's date, 0 inside it (at most
    # 12): news follows its event by days or weeks ("june 2020 boston vote" of a July report),
    # and a year apart is another story.
    "period_gap",
    "margin",  # calibrated score's lead over the best other candidate, -1..1
    "question",  # phrased as a question
    "subject_size",  # log(1 + subject words)
    # The most name-like of the query words whose casing the corpus cannot tell (never used,
    # or only in titles and outlets' names; or typed before a typo correction) that the article
    # lacks, by its vector (``word_vectors``): "philadelphia", "changi", "samsung" against
    # "pics", "forecast". 0 until the word table is loaded.
    "namelike_missing",
    # The IDF-weighted share of the subject the article holds, each missing word that is not a
    # name counted by its best cosine with a word of the article's opening: "forecast" is
    # nearly held by "predicting", "cops" by "police". Without the word table: no credit.
    "soft_coverage",
    # How surely a name the query asserts is missing, times ``coverage``: 1 for a name by the
    # corpus's casing, else ``namelike_missing``. A near-miss swaps one name of a story
    # ("deloitte" for PwC) and keeps its other words; a linear model of the two apart cannot
    # say "the rest matches, *and* that name is absent".
    "name_swapped",
    # How much closer in meaning the query is to the candidate's opening (title and excerpt)
    # than to the corpus at large: the static table's sentence cosine as a z-score against an
    # evenly spread sample of the corpus (``bot.engine.meaning``). A retold question shares few
    # words with its answer but stands out from the corpus as close to it. 0 without the table.
    "meaning_z",
)


# The features that exist only through the word table. The others read it too (its typo
# corrections, names held by their family), so the model answering without it is fitted on
# queries read without it (``bench/answerability/fit.py``), not merely without these three.
WORD_TABLE_FEATURES = ("namelike_missing", "soft_coverage", "meaning_z")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the ranking knows of one article for one query, in plain values."""

    article: Article
    coverage: float  # 0..1
    title_share: float  # 0..1
    score: float  # the ranking's calibrated score, 0..100
    missing: frozenset[str]  # subject terms it does not hold
    unknown_words: frozenset[str] = frozenset()  # query words the corpus never uses at all
    typed: Mapping[str, str] | None = None  # a typo-corrected word -> the word as typed


def evidence(
    intent: QueryIntent,
    candidate: Candidate,
    runner_up: float | None,
    idf: Mapping[str, float],
    vectors: WordVectors | None = None,
    closeness: Closeness | None = None,
) -> dict[str, float]:
    """The features of one candidate (``runner_up``: the best other candidate's score).

    ``vectors``: the word table (None: not loaded), read for retold and name-like words;
    ``closeness``: the query read through it against the corpus (None: not loaded).
    """
    rarest = max((idf.get(t, 0.0) for t in idf), default=0.0) or 1.0
    missing_rarest = max((idf.get(t, 0.0) for t in candidate.missing), default=0.0) / rarest
    # The ranking's own "not covered" (word forms and acronyms counted: "ai" is covered by
    # "artificial intelligence"); one-letter "names" are typing ("u"), not names.
    as_vectors, kin = _as_vectors(intent, candidate, idf, vectors)
    missing_names = sum(
        1 for n in intent.names if len(n) > 1 and n in candidate.missing and n not in kin
    )
    wanted = _ANSWER_KINDS.get(intent.answer_type)
    missing_figures, missing_answer = 0, 0.0
    if intent.facts or wanted:  # reading an article's figures is most of this function's cost
        stated, kinds, _ = _article_figures(candidate.article)
        missing_figures = sum(1 for f in intent.facts if f.normalized not in stated)
        if wanted is not None and not wanted & kinds:
            missing_answer = float(not wanted & _worded_kinds(candidate.article))
    missing_event = float(bool(_unstated_events(intent, candidate.article)))
    named = intent.outlet_matches
    outlet = candidate.article.outlet.name
    margin = (candidate.score - runner_up) / 100 if runner_up is not None else 1.0
    name_missing = max(float(missing_names > 0), as_vectors["namelike_missing"])
    return {
        "score": candidate.score / 100,
        "coverage": candidate.coverage,
        "title_share": candidate.title_share,
        "missing_rarest": missing_rarest,
        "missing_names": float(missing_names),
        "unknown_share": len(candidate.unknown_words) / max(1, len(intent.subject_words)),
        "clipped_words": float(_clipped(candidate.unknown_words, candidate.article)),
        "missing_figures": float(missing_figures),
        "missing_event": missing_event,
        "missing_answer": missing_answer,
        "outlet_mismatch": float(bool(named) and outlet not in named),
        "outlet_match": float(bool(named) and outlet in named),
        "period_gap": _months_outside(candidate.article, intent),
        "margin": max(-1.0, min(1.0, margin)),
        "question": float(intent.question),
        "subject_size": math.log1p(len(intent.subject_words)),
        **as_vectors,
        "name_swapped": name_missing * candidate.coverage,
        "meaning_z": closeness.z(candidate.article) if closeness is not None else 0.0,
    }


def _as_vectors(
    intent: QueryIntent,
    candidate: Candidate,
    idf: Mapping[str, float],
    words: WordVectors | None,
) -> tuple[dict[str, float], frozenset[str]]:
    """``namelike_missing`` and ``soft_coverage``: the missing words, told apart by vector.

    A missing name earns no credit: "pittsburgh" is as close to "philadelphia" as
    "predicting" is to "forecast". Unless the article holds a word of its family, which begins
    as it does and means alike: "norwegian" is said by "norway", "aussie" by "australian", as a
    typo's correction is kept (``WordVectors.kin``). Also returned: those names, held so.
    """
    total = sum(idf.values()) or 1.0
    held = sum(v for t, v in idf.items() if t not in candidate.missing)
    if words is None or not candidate.missing or not words.ready():
        return {"namelike_missing": 0.0, "soft_coverage": held / total}, frozenset()
    typed = candidate.typed or {}
    uncased = frozenset(intent.uncased)
    lead = _lead_words(candidate.article)
    namelike = 0.0
    kin: dict[str, float] = {}  # missing names the article says in a form of their family
    retold: list[str] = []  # missing words sought, as corrected, in the article's opening
    for term in sorted(candidate.missing):  # one order, so the sum is the same in every run
        word = typed.get(term, term)
        if not word.isalpha() or len(word) < 3:
            continue
        likeness = None
        if not (term in intent.names and len(term) > 1):
            if not (term in typed or word in candidate.unknown_words or word in uncased):
                retold.append(term)
                continue
            likeness = words.name_likeness(word)
            if likeness < 0.5:
                namelike = max(namelike, likeness)
                retold.append(term)  # "forcast" is sought as "forecast": its vector is a typo's
                continue
        closeness = words.kin(word, lead)
        if closeness >= SAME_WORD:
            kin[term] = closeness
        elif likeness is not None:
            namelike = max(namelike, likeness)
    if retold:
        closest = words.closest(retold, lead)
        held += sum(idf.get(t, 0.0) * max(0.0, c) for t, c in zip(retold, closest, strict=True))
    held += sum(idf.get(t, 0.0) * c for t, c in kin.items())
    return {"namelike_missing": namelike, "soft_coverage": held / total}, frozenset(kin)


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree of the boosted model, as flat arrays (node 0 is the root).

    A node with ``left[n] == -1`` is a leaf worth ``value[n]`` log-odds; any other sends a
    candidate left when ``feature`` ``n``'s value is at most ``threshold[n]``, else right.
    """

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def __call__(self, x: Sequence[float]) -> float:
        """The leaf value ``x`` (the features in the model's order) falls in."""
        node = 0
        left = self.left
        while left[node] >= 0:
            node = left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """Gradient-boosted trees over named features: P(the candidate answers the query).

    Trees, not a weighted sum, because what a feature means depends on the others: a missing
    name is the mark of a near-miss when the rest of the query is held and says little when
    nothing is; a low coverage is a retold question's when its words are said otherwise and an
    off-topic one's when they are not. A linear model needed such interactions built by hand
    (``name_swapped``); of twenty tried, one held up. Fitted by ``bench/answerability/fit.py``.
    """

    features: tuple[str, ...]
    trees: tuple[Tree, ...]
    bias: float  # log-odds before any tree: the share of right candidates in the fitting data
    threshold: float

    def probability(self, features: Mapping[str, float]) -> float:
        """P(the candidate answers the query); a feature not given counts as 0."""
        x = [features.get(name, 0.0) for name in self.features]
        z = self.bias + sum(tree(x) for tree in self.trees)
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def load(
        cls,
        path: Path = WEIGHTS_FILE,
        *,
        word_table: bool = True,
        meaning: bool = True,
        sentences: bool = False,
    ) -> AnswerabilityModel:
        """The fitted model the fitting script wrote.

        Not ``word_table``: the model fitted without the features read through the word table
        (``WORD_TABLE_FEATURES``), for answers given while it is not loaded: the full model's
        trees assume those features, and their word-only stand-ins would skew it. Not
        ``meaning``: the model fitted without ``meaning_z``, for a corpus too small to read it.
        ``sentences``: the one fitted with the sentence model's features too (with the table).
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if not word_table:
            data = data[WORDS_ALONE]
        elif sentences:
            data = data[WITH_SENTENCES if meaning else WITH_SENTENCES_WITHOUT_MEANING]
        elif not meaning:
            data = data[WITHOUT_MEANING]
        return cls.from_record(data)

    @classmethod
    def from_record(cls, data: Mapping[str, object]) -> AnswerabilityModel:
        """The model of a record ``as_record`` made."""
        trees = data["trees"]
        assert isinstance(trees, list)
        return cls(
            features=tuple(data["features"]),  # type: ignore[arg-type]
            trees=tuple(
                Tree(
                    feature=tuple(t["feature"]),
                    threshold=tuple(t["threshold"]),
                    left=tuple(t["left"]),
                    right=tuple(t["right"]),
                    value=tuple(t["value"]),
                )
                for t in trees
            ),
            bias=float(data["bias"]),  # type: ignore[arg-type]
            threshold=float(data["threshold"]),  # type: ignore[arg-type]
        )

    def to_json(self, extra: Mapping[str, object] | None = None) -> str:
        """The file ``load`` reads (``extra``: how it was fitted, for the record)."""
        return json.dumps(self.as_record(extra), separators=(",", ":")) + "\n"

    def as_record(self, extra: Mapping[str, object] | None = None) -> dict[str, object]:
        """The model as ``load`` reads it, with ``extra`` (a nested model, the fit's figures)."""
        return {
            "features": list(self.features),
            "bias": self.bias,
            "threshold": self.threshold,
            "trees": [
                {
                    "feature": list(t.feature),
                    "threshold": list(t.threshold),
                    "left": list(t.left),
                    "right": list(t.right),
                    "value": list(t.value),
                }
                for t in self.trees
            ],
            **(extra or {}),
        }


@cache
def default_model(
    word_table: bool = True, meaning: bool = True, sentences: bool = False
) -> AnswerabilityModel:
    """The shipped model, read once, for what answers can read now (``AnswerabilityModel.load``)."""
    return AnswerabilityModel.load(word_table=word_table, meaning=meaning, sentences=sentences)


def _pieces(article: Article) -> Iterable[str]:
    yield article.title[:BODY_CHARS]
    yield from (title[:BODY_CHARS] for title in article.alt_titles)
    yield article.excerpt[:BODY_CHARS]  # an excerpt can be megabytes of hostile text
    read = 0
    for paragraph in article.body[:BODY_PARAGRAPHS]:
        if read >= BODY_CHARS:
            break
        yield paragraph[: BODY_CHARS - read]
        read += len(paragraph)


@lru_cache(maxsize=ARTICLES_CACHED)
def _article_words(article: Article) -> frozenset[str]:
    words: set[str] = set(index_terms(article.outlet.name))
    for piece in _pieces(article):
        words.update(index_terms(piece))
    return frozenset(words)


def opening(article: Article) -> str:
    """What an article's meaning is read from: its title and excerpt (or first paragraph).

    Bounded: the model reads 256 tokens (~1,200 characters), and an excerpt can be megabytes.
    """
    lead = article.excerpt[:LEAD_CHARS] or (article.body[0][:LEAD_CHARS] if article.body else "")
    return f"{article.title[:LEAD_CHARS]}. {lead}"[:LEAD_CHARS]


@lru_cache(maxsize=ARTICLES_CACHED)
def _lead_words(article: Article) -> tuple[str, ...]:
    """The words of an article's opening (title, excerpt, lead): where a retold word is sought.

    Sorted, so that every run compares the same words in the same order.
    """
    words: set[str] = set()
    read = 0
    for piece in _pieces(article):  # each piece bounded: an excerpt can be megabytes
        if read >= LEAD_CHARS:
            break
        words.update(index_terms(piece[: LEAD_CHARS - read]))
        read += len(piece)
    return tuple(sorted(w for w in words if w.isalpha() and len(w) > 2))


@lru_cache(maxsize=ARTICLES_CACHED)
def _worded_kinds(article: Article) -> frozenset[str | None]:
    """The kinds of answer the article's text states in words, read once per article.

    Its outlet's name is not its text: "USA Today" states no date. News dates what it reports
    relative to its own date ("signed a contract … this week"); "week" alone is no date ("a
    40-hour week", "week-long").
    """
    outlet = set(index_terms(article.outlet.name))
    kinds = {_WORDED_KINDS.get(w) for w in _article_words(article) if w not in outlet}
    if any(_RELATIVE_DATE.search(piece) for piece in _pieces(article)):
        kinds.add("date")
    return frozenset(kinds)


def _clipped(unknown: Iterable[str], article: Article) -> int:
    """How many of the query words the corpus never uses are short forms of the article's words.

    People type "rec" and "recog" for recognition, "ppl" for people, "govt", "msft", "fb":
    the start of a word, or its consonants in order. A name the corpus lacks ("portsmouth",
    "deloitte") is the other kind of unknown word, and no word of the article spells it out.
    """
    words = None
    found = 0
    for short in unknown:
        if len(short) < 2 or not short.isalpha():
            continue
        if words is None:
            words = _article_words(article)
        if any(_spells_out(word, short) for word in words):
            found += 1
    return found


def _spells_out(word: str, short: str) -> bool:
    """Whether ``short`` is ``word`` clipped: its first letter, then some of its letters in order.

    "recog" of "recognition", "ppl" of "people", "govt" of "government", "msft" of "microsoft".
    Two letters spell too many words that way unless both are consonants ("fb").
    """
    if len(word) <= len(short) or word[0] != short[0]:
        return False
    if len(short) == 2 and not _VOWELS.isdisjoint(short):
        return False
    rest = iter(word[1:])
    return all(letter in rest for letter in short[1:])


_VOWELS = frozenset("aeiouy")


class _Stated(NamedTuple):
    """What an article states that a query may assert, read once per article."""

    figures: frozenset[str]  # normalised ("224000", "2020-05"), its own date's forms included
    kinds: frozenset[str]  # money, number, percent, year, ...
    years: frozenset[int]  # the years its text names ("in 2016"), not its own date


@lru_cache(maxsize=ARTICLES_CACHED)
def _article_figures(article: Article) -> _Stated:
    found: set[str] = set()
    kinds: set[str] = set()
    years: set[int] = set()
    for piece in _pieces(article):
        for fact in stated_facts(piece):
            found.add(fact.normalized)
            kinds.add(fact.kind)
            if fact.kind == "year" and fact.normalized.isdigit():
                years.add(int(fact.normalized))
    when = article.published
    if when is not None:  # "may 2020" is asserted of the article's own date as often as its text
        found.update((str(when.year), when.strftime("%Y-%m"), when.strftime("%Y-%m-%d")))
    return _Stated(frozenset(found), frozenset(kinds), frozenset(years))


def _months_outside(article: Article, intent: QueryIntent) -> float:
    """Months between the query's period and the article's date; 0 when it names a year inside.

    "did facebook first introduce alt text in 2016" names the year of the event, not of the
    report: an article of 2021 that states 2016 agrees with the period.
    """
    period, published = intent.period, article.published
    if period is None or published is None:
        return 0.0
    if period.start is not None and published < period.start:
        days = abs((published - period.start).days)  # whole days, as timedelta floors them
    elif period.end is not None and published >= period.end:
        days = (published - period.end).days
    else:
        return 0.0  # published in it
    # A year agrees with a period that holds all of it ("in 2016", "since 2015"): that the
    # text names 2016 says nothing of March 2016.
    if any(
        not _before(datetime(year, 1, 1, tzinfo=UTC), period)
        and not _after(datetime(year, 12, 31, 23, 59, tzinfo=UTC), period)
        for year in _article_figures(article).years
        if 1 <= year <= 9998
    ):
        return 0.0
    return min(MAX_GAP_MONTHS, days / DAYS_A_MONTH)


def _unstated_events(intent: QueryIntent, article: Article) -> list[str]:
    """The events the query asserts that the article states in none of their forms.

    Every one counts: "why did portland repeal its ban" asserts a repeal, and the ban the
    article does state is not it.
    """
    if not intent.relations:
        return []
    words = _article_words(article)
    return [r for r in intent.relations if not relation_forms(r) & words]


def published_in(article: Article, period: Period) -> bool:
    """Whether the article was published in ``period`` (the ranking's cheap test of a period).

    Not the years its text names (``period_gap`` reads those): that means parsing every
    candidate's body, 10 ms per command at 100k articles with bodies.
    """
    published = article.published
    return (
        published is not None and not _before(published, period) and not _after(published, period)
    )


def _before(when: datetime, period: Period) -> bool:
    return period.start is not None and when < period.start


def _after(when: datetime, period: Period) -> bool:
    return period.end is not None and when >= period.end


def why_not(
    intent: QueryIntent,
    features: Mapping[str, float],
    article: Article,
    closest_outlets: Sequence[str] = (),
) -> str:
    """What the closest article lacks of what the query asserts, in words, or "".

    Said when the model refuses: "The Verge has no article on this", "the coverage doesn't
    report 129 million" — so the closest coverage shown after it reads as closest, not as the
    answer.
    """
    if features.get("outlet_mismatch"):
        named = " or ".join(intent.outlet_names)
        same = intent.outlet_matches  # "theverge.com" is The Verge: it is not who else did
        who = ", ".join(dict.fromkeys(o for o in closest_outlets if o and o not in same))
        did = f" {who} did; their articles are below." if who else ""
        return f"{named} has no article on this in the coverage.{did}"
    lacking: list[str] = []
    if features.get("missing_figures"):
        stated = _article_figures(article).figures
        lacking += [f.typed for f in intent.facts if f.normalized not in stated]
    if features.get("missing_event"):
        lacking += _unstated_events(intent, article)
    if lacking:
        return (
            "The coverage closest to this doesn't report "
            + ", ".join(f"“{x}”" for x in lacking[:3])
            + "."
        )
    return ""
