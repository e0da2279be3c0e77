"""The parse cache and the merged-state cache, both in SQLite.

``corpus_files`` holds each file's parse result, keyed by path and stamped with size and mtime:
the unit a change re-parses and the source of other files' records when a change re-merges an
article. ``corpus_state`` holds the merger's whole state for one set of roots, written after a
load that changed something and on close, so a restart with nothing changed only stats the
files, reads the state and compares stamps: no parsing, no merging.

The state is checked (CRC-32 per part) when read, but its articles, per-file map and merge
counts are decoded on first use (``merge.Deferred``): the snapshot a restart returns reads like
any other, and the first reader (the search index, at start-up) pays for the decode, which at
100,000 files costs about as much again as the restart itself. The merge bookkeeping is only
decoded when a change needs it.

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
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from bot.corpus.formats import FileResult
from bot.corpus.merge import Deferred, DeferredFiles, FileInfo, MergeState
from bot.corpus.model import Article, Image, Outlet, Problem, Provenance

PARSER_VERSION = 5  # 5: extensionless files, links out and non-regular files are refused
STATE_LAYOUT = 6  # bump when the corpus_state rows change shape (not what parsing yields)
log = logging.getLogger(__name__)
Stamp = tuple[str, int, int]  # display path, size, mtime_ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_CHUNK = 2_000  # articles per state row (~2.5 MB): bounded memory while saving
_IN_BATCH = 500  # paths per "IN (...)" query, under SQLite's default variable limit
_CRC = struct.Struct(">I")
FREEZE_AFTER = 10_000  # articles decoded at once before they are moved out of the GC's sight
_DISPLAY, _SIZE, _MTIME = itemgetter(0), itemgetter(1), itemgetter(2)


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
    instead of a Python loop; images and provenance as columns skip a tuple per row that would
    only be copied into its named tuple. Equal topic lists and numbers become one object, which
    ``marshal`` writes once a chunk. (Measured: referring to paths and ids by index into one
    shared table instead saves memory but costs ~0.3 s more a 100,000 files to decode, the
    lookups landing all over memory where ``marshal`` builds strings in sequence.)
    """
    same = {}.setdefault  # topic lists
    same_int = {}.setdefault  # image sizes, line numbers: ints over 256 are objects too
    images: list[Image] = []
    provenance: list[Provenance] = []
    for a in articles:
        images.extend(a.images)
        provenance.extend(a.provenance)
    return (
        tuple(a.id for a in articles),
        tuple(a.title for a in articles),
        tuple(a.url for a in articles),
        tuple(a.urls for a in articles),
        tuple(outlets.setdefault(a.outlet, len(outlets)) for a in articles),
        tuple(None if a.published is None else (a.published - _EPOCH) // _MICRO for a in articles),
        tuple(a.excerpt for a in articles),
        tuple(a.body for a in articles),
        tuple(same(a.topics, a.topics) for a in articles),
        tuple(a.related for a in articles),
        tuple(a.alt_titles for a in articles),
        tuple(a.quality for a in articles),
        tuple(a.heat for a in articles),
        tuple(a.type for a in articles),
        tuple(a.category for a in articles),
        tuple(len(a.images) for a in articles),
        tuple(i.url for i in images),
        tuple(same_int(i.width, i.width) for i in images),
        tuple(same_int(i.height, i.height) for i in images),
        tuple(len(a.provenance) for a in articles),
        tuple(p.path for p in provenance),
        tuple(p.kind for p in provenance),
        tuple(same_int(p.line, p.line) for p in provenance),
        tuple(p.via for p in provenance),
        tuple(p.title_inferred for p in provenance),
    )


def _from_columns(columns: tuple[Any, ...], outlets: list[Outlet]) -> Iterator[tuple[str, Article]]:
    """(id, article) pairs from ``_columns`` output."""
    (ids, titles, url, urls, outlet, published, excerpt, body, topics, *rest) = columns
    related, alt_titles, quality, heat, type_, category, *rest = rest
    image_counts, image_urls, widths, heights, *rest = rest
    prov_counts, paths, kinds, lines, vias, inferred = rest
    if sum(image_counts) != len(image_urls) or sum(prov_counts) != len(paths):
        raise ValueError("corpus state chunk: nested rows do not add up")
    images = map(_new, repeat(Image), zip(image_urls, widths, heights, strict=True))
    provenance = map(
        _new, repeat(Provenance), zip(paths, kinds, lines, vias, inferred, strict=True)
    )
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
        map(tuple, map(islice, repeat(images), image_counts)),
        related,
        map(tuple, map(islice, repeat(provenance), prov_counts)),
        alt_titles,
        quality,
        heat,
        type_,
        category,
        strict=True,
    )
    return zip(ids, map(_new, repeat(Article), fields), strict=True)


def _files_columns(files: Mapping[str, FileInfo]) -> tuple[Any, ...]:
    return (
        tuple(files),
        tuple(info.ids for info in files.values()),
        {
            i: tuple(map(_problem_row, info.problems))
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


def _state_version() -> int:
    """What ``corpus_state.parser`` holds: the parser's version and the state layout's."""
    return PARSER_VERSION * 100 + STATE_LAYOUT


def _sealed(body: bytes) -> bytes:
    return _CRC.pack(zlib.crc32(body)) + body


def _unsealed(data: bytes) -> memoryview:
    body = memoryview(data)[_CRC.size :]
    if len(data) < _CRC.size or _CRC.unpack_from(data)[0] != zlib.crc32(body):
        raise ValueError("corpus state header: checksum mismatch")
    return body


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


def _decode_state(parts: list[bytes], sums: list[int]) -> SavedState:
    """Check every part against the header's checksums and decode the header.

    ``parts`` are the rows' bytes in part order, ``sums`` the CRC-32 of each but the header.
    Articles, files and counts are left to decode on first use, from the bytes read now.
    """
    (
        chunks,
        paths,
        displays,
        sizes,
        mtimes,
        outlets,
        file_problems,
        conflicts,
        related,
        duplicates,
        crcs,
        *later,  # fields later versions added: absent from an older state
    ) = marshal.loads(_unsealed(parts[0]))
    stamp_total = later[0] if later and isinstance(later[0], int) else None
    if len(crcs) != len(parts) - 1 or chunks != len(parts) - 3:
        raise ValueError("corpus state: missing parts")
    if not len(paths) == len(displays) == len(sizes) == len(mtimes):
        raise ValueError("corpus state: stamp columns differ in length")
    if sums != list(crcs):
        raise ValueError("corpus state: checksum mismatch")
    table = [Outlet._make(o) for o in outlets]
    state = MergeState(
        Deferred(partial(_decode_articles, parts[1 : chunks + 1], table)),  # type: ignore[arg-type]
        DeferredFiles(  # type: ignore[arg-type]
            partial(_decode_files, parts[chunks + 1]),
            tuple(Problem(*row) for row in file_problems),
        ),
        Deferred(partial(marshal.loads, parts[chunks + 2])),  # type: ignore[arg-type]
        {k: Problem(*row) for k, row in conflicts.items()},
        related,
        duplicates,
    )
    return SavedState(paths, displays, sizes, mtimes, state, stamp_total)


def _decode_articles(chunks: list[bytes | None], outlets: list[Outlet]) -> dict[str, Article]:
    """Every saved article, by id: the one bulk decode of a warm restart, at first use."""
    articles: dict[str, Article] = {}
    with paused_gc():
        for i, blob in enumerate(chunks):
            if blob is None:
                raise RuntimeError("corpus state: an earlier decode failed part-way")
            columns = marshal.loads(blob)
            chunks[i] = None  # each chunk's bytes go as soon as its articles exist
            articles.update(_from_columns(columns, outlets))
            del columns
        if len(articles) >= FREEZE_AFTER:
            # The articles (~7 tracked objects each) live until a change replaces them, form
            # no cycles, and would be traversed by every collection from now on: the first
            # passes alone cost ~0.3 s a 100,000 files. Frozen, the collector skips them
            # (and whatever else is alive now: long-lived start-up state); reference
            # counting still frees them when a later snapshot drops them.
            gc.freeze()
    return articles


class ParseCache:
    """Reads and writes cached parse results and merged state; one instance per connection.

    Not ``writable``: a reader beside the writing bot, which reads what is cached and leaves
    the rest to the writer (``bot.writer_lock``).
    """

    def __init__(self, conn: sqlite3.Connection, *, writable: bool = True) -> None:
        self._conn = conn
        self.writable = writable

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
        if not self.writable:
            return
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

    def load_state(self, roots: str) -> SavedState | None:
        """The merged state last saved for ``roots``, with the file stamps it reflects.

        Every part is read and checked against its checksum now; articles, the per-file map
        and the merge counts are decoded on first use (see ``Deferred``). None when there is
        no state, or it cannot be read back (a torn write, a damaged file): the loader then
        rebuilds it from the per-file cache, which costs a merge, not a parse.
        """
        try:
            parts, sums = self._read_state(roots)
            if not parts:
                return None
            return _decode_state(parts, sums)
        except (ValueError, TypeError, EOFError, IndexError, KeyError):
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
    ) -> None:
        """Replace the saved state for ``roots`` in one transaction, a chunk at a time.

        Parts: 0 the header (stamps, outlets, problems, counters, the other parts'
        checksums), 1..n the articles in chunks of ``_CHUNK``, n+1 the per-file map, n+2 the
        merge counts.
        """
        if not self.writable:
            return
        outlets: dict[Outlet, int] = {}
        articles = list(state.articles.values())  # Merger.state(): nothing left deferred
        files = state.files
        version = _state_version()
        crcs: list[int] = []

        def row(part: int, body: bytes) -> tuple[str, int, int, bytes]:
            crcs.append(zlib.crc32(body))
            return (roots, part, version, body)

        chunks = range(0, len(articles), _CHUNK)
        with _transaction(self._conn) as conn:
            conn.execute("DELETE FROM corpus_state WHERE roots = ?", (roots,))
            insert = "INSERT INTO corpus_state (roots, part, parser, data) VALUES (?, ?, ?, ?)"
            conn.executemany(
                insert,
                (
                    row(part, marshal.dumps(_columns(articles[i : i + _CHUNK], outlets)))
                    for part, i in enumerate(chunks, start=1)
                ),
            )
            n = len(chunks)
            conn.execute(insert, row(n + 1, marshal.dumps(_files_columns(files))))
            conn.execute(insert, row(n + 2, marshal.dumps(state.counts)))
            paths = tuple(stamps)
            # A display path equal to its path is stored as the same object: marshal writes
            # it once, and the restart reads back one string for both.
            displays = tuple(
                s[0] if s[0] != p else p for p, s in zip(paths, stamps.values(), strict=True)
            )
            with_problems = sorted((p, i.problems) for p, i in files.items() if i.problems)
            header = (
                n,
                paths,
                displays,
                tuple(s[1] for s in stamps.values()),
                tuple(s[2] for s in stamps.values()),
                tuple(map(tuple, outlets)),  # complete only now that every chunk is encoded
                tuple(_problem_row(p) for _, problems in with_problems for p in problems),
                {k: _problem_row(p) for k, p in state.conflicts.items()},
                state.related_merged,
                state.duplicates_merged,
                tuple(crcs),
                stamp_total,
            )
            conn.execute(insert, (roots, 0, version, _sealed(marshal.dumps(header))))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Bulk loads create millions of tuples and strings, and every generation-0 pass would
    re-examine them (measured: ~30% of a warm restart). Reference counting frees them as
    usual. (Decoding a large saved state also freezes what it built: see ``_decode_articles``.)
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
