"""The parse cache and the merged-state cache, both in SQLite.

``corpus_files`` holds each file's parse result, keyed by path and stamped with size and mtime:
the unit a change re-parses and the source of other files' records when a change re-merges an
article. ``corpus_state`` holds the merger's whole state for one set of roots, written after a
load that changed something and on close, so a restart with nothing changed only stats the
files, reads the state and compares stamps: no parsing, no merging.

The state is checked (CRC-32 per part) when read, but its per-file map and merge counts are
decoded on first use (``merge.Deferred``): only a change needs that bookkeeping. Its articles
are rows of their own (``bot.corpus.articles``), read when something asks for one.

Rows are ``marshal``-encoded tuples: the fastest stdlib codec for plain data, and the warm
restart budget (100,000 files in a second) leaves no room for JSON or pickled objects. Bump
``PARSER_VERSION`` whenever parsing or merging changes what a file or the state holds, and
``STATE_LAYOUT`` when only the state's encoding changes.
"""

from __future__ import annotations

import gc
import logging
import marshal
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from bot.corpus.articles import (
    ArticleRows,
    ArticleTable,
    damaged,
    encode_row,
    encode_titles,
    keep_versions,
)
from bot.corpus.census import Census
from bot.corpus.formats import FileResult
from bot.corpus.merge import Deferred, DeferredFiles, FileInfo, MergeState
from bot.corpus.model import Article, Outlet, Problem
from bot.corpus.rows import (
    DAMAGE,
    SEAL_BYTES,
    article_from_row,
    article_row,
    in_batches,
    problem_row,
    sealed,
    unsealed,
)

PARSER_VERSION = 6  # 6: an outlet named by a URL is named by its host
STATE_LAYOUT = 7  # bump when the saved state changes shape (7: articles as rows of their own)
log = logging.getLogger(__name__)
Stamp = tuple[str, int, int]  # display path, size, mtime_ns
_DISPLAY, _SIZE, _MTIME = itemgetter(0), itemgetter(1), itemgetter(2)
_ID = attrgetter("id")
_new = tuple.__new__


def encode(result: FileResult) -> bytes:
    """A file's parse result as bytes for the cache."""
    outlets: dict[Outlet, int] = {}
    rows = tuple(article_row(a, outlets) for a in result.articles)
    return marshal.dumps(
        (tuple(map(tuple, outlets)), rows, tuple(problem_row(p) for p in result.problems))
    )


def decode(path: str, blob: bytes) -> FileResult:
    """The inverse of ``encode``."""
    outlets, rows, problems = marshal.loads(blob)
    table = [Outlet._make(o) for o in outlets]
    return FileResult(
        path,
        [article_from_row(row, table) for row in rows],
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


def _files_columns(files: Mapping[str, FileInfo]) -> tuple[Any, ...]:
    return (
        tuple(files),
        tuple(info.ids for info in files.values()),
        {
            i: tuple(map(problem_row, info.problems))
            for i, info in enumerate(files.values())
            if info.problems
        },
    )


def _decode_files(blob: bytes) -> dict[str, FileInfo]:
    paths, ids, problems = marshal.loads(blob)
    with paused_gc():
        infos = list(map(_new, repeat(FileInfo), zip(ids, repeat(()))))
        for i, rows in problems.items():
            infos[i] = FileInfo(ids[i], tuple(Problem(*row) for row in rows))
        return dict(zip(paths, infos, strict=True))


class SavedMeanwhile(ValueError):
    """The writer saved the state again between reading it and opening its rows."""


_STATE_READS = 3  # tries at reading a state the writer keeps saving, before rebuilding it


def _state_version() -> int:
    """What ``corpus_state.parser`` holds: the parser's version and the state layout's."""
    return PARSER_VERSION * 100 + STATE_LAYOUT


class SavedState(NamedTuple):
    """A saved state as ``load_state`` returns it.

    The file stamps come as columns; the merger's state holds its articles, files and counts
    as ``Deferred`` values (checked against their checksums already, decoded on first use).
    """

    paths: tuple[str, ...]
    displays: tuple[str, ...]
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]
    state: MergeState
    # The stamps' generation digest (``bot.corpus.generation``), so a start need not hash
    # every stamp again (0.17 s at 100,000 files; 0.72 s at a million, measured in review);
    # None in a state saved without it.
    stamp_total: int | None = None

    def matches(self, current: Mapping[str, Stamp]) -> bool:
        """True when ``current`` holds exactly the saved paths, each with the saved stamp."""
        if len(current) != len(self.paths):
            return False
        if list(current) == list(self.paths):  # in the same order: no hashing, no lookups
            now = list(current.values())
        else:
            try:
                now = list(map(current.__getitem__, self.paths))
            except KeyError:  # a path is gone
                return False
        return (
            list(map(_MTIME, now)) == list(self.mtimes)
            and list(map(_SIZE, now)) == list(self.sizes)
            and list(map(_DISPLAY, now)) == list(self.displays)
        )

    def stamps(self) -> dict[str, Stamp]:
        """Path -> (display, size, mtime_ns), as the loader keeps them."""
        return dict(
            zip(self.paths, zip(self.displays, self.sizes, self.mtimes, strict=True), strict=True)
        )


def _decode_state(
    parts: list[bytes], sums: list[int], database: str, roots: str, pinned: bool
) -> SavedState:
    """Check every part against the header's checksums and decode the header.

    ``parts`` are the rows' bytes in part order, ``sums`` the CRC-32 of each but the header;
    the saved articles are the rows of ``roots`` in ``database``. Files and counts are left to
    decode on first use, from the bytes read now.
    """
    (
        count,
        paths,
        displays,
        sizes,
        mtimes,
        file_problems,
        conflicts,
        related,
        duplicates,
        crcs,
        stamp_total,
        census,
    ) = marshal.loads(unsealed(parts[0], "corpus state header"))
    if len(crcs) != len(parts) - 1 or len(parts) != 3:
        raise ValueError("corpus state: missing parts")
    if not len(paths) == len(displays) == len(sizes) == len(mtimes):
        raise ValueError("corpus state: stamp columns differ in length")
    if sums != list(crcs):
        raise ValueError("corpus state: checksum mismatch")
    saved = ArticleRows(database, roots, Census.from_row(census), pinned=pinned)
    seal = (len(parts[0]), bytes(parts[0][:SEAL_BYTES]))
    if pinned and saved.state_seal() != seal:  # before counting: see SavedMeanwhile
        raise SavedMeanwhile("corpus state: saved again while it was read")
    if saved.count() != count:
        raise ValueError("corpus state: articles missing")
    state = MergeState(
        ArticleTable(saved, count),
        DeferredFiles(  # type: ignore[arg-type]
            partial(_decode_files, parts[1]),
            tuple(Problem(*row) for row in file_problems),
        ),
        Deferred(partial(marshal.loads, parts[2])),  # type: ignore[arg-type]
        {k: Problem(*row) for k, row in conflicts.items()},
        related,
        duplicates,
    )
    return SavedState(paths, displays, sizes, mtimes, state, stamp_total)


class ParseCache:
    """Reads and writes cached parse results and merged state; one instance per connection.

    Not ``writable``: a reader beside the writing bot, which reads what is cached and leaves
    the rest to the writer (``bot.writer_lock``).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        database: str,
        *,
        writable: bool = True,
        pinned: bool = False,
    ) -> None:
        """``database``: the path ``conn`` opened, where saved articles are read from.

        ``pinned``: the saved articles are read as of their save, whatever another process
        saves later (``ArticleRows(pinned=True)``). Always so when not ``writable``; a
        command that writes asks for it too, as the bot may start and save once it is done.
        """
        self._conn = conn
        self._database = database
        self.writable = writable
        self._pinned = pinned or not writable

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
        relabelled: list[tuple[str, Stamp, FileResult, bytes | None]] = []
        paths = list(wanted)
        for batch, marks in in_batches(paths):
            rows = self._conn.execute(
                "SELECT path, display, size, mtime_ns, parsed FROM corpus_files "
                f"WHERE parser = ? AND path IN ({marks})",
                (PARSER_VERSION, *batch),
            )
            for path, display, size, mtime, blob in rows:
                stamp = wanted[path]
                if (size, mtime) != stamp[1:]:
                    continue
                try:
                    result = decode(display, blob)
                except DAMAGE:
                    continue  # unreadable row: the file is parsed again
                if display != stamp[0]:
                    result = relabel(result, stamp[0])
                    relabelled.append((path, stamp, result, None))
                out[path] = result
        if relabelled:
            self.store(relabelled, ())
        return out

    def store(
        self, rows: Iterable[tuple[str, Stamp, FileResult, bytes | None]], removed: Iterable[str]
    ) -> None:
        """Write new results and forget removed files, in one transaction.

        Each row's last item is its result already encoded (a parsing worker sends it so), or
        None to encode it here.
        """
        if not self.writable:
            return
        with _transaction(self._conn) as conn:
            conn.executemany("DELETE FROM corpus_files WHERE path = ?", ((p,) for p in removed))
            conn.executemany(
                "INSERT OR REPLACE INTO corpus_files"
                " (path, display, size, mtime_ns, parser, parsed) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (path, display, size, mtime, PARSER_VERSION, encoded or encode(result))
                    for path, (display, size, mtime), result, encoded in rows
                ),
            )

    def load_state(self, roots: str) -> SavedState | None:
        """The merged state last saved for ``roots``, with the file stamps it reflects.

        Every part is read and checked against its checksum now, and the articles are counted;
        the per-file map and the merge counts are decoded on first use (see ``Deferred``), the
        articles read one by one as they are asked for (``bot.corpus.articles``). None when
        there is no state, or it cannot be read back (a torn write, a damaged file, articles
        missing): the loader then rebuilds it from the per-file cache, which costs a merge, not
        a parse.
        """
        try:
            for _ in range(_STATE_READS):
                parts, sums = self._read_state(roots)
                if not parts:
                    return None
                try:
                    return _decode_state(parts, sums, self._database, roots, self._pinned)
                except SavedMeanwhile:  # the writer saved between the two reads: read again
                    continue
            raise SavedMeanwhile("corpus state: saved again at every read")
        except (*DAMAGE, KeyError):
            log.warning("saved corpus state for %s is unreadable; rebuilding it", roots)
            return None

    def _read_state(self, roots: str) -> tuple[list[bytes], list[int]]:
        """Every part's bytes in part order, and the CRC-32 of each but the header.

        Incremental blob reads copy each row once (a plain SELECT copies it twice), in one
        read transaction so the parts are of one save. A second thread checksums each part
        while the next is read: ``zlib.crc32`` runs without the GIL.
        """
        conn = self._conn
        conn.execute("BEGIN")
        try:
            rows = conn.execute(
                # A part that is not a blob counts as missing: the state is rebuilt, not fatal.
                "SELECT part, rowid FROM corpus_state WHERE roots = ? AND parser = ?"
                " AND typeof(data) = 'blob' ORDER BY part",
                (roots, _state_version()),
            ).fetchall()
            if [part for part, _ in rows] != list(range(len(rows))):
                raise ValueError("corpus state: missing parts")
            parts: list[bytes] = []
            with ThreadPoolExecutor(1, thread_name_prefix="corpus-state-crc") as pool:
                sums = []
                for _, rowid in rows:
                    with conn.blobopen("corpus_state", "data", rowid, readonly=True) as blob:
                        parts.append(blob.read())
                    if len(parts) > 1:
                        sums.append(pool.submit(zlib.crc32, parts[-1]))
                return parts, [f.result() for f in sums]
        finally:
            conn.execute("COMMIT")

    def save_state(
        self,
        roots: str,
        stamps: Mapping[str, Stamp],
        state: MergeState,
        stamp_total: int | None = None,
    ) -> ArticleTable | None:
        """Replace the saved state for ``roots`` in one transaction; the saved articles after.

        Parts: 0 the header (stamps, problems, counters, census, the other parts' checksums),
        1 the per-file map, 2 the merge counts; the articles are rows of ``corpus_articles``
        (``_write_articles``). None when nothing was saved, or nothing to read back (an
        in-memory database).
        """
        if not self.writable:
            return None
        articles = state.articles  # Merger.state(): nothing left deferred
        files = state.files
        version = _state_version()
        crcs: list[int] = []

        def row(part: int, body: bytes) -> tuple[str, int, int, bytes]:
            crcs.append(zlib.crc32(body))
            return (roots, part, version, body)

        with _transaction(self._conn) as conn:
            conn.execute("DELETE FROM corpus_state WHERE roots = ?", (roots,))
            census = _write_articles(conn, self._database, roots, articles)
            if census is None:
                return None
            insert = "INSERT INTO corpus_state (roots, part, parser, data) VALUES (?, ?, ?, ?)"
            conn.execute(insert, row(1, marshal.dumps(_files_columns(files))))
            conn.execute(insert, row(2, marshal.dumps(state.counts)))
            paths = tuple(stamps)
            # A display path equal to its path is stored as the same object: marshal writes
            # it once, and the restart reads back one string for both.
            displays = tuple(
                s[0] if s[0] != p else p for p, s in zip(paths, stamps.values(), strict=True)
            )
            with_problems = sorted((p, i.problems) for p, i in files.items() if i.problems)
            header = (
                len(articles),
                paths,
                displays,
                tuple(s[1] for s in stamps.values()),
                tuple(s[2] for s in stamps.values()),
                tuple(problem_row(p) for _, problems in with_problems for p in problems),
                {k: problem_row(p) for k, p in state.conflicts.items()},
                state.related_merged,
                state.duplicates_merged,
                tuple(crcs),
                stamp_total,
                census.to_row(),
            )
            conn.execute(insert, (roots, 0, version, sealed(marshal.dumps(header))))
        if self._database == ":memory:":  # no other connection sees these rows: keep the objects
            return None
        rows = ArticleRows(self._database, roots, census, pinned=self._pinned)
        return ArticleTable(rows, len(articles))


def _write_articles(
    conn: sqlite3.Connection, database: str, roots: str, articles: Mapping[str, Article]
) -> Census | None:
    """Make ``corpus_articles`` hold ``articles`` for ``roots``; their census, None if dropped.

    A table resumed from these rows writes only its changes; any other mapping every article.
    A table with damaged rows can't be written whole: the state goes instead, and the next
    start merges every article again.
    """
    incremental = isinstance(articles, ArticleTable) and articles.rows.roots == roots
    if incremental and damaged(articles):
        # The rows stay (the running corpus reads them); without a state around them the
        # next start merges every article again and replaces them.
        log.warning("saved articles damaged: %s will be merged again", roots)
        return None  # ``save_state`` deleted the state in this transaction
    if incremental:
        census = articles.census()  # type: ignore[union-attr]
        upserts, removed = articles.changes  # type: ignore[union-attr]
        # Tables made before this save (the engine may be applying a change from one) go on
        # reading these rows as they are now.
        keep_versions(conn, database, roots, [a.id for a in upserts] + removed)
        conn.executemany(
            "DELETE FROM corpus_articles WHERE roots = ? AND id = ?",
            ((roots, article_id) for article_id in removed),
        )
    else:
        census = Census.of(articles.values())
        upserts = articles.values()  # type: ignore[assignment]
        # Every row goes. A table of an earlier save of these roots is not expected to be open
        # (this path is a first save, or one after the state was dropped), but if one is, it
        # keeps its rows like any other.
        keep_versions(conn, database, roots, None)
        conn.execute("DELETE FROM corpus_articles WHERE roots = ?", (roots,))
    # In the order of the table's two indexes, both keyed by (roots, id): written at random,
    # a first save of 20,000 documents' articles took 7.8-8.2 s, sorted 2.6-4.0 s (each index
    # page is then filled once, not split and written again).
    conn.executemany(  # an update keeps its row (and place); a new one goes last
        "INSERT INTO corpus_articles (roots, id, titles, data) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (roots, id) DO UPDATE SET titles = excluded.titles, data = excluded.data",
        ((roots, a.id, encode_titles(a), encode_row(a)) for a in sorted(upserts, key=_ID)),
    )
    return census


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Bulk loads create millions of tuples and strings, and every generation-0 pass would
    re-examine them (measured: ~30% of a warm restart). Reference counting frees them as
    usual. (Loading a large story grouping also freezes what it built: see ``bot.engine.stories``.)
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
