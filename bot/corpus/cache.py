"""The parse cache and the merged-state cache, both in SQLite.

``corpus_files`` holds each file's parse result, keyed by path and stamped with size and mtime:
the unit a change re-parses and the source of other files' records when a change re-merges an
article. ``corpus_state`` holds the merger's whole state for one set of roots, written after a
load that changed something and on close, so a restart with nothing changed only stats the
files and decodes the state: no parsing, no merging.

Rows are ``marshal``-encoded tuples: the fastest stdlib codec for plain data, and the warm
restart budget (100,000 files in a second) leaves no room for JSON or pickled objects. Bump
``PARSER_VERSION`` whenever parsing or merging changes what a file or the state holds.
"""

from __future__ import annotations

import gc
import logging
import marshal
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from typing import Any

from bot.corpus.formats import FileResult
from bot.corpus.merge import FileInfo, MergeState
from bot.corpus.model import Article, Image, Outlet, Problem, Provenance

PARSER_VERSION = 3
log = logging.getLogger(__name__)
Stamp = tuple[str, int, int]  # display path, size, mtime_ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_CHUNK = 2_000  # articles per state row (~2.5 MB): bounded memory while saving
_IN_BATCH = 500  # paths per "IN (...)" query, under SQLite's default variable limit


def encode(result: FileResult) -> bytes:
    """A file's parse result as bytes for the cache."""
    outlets: dict[Outlet, int] = {}
    rows = tuple(_article_row(a, outlets) for a in result.articles)
    return marshal.dumps(
        (tuple(map(tuple, outlets)), rows, tuple(_problem_row(p) for p in result.problems))
    )


def decode(path: str, blob: bytes) -> FileResult:
    """The inverse of ``encode``."""
    outlets, rows, problems = marshal.loads(blob)
    table = [Outlet._make(o) for o in outlets]
    return FileResult(
        path,
        [_article_from_row(row, table) for row in rows],
        [Problem(*row) for row in problems],
    )


def relabel(result: FileResult, display: str) -> FileResult:
    """The same parse result as read under another display path."""
    old = result.path

    def moved(a: Article) -> Article:
        return a._replace(
            provenance=tuple(p._replace(path=display) if p.path == old else p for p in a.provenance)
        )

    return FileResult(
        display,
        [moved(a) for a in result.articles],
        [replace(p, path=display) if p.path == old else p for p in result.problems],
    )


def _problem_row(p: Problem) -> tuple[Any, ...]:
    return (p.path, p.line, p.reason, p.severity)


def _article_row(a: Article, outlets: dict[Outlet, int]) -> tuple[Any, ...]:
    outlet = outlets.setdefault(a.outlet, len(outlets))
    return (
        a.id,
        a.title,
        a.url,
        a.urls,
        outlet,
        None if a.published is None else (a.published - _EPOCH) // _MICRO,
        a.excerpt,
        a.body,
        a.topics,
        tuple(map(tuple, a.images)),
        a.related,
        tuple(map(tuple, a.provenance)),
        a.alt_titles,
        a.quality,
        a.heat,
        a.type,
        a.category,
    )


_new = tuple.__new__


def _article_from_row(row: tuple[Any, ...], outlets: list[Outlet]) -> Article:
    # The warm-restart hot loop (once per article): named tuples built straight from lists,
    # skipping the generated ``__new__``'s argument handling.
    fields = list(row)
    fields[4] = outlets[fields[4]]
    if fields[5] is not None:
        fields[5] = _EPOCH + fields[5] * _MICRO
    if fields[9]:
        fields[9] = tuple([_new(Image, i) for i in fields[9]])
    fields[11] = tuple([_new(Provenance, p) for p in fields[11]])
    return _new(Article, fields)  # type: ignore[no-any-return]


def _columns(articles: list[Article], outlets: dict[Outlet, int]) -> tuple[Any, ...]:
    """Articles as columns (one tuple per field), nested rows flattened with their counts.

    Column order lets ``_from_columns`` build every article with C-level ``map``/``zip``
    instead of a Python loop: the difference between ~5 and ~1 µs an article on restart.
    """
    images: list[tuple[Any, ...]] = []
    provenance: list[tuple[Any, ...]] = []
    for a in articles:
        images.extend(map(tuple, a.images))
        provenance.extend(map(tuple, a.provenance))
    return (
        tuple(a.id for a in articles),
        tuple(a.title for a in articles),
        tuple(a.url for a in articles),
        tuple(a.urls for a in articles),
        tuple(outlets.setdefault(a.outlet, len(outlets)) for a in articles),
        tuple(None if a.published is None else (a.published - _EPOCH) // _MICRO for a in articles),
        tuple(a.excerpt for a in articles),
        tuple(a.body for a in articles),
        tuple(a.topics for a in articles),
        tuple(len(a.images) for a in articles),
        tuple(images),
        tuple(a.related for a in articles),
        tuple(len(a.provenance) for a in articles),
        tuple(provenance),
        tuple(a.alt_titles for a in articles),
        tuple(a.quality for a in articles),
        tuple(a.heat for a in articles),
        tuple(a.type for a in articles),
        tuple(a.category for a in articles),
    )


def _from_columns(columns: tuple[Any, ...], outlets: list[Outlet]) -> Iterator[tuple[str, Article]]:
    """(id, article) pairs from ``_columns`` output."""
    (ids, titles, url, urls, outlet, published, excerpt, body, topics, *rest) = columns
    image_counts, images, related, prov_counts, provenance, *tail = rest
    alt_titles, quality, heat, type_, category = tail
    image_iter = map(_new, repeat(Image), images)
    prov_iter = map(_new, repeat(Provenance), provenance)
    fields = zip(
        ids,
        titles,
        url,
        urls,
        map(outlets.__getitem__, outlet),
        [None if us is None else _EPOCH + us * _MICRO for us in published],
        excerpt,
        body,
        topics,
        map(tuple, map(islice, repeat(image_iter), image_counts)),
        related,
        map(tuple, map(islice, repeat(prov_iter), prov_counts)),
        alt_titles,
        quality,
        heat,
        type_,
        category,
        strict=True,
    )
    return zip(ids, map(_new, repeat(Article), fields), strict=True)


def _decode_state(
    header: bytes, chunks: Iterable[bytes]
) -> tuple[dict[str, Stamp], MergeState] | None:
    stamps, outlets, files, counts, conflicts, related, duplicates, expected = marshal.loads(header)
    table = [Outlet._make(o) for o in outlets]
    articles: dict[str, Article] = {}
    seen = 0
    with paused_gc():  # (nested in the loader's pause; alone when called directly)
        for blob in chunks:
            articles.update(_from_columns(marshal.loads(blob), table))
            seen += 1
        if seen != expected:  # a torn write: better to rebuild than to trust half a state
            return None
        infos = {
            path: FileInfo(ids, tuple(Problem(*p) for p in problems))
            if problems
            else _new(FileInfo, (ids, ()))
            for path, (ids, problems) in files.items()
        }
    state = MergeState(
        articles,
        infos,
        counts,
        {k: Problem(*row) for k, row in conflicts.items()},
        related,
        duplicates,
    )
    return stamps, state


class ParseCache:
    """Reads and writes cached parse results and merged state; one instance per connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def stamps(self) -> dict[str, Stamp]:
        """Path -> (display, size, mtime_ns) of every file cached by this parser version."""
        rows = self._conn.execute(
            "SELECT path, display, size, mtime_ns FROM corpus_files WHERE parser = ?",
            (PARSER_VERSION,),
        )
        return {path: (display, size, mtime) for path, display, size, mtime in rows}

    def results(self, wanted: Mapping[str, Stamp]) -> dict[str, FileResult]:
        """Cached results for the paths in ``wanted`` whose size and mtime still match, by path.

        A row cached under another display path (the same folder given as ``seeds`` and as
        ``./seeds``) is relabelled, not re-parsed, and stored back under the new one.
        """
        out: dict[str, FileResult] = {}
        relabelled: list[tuple[str, Stamp, FileResult]] = []
        paths = list(wanted)
        for start in range(0, len(paths), _IN_BATCH):
            batch = paths[start : start + _IN_BATCH]
            rows = self._conn.execute(
                "SELECT path, display, size, mtime_ns, parsed FROM corpus_files "
                f"WHERE parser = ? AND path IN ({','.join('?' * len(batch))})",
                (PARSER_VERSION, *batch),
            )
            for path, display, size, mtime, blob in rows:
                stamp = wanted[path]
                if (size, mtime) != stamp[1:]:
                    continue
                try:
                    result = decode(display, blob)
                except (ValueError, TypeError, EOFError, IndexError):
                    continue  # unreadable row: the file is parsed again
                if display != stamp[0]:
                    result = relabel(result, stamp[0])
                    relabelled.append((path, stamp, result))
                out[path] = result
        if relabelled:
            self.store(relabelled, ())
        return out

    def store(self, rows: Iterable[tuple[str, Stamp, FileResult]], removed: Iterable[str]) -> None:
        """Write new results and forget removed files, in one transaction."""
        with _transaction(self._conn) as conn:
            conn.executemany("DELETE FROM corpus_files WHERE path = ?", ((p,) for p in removed))
            conn.executemany(
                "INSERT OR REPLACE INTO corpus_files"
                " (path, display, size, mtime_ns, parser, parsed) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (path, display, size, mtime, PARSER_VERSION, encode(result))
                    for path, (display, size, mtime), result in rows
                ),
            )

    def load_state(self, roots: str) -> tuple[dict[str, Stamp], MergeState] | None:
        """The merged state last saved for ``roots``, with the file stamps it reflects.

        None when there is none, or it cannot be read back (a torn write, a damaged file): the
        loader then rebuilds it from the per-file cache, which costs a merge, not a parse.
        """
        rows = self._conn.execute(
            "SELECT data FROM corpus_state WHERE roots = ? AND parser = ? ORDER BY part",
            (roots, PARSER_VERSION),
        )
        header = rows.fetchone()
        if header is None:
            return None
        try:
            return _decode_state(header[0], (blob for (blob,) in rows))
        except (ValueError, TypeError, EOFError, IndexError, KeyError):
            log.warning("saved corpus state for %s is unreadable; rebuilding it", roots)
            return None

    def save_state(self, roots: str, stamps: Mapping[str, Stamp], state: MergeState) -> None:
        """Replace the saved state for ``roots`` in one transaction, a chunk at a time."""
        outlets: dict[Outlet, int] = {}
        articles = list(state.articles.values())
        chunks = range(0, len(articles), _CHUNK)
        with _transaction(self._conn) as conn:
            conn.execute("DELETE FROM corpus_state WHERE roots = ?", (roots,))
            conn.executemany(
                "INSERT INTO corpus_state (roots, part, parser, data) VALUES (?, ?, ?, ?)",
                (
                    (
                        roots,
                        part,
                        PARSER_VERSION,
                        marshal.dumps(_columns(articles[i : i + _CHUNK], outlets)),
                    )
                    for part, i in enumerate(chunks, start=1)
                ),
            )
            header = (
                dict(stamps),
                tuple(map(tuple, outlets)),  # complete only now that every chunk is encoded
                {
                    path: (info.ids, tuple(map(_problem_row, info.problems)))
                    for path, info in state.files.items()
                },
                state.counts,
                {k: _problem_row(p) for k, p in state.conflicts.items()},
                state.related_merged,
                state.duplicates_merged,
                len(chunks),
            )
            conn.execute(
                "INSERT INTO corpus_state (roots, part, parser, data) VALUES (?, 0, ?, ?)",
                (roots, PARSER_VERSION, marshal.dumps(header)),
            )

    def forget_state(self, roots: str) -> None:
        """Drop the saved state for ``roots`` (it no longer matches the files)."""
        with _transaction(self._conn) as conn:
            conn.execute("DELETE FROM corpus_state WHERE roots = ?", (roots,))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Bulk loads create millions of tuples and strings, and every generation-0 pass would
    re-examine them (measured: ~30% of a warm restart). Reference counting frees them as
    usual. Not ``gc.freeze()``: that would also pin whatever else the process holds.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
