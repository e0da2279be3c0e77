"""Many records of one article, from many files and ``related:`` lists, become one article.

The merger is incremental: it keeps every file's records, so a changed or deleted file only
re-merges the articles that file touched, and each result is a new immutable snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from bot.corpus.formats import FileResult
from bot.corpus.model import Article, Image, Problem

_WORD = re.compile(r"[a-z0-9]+")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CorpusSnapshot:
    """An immutable view of the corpus: safe to read from any thread while the next is built."""

    articles: Mapping[str, Article]
    files: Mapping[str, FileResult]
    merge_problems: tuple[Problem, ...] = ()
    related_merged: int = 0
    duplicates_merged: int = 0
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every file, then those found while merging, in path order."""
        out = [p for path in sorted(self.files) for p in self.files[path].problems]
        return out + list(self.merge_problems)

    @property
    def errors(self) -> list[Problem]:
        """Problems that cost content (a file or record skipped)."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems where something was repaired or dropped but the record kept."""
        return [p for p in self.problems if p.severity == "warning"]

    def date_range(self) -> tuple[datetime | None, datetime | None]:
        """First and last known publication times."""
        dates = [a.published for a in self.articles.values() if a.published is not None]
        return (min(dates), max(dates)) if dates else (None, None)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Which article ids a change added, changed or removed; what digests and the index follow."""

    added: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class Merger:
    """Keeps every file's records and the merged articles built from them."""

    def __init__(self) -> None:
        self._files: dict[str, FileResult] = {}
        self._records: dict[str, list[Article]] = {}
        self._articles: dict[str, Article] = {}
        self._conflicts: dict[str, Problem] = {}
        self._related_merged = 0
        self._duplicates_merged = 0

    def apply(
        self, results: Iterable[FileResult], removed_paths: Iterable[str] = ()
    ) -> tuple[CorpusSnapshot, ChangeSet]:
        """Replace the given files' records (and drop removed files'), re-merge what they touch."""
        results = list(results)
        outgoing = [self._files[p] for p in removed_paths if p in self._files]
        outgoing += [self._files[r.path] for r in results if r.path in self._files]
        touched = {a.id for old in outgoing for a in old.articles}
        touched.update(a.id for r in results for a in r.articles)
        old_groups = {k: self._records.get(k, []) for k in touched}
        for old in outgoing:
            del self._files[old.path]
            gone = {id(a) for a in old.articles}
            for article_id in {a.id for a in old.articles}:
                self._records[article_id] = [
                    r for r in self._records.get(article_id, ()) if id(r) not in gone
                ]
        for result in results:
            self._files[result.path] = result
            for record in result.articles:
                group = self._records.get(record.id)
                if group is None or group is old_groups.get(record.id):
                    group = self._records[record.id] = list(group or ())
                group.append(record)

        before = self._articles
        after = dict(before)
        added, changed, removed = set(), set(), set()
        for article_id in touched:
            self._account(old_groups[article_id], -1)
            records = self._records.get(article_id)
            if not records:
                self._records.pop(article_id, None)
                self._conflicts.pop(article_id, None)
                if after.pop(article_id, None) is not None:
                    removed.add(article_id)
                continue
            self._account(records, +1)
            merged = records[0] if len(records) == 1 else self._merge(article_id, records)
            if len(records) == 1:
                self._conflicts.pop(article_id, None)
            old_article = before.get(article_id)
            after[article_id] = merged
            if old_article is None:
                added.add(article_id)
            elif old_article != merged:
                changed.add(article_id)
        self._articles = after
        snapshot = CorpusSnapshot(
            articles=after,
            files=dict(self._files),
            merge_problems=tuple(self._conflicts[k] for k in sorted(self._conflicts)),
            related_merged=self._related_merged,
            duplicates_merged=self._duplicates_merged,
        )
        return snapshot, ChangeSet(frozenset(added), frozenset(changed), frozenset(removed))

    def _account(self, records: list[Article], sign: int) -> None:
        """Keep the merge counters: every record beyond an article's first was merged."""
        if not records:
            return
        files = sum(1 for r in records if r.provenance[0].kind == "file")
        related = len(records) - files
        self._duplicates_merged += sign * max(files - 1, 0)
        self._related_merged += sign * (related if files else related - 1)

    def _merge(self, article_id: str, records: list[Article]) -> Article:
        # Files describing the article outrank related: entries; richer records outrank poorer.
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
        return replace(
            best,
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
        titles = list(dict.fromkeys(r.title for r in ranked))
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
            None,
            f"one URL under {len(titles)} titles ({url}); kept {chosen!r}, "
            f"also seen as {', '.join(repr(t) for t in others)}",
            "warning",
        )
        return chosen, others


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _union(groups: Iterable[tuple[T, ...]]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))
