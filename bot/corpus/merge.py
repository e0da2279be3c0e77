"""Many records of one article, from many files and ``related:`` lists, become one article.

The merger is incremental: a changed or deleted file only re-merges the articles that file
touched, fetching the other records of those articles from the parse cache, and each result is a
new immutable snapshot.

A merger resumed from a saved state (see ``cache``) may hold parts of it as ``Deferred`` values,
decoded the first time anything reads them: a restart with nothing changed needs none of the
merger's bookkeeping. Its articles stay in the database (``bot.corpus.articles``), and a
change lays the articles it touched over them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Generic, NamedTuple, TypeVar

from bot.corpus.articles import ArticleTable, articles_of, census_of
from bot.corpus.census import Census
from bot.corpus.formats import FileResult
from bot.corpus.model import Article, Image, Problem

_WORD = re.compile(r"[a-z0-9]+")
T = TypeVar("T")

Fetch = Callable[[Collection[str]], Mapping[str, FileResult]]
"""Returns the current parse results of already-merged files, by path (display path)."""


class Deferred(Generic[T]):
    """A value built on first use, once, whichever thread asks first; then kept.

    If building raises, the error reaches the reader and the next read tries again.
    """

    __slots__ = ("_build", "_lock", "_value")

    def __init__(self, build: Callable[[], T]) -> None:
        self._build: Callable[[], T] | None = build
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once the value has been built."""
        return self._build is None

    def get(self) -> T:
        """The value, building it now if nobody has yet."""
        if self._build is not None:
            with self._lock:
                build = self._build
                if build is not None:
                    self._value = build()
                    self._build = None
        return self._value  # type: ignore[return-value]


class DeferredFiles(Deferred["dict[str, FileInfo]"]):
    """The per-file map, deferred, with its problems at hand: reports need only those."""

    __slots__ = ("problems",)

    def __init__(
        self, build: Callable[[], dict[str, FileInfo]], problems: tuple[Problem, ...]
    ) -> None:
        super().__init__(build)
        self.problems = problems  # every file's problems, in path order


class FileInfo(NamedTuple):
    """What the corpus keeps of one file once merged.

    ``ids`` are the article ids of its records in file order, related entries included.
    """

    ids: tuple[str, ...]
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class CorpusSnapshot:
    """An immutable view of the corpus: safe to read from any thread while the next is built."""

    articles: Mapping[str, Article]
    files: Mapping[str, FileInfo]
    merge_problems: tuple[Problem, ...] = ()
    related_merged: int = 0
    duplicates_merged: int = 0
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Which files it was read from (``bot.corpus.generation``); "" when not from a loader.
    generation: str = ""

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every file, then those found while merging, in path order."""
        files = _FILES_SLOT.__get__(self)
        if isinstance(files, DeferredFiles):  # saved apart: no need to decode the map
            out = list(files.problems)
        else:
            out = [p for path in sorted(files) for p in files[path].problems]
        return out + list(self.merge_problems)

    @property
    def errors(self) -> list[Problem]:
        """Problems that cost content (a file or record skipped)."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems where something was repaired or dropped but the record kept."""
        return [p for p in self.problems if p.severity == "warning"]

    def census(self) -> Census:
        """Articles per outlet and topic, and the date span (kept by saved articles)."""
        return census_of(self.articles)


class _Resolving:
    """Stands in for a snapshot field's slot so a ``Deferred`` stored there reads as its value.

    Readers always get the real mapping (a plain ``dict`` from the loader): the first read
    decodes it, later reads cost one attribute lookup more than a plain slot.
    """

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        return value.get() if isinstance(value, Deferred) else value

    def __set__(self, obj: object, value: Any) -> None:
        self.slot.__set__(obj, value)


_FILES_SLOT = CorpusSnapshot.__dict__["files"]
CorpusSnapshot.files = _Resolving(_FILES_SLOT)  # type: ignore[assignment,misc]


def with_merge_problems(snapshot: CorpusSnapshot, first: tuple[Problem, ...]) -> CorpusSnapshot:
    """``snapshot`` with ``first`` ahead of its merge problems; deferred parts stay deferred."""
    return _copy(snapshot, merge_problems=first + snapshot.merge_problems)


def with_articles(snapshot: CorpusSnapshot, articles: Mapping[str, Article]) -> CorpusSnapshot:
    """``snapshot`` holding ``articles`` (the same ones, read from where they were saved)."""
    return _copy(snapshot, articles=articles)


def with_generation(snapshot: CorpusSnapshot, generation: str) -> CorpusSnapshot:
    """``snapshot`` marked as read from the files of ``generation``."""
    return _copy(snapshot, generation=generation)


def _copy(snapshot: CorpusSnapshot, **changes: Any) -> CorpusSnapshot:
    """A copy with ``changes``: ``dataclasses.replace`` would read, and so decode, every field."""
    fields = {
        "articles": snapshot.articles,
        "files": _FILES_SLOT.__get__(snapshot),
        "merge_problems": snapshot.merge_problems,
        "related_merged": snapshot.related_merged,
        "duplicates_merged": snapshot.duplicates_merged,
        "loaded_at": snapshot.loaded_at,
        "generation": snapshot.generation,
    }
    return CorpusSnapshot(**{**fields, **changes})


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Which article ids a change added, changed or removed; what digests and the index follow."""

    added: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def touched(self) -> frozenset[str]:
        """Every id the change concerns: what a store keyed by article id must revisit."""
        return self.added | self.changed | self.removed

    @property
    def new_or_changed(self) -> frozenset[str]:
        """The ids whose articles the change leaves in the corpus, to be (re)read."""
        return self.added | self.changed


@dataclass(slots=True)
class MergeState:
    """Everything a ``Merger`` knows, for the cache to persist and a restart to resume from.

    A resumed state may hold ``Deferred`` stand-ins for ``files`` and ``counts``;
    ``Merger.state()`` always returns them decoded. Its ``articles`` are a plain dict, or
    an ``ArticleTable`` over saved ones.
    """

    articles: Mapping[str, Article]
    files: dict[str, FileInfo]
    counts: dict[str, tuple[int, int]]
    conflicts: dict[str, Problem]
    related_merged: int = 0
    duplicates_merged: int = 0


class Merger:
    """Merges files' records into articles, re-merging only what each change touches.

    It keeps the merged articles and, per file, only the ids its records had. To re-merge an
    article it asks ``fetch`` for the records of the other files that contributed to it (the
    loader answers from the parse cache), so memory holds one copy of the corpus, not two.
    Without ``fetch`` every file's records are kept in memory instead.
    """

    def __init__(self, fetch: Fetch | None = None, state: MergeState | None = None) -> None:
        self._fetch = fetch
        self._kept: dict[str, FileResult] | None = {} if fetch is None else None
        state = state or MergeState({}, {}, {}, {})
        # Each may be Deferred until the first change needs it (see _resolve).
        self._articles: Any = state.articles
        self._files: Any = state.files
        self._counts: Any = state.counts  # id -> (records from files, records from related)
        self._conflicts = state.conflicts
        self._related_merged = state.related_merged
        self._duplicates_merged = state.duplicates_merged

    def _resolve(self) -> None:
        """Decode whatever the resumed state still holds deferred, before changing anything."""
        if isinstance(self._files, Deferred):
            self._files = dict(self._files.get())  # earlier snapshots keep the original
        if isinstance(self._counts, Deferred):
            self._counts = self._counts.get()

    @property
    def articles(self) -> Mapping[str, Article]:
        """The merged articles now (what the next snapshot will hold)."""
        return self._articles

    def state(self) -> MergeState:
        """The merger's knowledge, for persisting (shares the live dicts: copy before mutating)."""
        self._resolve()
        return MergeState(
            self._articles,
            self._files,
            self._counts,
            self._conflicts,
            self._related_merged,
            self._duplicates_merged,
        )

    def snapshot(self) -> CorpusSnapshot:
        """The current articles as an immutable snapshot."""
        files = self._files
        return CorpusSnapshot(
            articles=self._articles,  # a dict or table the merger never mutates
            files=files if isinstance(files, Deferred) else dict(files),
            merge_problems=tuple(self._conflicts[k] for k in sorted(self._conflicts)),
            related_merged=self._related_merged,
            duplicates_merged=self._duplicates_merged,
        )

    def apply(
        self, results: Iterable[FileResult], removed_paths: Iterable[str] = ()
    ) -> tuple[CorpusSnapshot, ChangeSet]:
        """Replace the given files' records (and drop removed files'), re-merge what they touch."""
        results = list(results)
        removed_paths = list(removed_paths)
        if not results and not removed_paths:  # nothing to merge: deferred parts stay deferred
            return self.snapshot(), ChangeSet()
        self._resolve()
        incoming = {r.path for r in results}
        gone = {p for p in removed_paths if p in self._files and p not in incoming}
        touched: set[str] = set()
        for path in gone | (incoming & self._files.keys()):
            touched.update(self._files[path].ids)
        for result in results:
            touched.update(a.id for a in result.articles)
        # Files that still hold records of a touched article: their records join the re-merge.
        others: set[str] = set()
        # Each touched article as it is now, read once (saved ones are database rows).
        before = articles_of(self._articles, touched)
        for article in before.values():
            others.update(p.path for p in article.provenance)
        others -= gone | incoming
        fetched = self._fetch_results(others)

        for path in gone:
            del self._files[path]
            if self._kept is not None:
                del self._kept[path]
        for result in results:
            self._files[result.path] = FileInfo(
                tuple(a.id for a in result.articles), tuple(result.problems)
            )
            if self._kept is not None:
                self._kept[result.path] = result
        groups: dict[str, list[Article]] = {article_id: [] for article_id in touched}
        for result in [*fetched.values(), *results]:
            for record in result.articles:
                group = groups.get(record.id)
                if group is not None:
                    group.append(record)

        updates: dict[str, Article | None] = {}
        added, changed, removed = set(), set(), set()
        for article_id, records in groups.items():
            self._account(self._counts.pop(article_id, (0, 0)), -1)
            if not records:
                self._conflicts.pop(article_id, None)
                if article_id in before:
                    updates[article_id] = None
                    removed.add(article_id)
                continue
            counts = _counts(records)
            self._counts[article_id] = counts
            self._account(counts, +1)
            if len(records) == 1:
                self._conflicts.pop(article_id, None)
                merged = records[0]
            else:
                merged = self._merge(article_id, records)
            old_article = before.get(article_id)
            updates[article_id] = merged
            if old_article is None:
                added.add(article_id)
            elif old_article != merged:
                changed.add(article_id)
        self._articles = _updated(self._articles, updates, before.keys())
        changes = ChangeSet(frozenset(added), frozenset(changed), frozenset(removed))
        return self.snapshot(), changes

    def rebase(self, articles: Mapping[str, Article]) -> None:
        """Go on from ``articles``, the same articles as now, saved (``ParseCache.save_state``).

        Nothing changes for readers; the changes held in memory since the last save go.
        """
        self._articles = articles

    def _fetch_results(self, paths: Collection[str]) -> Mapping[str, FileResult]:
        if not paths:
            return {}
        if self._kept is not None:
            return {p: self._kept[p] for p in paths if p in self._kept}
        assert self._fetch is not None
        return self._fetch(paths)

    def _account(self, counts: tuple[int, int], sign: int) -> None:
        """Keep the merge counters: every record beyond an article's first was merged into it.

        A duplicate is a second file describing the same article; a related entry is merged
        when the article already had a record (a file's, or another related entry's).
        """
        files, related = counts
        if not files and not related:
            return
        self._duplicates_merged += sign * max(files - 1, 0)
        self._related_merged += sign * (related if files else related - 1)

    def _merge(self, article_id: str, records: list[Article]) -> Article:
        # Files describing the article outrank related: entries; richer records outrank poorer;
        # path and line break ties, so an incremental re-merge equals a fresh one.
        records = sorted(records, key=_source_order)
        ranked = sorted(
            records,
            key=lambda r: (
                r.provenance[0].kind != "file",
                r.provenance[0].title_inferred,
                -len(r.body),
                -len(r.excerpt),
            ),
        )
        best = ranked[0]
        title, alt_titles = self._choose_title(article_id, ranked)
        published = next((r.published for r in ranked if r.published is not None), None)
        outlet = next((r.outlet for r in ranked if r.outlet.name and r.outlet.domain), best.outlet)
        images: dict[str, Image] = {}
        for r in ranked:
            for image in r.images:
                images.setdefault(image.url, image)
        return best._replace(
            title=title,
            alt_titles=alt_titles,
            urls=_union(r.urls for r in ranked),
            outlet=outlet,
            published=published,
            excerpt=max((r.excerpt for r in ranked), key=len),
            body=max((r.body for r in ranked), key=lambda b: sum(map(len, b))),
            topics=_union(r.topics for r in ranked),
            images=tuple(images.values()),
            related=_union(r.related for r in ranked),
            provenance=_union(r.provenance for r in records),
            quality=max((r.quality for r in ranked if r.quality is not None), default=None),
            heat=max((r.heat for r in ranked if r.heat is not None), default=None),
            type=next((r.type for r in ranked if r.type), ""),
            category=next((r.category for r in ranked if r.category), ""),
        )

    def _choose_title(self, article_id: str, ranked: list[Article]) -> tuple[str, tuple[str, ...]]:
        """Pick one title; when one URL carries unrelated titles, trust the URL's own words."""
        given = [r.title for r in ranked if not r.provenance[0].title_inferred]
        titles = list(dict.fromkeys(given or [r.title for r in ranked]))
        self._conflicts.pop(article_id, None)
        if len(titles) == 1:
            return titles[0], ()
        url = ranked[0].url or ""
        first = _words(titles[0])
        unrelated = [t for t in titles[1:] if _overlap(first, _words(t)) < 0.5]
        if not unrelated:
            return titles[0], tuple(titles[1:])
        slug = _words(url.rsplit("/", 2)[-1] if not url.endswith("/") else url.rsplit("/", 2)[-2])
        chosen = max(titles, key=lambda t: _overlap(_words(t), slug))
        others = tuple(t for t in titles if t != chosen)
        self._conflicts[article_id] = Problem(
            ranked[0].provenance[0].path,
            ranked[0].provenance[0].line,
            f"one URL under {len(titles)} titles ({url}); kept {chosen!r}, "
            f"also seen as {', '.join(repr(t) for t in others)}",
            "warning",
        )
        return chosen, others


def _updated(
    articles: Mapping[str, Article],
    updates: Mapping[str, Article | None],
    present: AbstractSet[str],
) -> Mapping[str, Article]:
    """A new mapping: ``articles`` with each of ``updates`` set, or removed where None.

    ``present``: which of the updated ids ``articles`` holds (the caller read them already).
    """
    if isinstance(articles, ArticleTable):
        return articles.updated(updates, present)
    after = dict(articles)
    for article_id, article in updates.items():
        if article is None:
            after.pop(article_id, None)
        else:
            after[article_id] = article  # an existing key keeps its place
    return after


def _source_order(record: Article) -> tuple[str, int]:
    source = record.provenance[0]
    return source.path, source.line or 0


def _counts(records: list[Article]) -> tuple[int, int]:
    files = [r.provenance[0].kind for r in records].count("file")
    return files, len(records) - files


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _union(groups: Iterable[tuple[T, ...]]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(chain.from_iterable(groups)))
