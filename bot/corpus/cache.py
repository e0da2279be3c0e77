"""The parse cache: each file's articles and problems, keyed by path, size and mtime.

Rows are ``marshal``-encoded tuples: the fastest stdlib codec for plain data, and the warm
restart budget (100,000 files in a second) leaves no room for JSON or pickled objects.
Bump ``PARSER_VERSION`` whenever parsing changes what a file yields.
"""

from __future__ import annotations

import marshal
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot.corpus.formats import FileResult
from bot.corpus.model import Article, Image, Outlet, Problem, Provenance

PARSER_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def encode(result: FileResult) -> bytes:
    """A file's parse result as bytes for the cache."""
    return marshal.dumps(
        (
            tuple(_article_row(a) for a in result.articles),
            tuple((p.path, p.line, p.reason, p.severity) for p in result.problems),
        )
    )


def decode(path: str, blob: bytes) -> FileResult:
    """The inverse of ``encode``."""
    articles, problems = marshal.loads(blob)
    return FileResult(
        path,
        [_article_from_row(row) for row in articles],
        [Problem(*row) for row in problems],
    )


def _article_row(a: Article) -> tuple:
    return (
        a.id,
        a.title,
        a.url,
        a.urls,
        a.outlet.name,
        a.outlet.domain,
        None if a.published is None else (a.published - _EPOCH) // _MICRO,
        a.excerpt,
        a.body,
        a.topics,
        tuple((i.url, i.width, i.height) for i in a.images),
        a.related,
        tuple((p.path, p.kind, p.line, p.via, p.title_inferred) for p in a.provenance),
        a.alt_titles,
        a.quality,
        a.heat,
        a.type,
        a.category,
    )


def _article_from_row(row: tuple) -> Article:
    (
        id_,
        title,
        url,
        urls,
        outlet,
        domain,
        published,
        excerpt,
        body,
        topics,
        images,
        related,
        provenance,
        alt_titles,
        quality,
        heat,
        type_,
        category,
    ) = row
    return Article(
        id_,
        title,
        url,
        urls,
        Outlet(outlet, domain),
        None if published is None else _EPOCH + published * _MICRO,
        excerpt,
        body,
        topics,
        tuple(Image(*i) for i in images),
        related,
        tuple(Provenance(*p) for p in provenance),
        alt_titles,
        quality,
        heat,
        type_,
        category,
    )


class ParseCache:
    """Reads and writes cached parse results; one instance per thread that uses it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def stamps(self) -> dict[str, tuple[str, int, int]]:
        """Path -> (display, size, mtime_ns) of every file cached by this parser version."""
        rows = self._conn.execute(
            "SELECT path, display, size, mtime_ns FROM corpus_files WHERE parser = ?",
            (PARSER_VERSION,),
        )
        return {path: (display, size, mtime) for path, display, size, mtime in rows}

    def load(self, paths: Iterable[str]) -> dict[str, FileResult]:
        """The cached results for ``paths`` (all paths when there are many)."""
        wanted = set(paths)
        out: dict[str, FileResult] = {}
        rows = self._conn.execute(
            "SELECT path, display, parsed FROM corpus_files WHERE parser = ?", (PARSER_VERSION,)
        )
        for path, display, blob in rows:
            if path in wanted:
                out[path] = decode(display, blob)
        return out

    def store(
        self, rows: Iterable[tuple[str, str, int, int, FileResult]], removed: Iterable[str]
    ) -> None:
        """Write new results and forget removed files, in one transaction."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM corpus_files WHERE path = ?", ((p,) for p in removed))
            conn.executemany(
                "INSERT OR REPLACE INTO corpus_files VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (path, display, size, mtime, PARSER_VERSION, encode(result))
                    for path, display, size, mtime, result in rows
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
