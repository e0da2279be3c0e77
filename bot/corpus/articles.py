"""The merged articles of a saved corpus: rows in the database, read when something asks.

Held as Python objects, every article cost ~1.5 KB (268 MB at 176,000 articles of titles and
excerpts, measured) and its share of a 0.7 s decode at each start, though a one-shot answer
reads a few dozen. The saved state (``bot.corpus.cache``) keeps each article as its own row of
``corpus_articles``; an ``ArticleTable`` reads the rows it is asked for, keeps a few thousand
decoded, and holds in memory only what changed since the save.

Rows change only when the loader saves, which one process does at a time
(``bot.writer_lock``): at its first load, while it runs once many files changed, and when it
closes. A table keeps reading the articles of its own time after a later save:

- in the writing process, the save first hands every live ``ArticleRows`` of an earlier save
  the rows it is about to rewrite (``keep_versions``), so the engine applying a change still
  reads the old versions it replaces; such rows are held only while a table of that save is;
- in a process reading beside the writer (a command, the console), which no save can reach,
  the rows are read in one read transaction opened with them (``pinned``).
"""

from __future__ import annotations

import bisect
import logging
import marshal
import sqlite3
import threading
import weakref
from collections.abc import (
    Callable,
    Collection,
    ItemsView,
    Iterable,
    Iterator,
    Mapping,
    ValuesView,
)
from collections.abc import Set as AbstractSet
from itertools import groupby
from typing import Any, TypeVar

from bot import store
from bot.corpus.census import Census
from bot.corpus.model import Article, Outlet
from bot.corpus.rows import (
    DAMAGE,
    SEAL_BYTES,
    article_from_row,
    article_row,
    in_batches,
    sealed,
    unsealed,
)

log = logging.getLogger(__name__)
_V = TypeVar("_V")
DECODED = 4096  # decoded articles kept: an answer's candidates, their stories, a digest's run
_BATCH = 512  # rows a scan reads per query: the lock is free between batches
_ID_BATCH = 4_096  # rows a query reads from an index (~2 ms of the lock each)
_MAP_BYTES = 1 << 36  # address space only: what is read of the file is what is mapped


def encode_row(article: Article) -> bytes:
    """One article as its ``corpus_articles`` row, checksummed."""
    row = article_row(article, {article.outlet: 0})
    return sealed(marshal.dumps((tuple(article.outlet), row)))


def encode_titles(article: Article) -> str:
    """The ``titles`` column: the title, then the titles it was also seen under, a line each."""
    return "\n".join((article.title, *article.alt_titles))


def decode_row(data: bytes) -> Article:
    """The inverse of ``encode_row``; raises one of ``rows.DAMAGE`` when damaged."""
    outlet, row = marshal.loads(unsealed(data, "saved article"))
    return article_from_row(row, [Outlet._make(outlet)])


class ArticleRows:
    """The saved articles of one set of roots, and the census saved with them.

    One instance serves every table resumed from one save, from any thread, through a
    read-only connection of its own, opened now: a snapshot keeps its database open as a file
    handle would (a throwaway cache deleted under it is still read). A row that does not decode is
    logged, counted in ``damaged`` and read as missing: it costs the answers that needed that
    article, and the loader drops the whole saved state at its next save, so the next start
    merges it again from the parse cache.
    """

    def __init__(self, database: str, roots: str, census: Census, *, pinned: bool = False) -> None:
        """``pinned``: another process may write the database (``bot.writer_lock``).

        Its saves can't hand this process the rows they rewrite (``keep_versions`` reaches
        only this process's tables), so these rows are read in one read transaction, opened
        now: the database as it was then, whatever is saved after. While it lasts the
        writer's log can't be folded back past it (WAL), so only a reader beside the bot (a
        command, the console) holds one.
        """
        self.database = database
        self.roots = roots
        self.census = census
        self.damaged: set[str] = set()
        self.reads = 0  # rows decoded: what a start with nothing changed keeps near zero
        self._conn = store.connect_read_only(database)
        # Read through a memory map: a lookup then copies no page (17 µs against 30 a row,
        # measured at 176,000 articles); the pages are the OS's cache, shared and reclaimable.
        self._conn.execute(f"PRAGMA mmap_size = {_MAP_BYTES}")
        self.pinned = pinned
        if pinned:  # the snapshot is taken by the first read, now
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        self._lock = threading.Lock()
        self._decoded: dict[str, Article] = {}
        # Rows as they were before a later save rewrote them (``keep_versions``): id ->
        # (rowid, data, titles), or None where the row did not exist. Read in their place.
        self._kept: dict[str, tuple[int, Any, str] | None] = {}
        # The kept rows that exist, by rowid: the rowids sorted, and the id of each.
        self._kept_rowids: list[int] = []
        self._kept_ids: list[str] = []
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._execute(sql, *params)

    def _execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        # ``store.connect_read_only`` gives a migrated database, or an empty one in memory:
        # the table is always there. The caller holds ``_lock``.
        return self._conn.execute(sql, (self.roots, *params)).fetchall()

    def _keep(self, rows: Mapping[str, tuple[int, Any, str] | None]) -> None:
        """Go on reading ``rows`` as they are now, whatever a save writes next.

        Under the lock that every read holds from its look at the kept rows to its query, so
        no read sees the kept rows without this one and then the rewritten row.
        """
        with self._lock:
            # Replaced, not edited: a scan reads the two without copying them, saves are rare.
            kept = dict(self._kept)
            for article_id, row in rows.items():
                if article_id not in kept:  # the first kept is this table's own version
                    kept[article_id] = row
            order = sorted((row[0], i) for i, row in kept.items() if row is not None)
            self._kept = kept
            self._kept_rowids = [rowid for rowid, _ in order]
            self._kept_ids = [i for _, i in order]

    def state_seal(self) -> tuple[int, bytes] | None:
        """The saved state's header as these rows see it, by its length and checksum.

        A pinned reader checks with it that the state it read is the one its rows are of: a
        save between the two would pair a header with other rows. The header's first bytes are
        its CRC-32 (``rows.sealed``): the header itself (13 MB at 100,000 files) is not read
        again. None when no state is saved.
        """
        rows = self._query(
            f"SELECT length(data), substr(data, 1, {SEAL_BYTES}) FROM corpus_state"
            " WHERE roots = ? AND part = 0"
        )
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def count(self) -> int:
        """How many rows are saved for these roots now (the key's index alone; kept rows aside).

        Asked of a state just read back, before any later save.
        """
        return self._query("SELECT count(*) FROM corpus_articles WHERE roots = ?")[0][0]

    def get(self, article_id: str) -> Article | None:
        """The saved article ``article_id``, or None when there is none (or it is damaged)."""
        found = self._decoded.get(article_id)
        if found is not None or article_id in self.damaged:  # a damaged row is not read again
            return found
        data = dict(self._rows_of("data", [article_id])).get(article_id)
        return None if data is None else self._decode(article_id, data)

    def many(self, ids: Iterable[str]) -> dict[str, Article]:
        """The saved articles of ``ids`` that exist, by id, in ``ids``' order: one query.

        In that order whichever were decoded before: a caller that reads ``values()`` (the
        corpus sample ``bot.engine.meaning`` sums) must not depend on what was read earlier.
        """
        decoded = self._decoded
        found: dict[str, Article | None] = {}
        wanted = []
        for article_id in dict.fromkeys(ids):
            article = decoded.get(article_id)  # one lookup: another thread may evict it
            found[article_id] = article
            if article is None:
                wanted.append(article_id)
        for article_id, data in self._rows_of("data", wanted):
            found[article_id] = self._decode(article_id, data)
        return {i: a for i, a in found.items() if a is not None}

    def titles(self, ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The title and alternative titles of the saved articles of ``ids``, not decoded.

        Autocomplete checks a hundred candidates' titles a keystroke: decoding each article
        for that took its p99 from 0.7 ms to 2.4 at 100,000 articles.
        """
        rows = self._rows_of("titles", list(dict.fromkeys(ids)))
        return {article_id: tuple(text.split("\n")) for article_id, text in rows}

    def _rows_of(self, column: str, ids: list[str]) -> Iterator[tuple[str, Any]]:
        """(id, ``column``: data or titles) of the saved rows of ``ids``, a query a batch."""
        at = _KEPT_COLUMN[column]
        for batch, marks in in_batches(ids):
            with self._lock:
                kept = self._kept
                found = self._execute(
                    f"SELECT id, {column} FROM corpus_articles WHERE roots = ? AND id IN ({marks})",
                    *batch,
                )
                if kept:
                    found = [row for row in found if row[0] not in kept]
                    found += [(i, v[at]) for i in batch if (v := kept.get(i)) is not None]
            yield from found

    def title_keys(self) -> Iterator[tuple[str, str]]:
        """(id, title) of every saved row, in saved order, none decoded."""
        return ((i, text.split("\n", 1)[0]) for _, i, text in self._indexed("titles"))

    def ids(self, *, by_id: bool = False) -> Iterator[str]:
        """Every saved id, in the order they were saved.

        ``by_id``: streamed in the index's order instead, which is sorted but for rows a later
        save rewrote (they come last, and one rewritten during the walk comes twice):
        ``ArticleTable.sorted_ids`` sorts the few of those again.
        """
        if by_id:
            return (article_id for article_id, _ in self._streamed("NULL"))
        return (article_id for _, article_id, _ in self._indexed("NULL"))

    def _indexed(self, column: str) -> list[tuple[int, str, Any]]:
        """(rowid, id, ``column``: titles or NULL) of every saved row, in saved order.

        Read from an index that covers the query (SQLite picks the one on (roots, id, titles)
        for both), where a walk of the table reads every article's whole row: at 100,000
        documents with bodies, 580 MB of the database mapped into this process for ids and
        titles worth 20 MB. Rows a later save rewrote read as kept. The rows are gathered
        before they are put in saved order, not streamed: at a million articles 292 MB for a
        moment, 511 MB with the titles (tracemalloc's peaks).
        """
        rows = [row for batch, _ in self._index_walk(column) for row in batch]
        kept = self._kept  # the latest: every save's kept rows, read in place of the saved
        if kept:
            at = _KEPT_COLUMN.get(column)
            rows = [row for row in rows if row[1] not in kept]
            rows += [
                (row[0], i, None if at is None else row[at])
                for i, row in kept.items()
                if row is not None  # None: saved after this table was made
            ]
        rows.sort()  # by rowid: each is one row's
        return rows

    def _index_walk(
        self, column: str
    ) -> Iterator[tuple[list[tuple[int, str, Any]], dict[str, tuple[int, Any, str] | None]]]:
        """Batches of (rowid, id, ``column``) from the index on (roots, id, titles).

        In id order, each with the kept rows as they were when it was read.
        """
        last = ""
        while True:
            with self._lock:
                kept = self._kept
                batch = self._execute(
                    f"SELECT rowid, id, {column} FROM corpus_articles WHERE roots = ? AND id > ?"
                    f" ORDER BY id LIMIT {_ID_BATCH}",
                    last,
                )
            yield batch, kept
            if len(batch) < _ID_BATCH:
                return
            last = batch[-1][1]

    def title_stream(self) -> Iterator[tuple[str, str]]:
        """(id, title) of every saved row, in the index's order but for rewritten rows.

        For readers that sort them their own way (autocomplete's title table): putting them in
        saved order first (``title_keys``) gathers every row, 511 MB at a million articles.
        """
        return ((i, text.split("\n", 1)[0]) for i, text in self._streamed("titles"))

    def _streamed(self, column: str) -> Iterator[tuple[str, Any]]:
        """(id, ``column``: titles or NULL) of every saved row, a batch at a time.

        In the index's order, then the rows a later save rewrote. One rewritten during the
        walk comes twice, walked and then kept, with the same value both times (the kept row
        is this table's version, as the walked one was): readers drop the repeat.
        """
        at = _KEPT_COLUMN.get(column)
        for batch, kept in self._index_walk(column):
            for _, article_id, value in batch:
                if article_id not in kept:
                    yield article_id, value
        for article_id, row in self._kept.items():
            if row is not None:  # None: saved after this table was made, not one of its rows
                yield article_id, None if at is None else row[at]

    def items(self) -> Iterator[tuple[str, Article | None]]:
        """Every saved article by id, in the order they were saved; None for a damaged row.

        Decoded as they come and not kept: a scan of a million articles holds a batch.
        """
        for batch in self._scan("id, data"):
            for _, article_id, data in batch:
                yield article_id, self._decode(article_id, data, keep=False)

    def _scan(self, columns: str) -> Iterator[list[tuple[Any, ...]]]:
        """Every row (rowid, then ``columns``: id, then data or titles), in rowid order.

        Rows a later save rewrote read as they were kept: changed ones in their place, removed
        ones where they stood, added ones not at all.
        """
        wanted = [_KEPT_COLUMN[c] for c in columns.split(", ")[1:]]
        last = -1
        while True:
            with self._lock:
                batch = self._execute(
                    # ``+roots``: walk the rowids, not the key's index (which sorts every row
                    # of these roots for each batch: 67 ms a batch at 176,000 articles).
                    f"SELECT rowid, {columns} FROM corpus_articles"
                    f" WHERE +roots = ? AND rowid > ? ORDER BY rowid LIMIT {_BATCH}",
                    last,
                )
                kept, rowids, ids = self._kept, self._kept_rowids, self._kept_ids
            end = batch[-1][0] if batch else None
            if kept:
                batch = [row for row in batch if row[1] not in kept]
                # The kept rows whose rowids this batch spans, found by bisection: a scan of a
                # million rows reads each kept row once, not once a batch.
                lo = bisect.bisect_right(rowids, last)
                hi = len(rowids) if end is None else bisect.bisect_right(rowids, end)
                for rowid, article_id in zip(rowids[lo:hi], ids[lo:hi], strict=True):
                    row = kept[article_id]
                    assert row is not None
                    batch.append((rowid, article_id, *(row[at] for at in wanted)))
                batch.sort(key=lambda row: row[0])
            if batch:
                yield batch
            if end is None:
                return
            last = end

    def _decode(self, article_id: str, data: Any, *, keep: bool = True) -> Article | None:
        self.reads += 1
        try:
            article = decode_row(data)
            if article.id != article_id:
                raise ValueError("row of another article")
        except DAMAGE as exc:
            if article_id not in self.damaged:
                log.error(
                    "saved article %s in %s is damaged (%s); left out until the corpus is "
                    "merged again at the next start",
                    article_id,
                    self.database,
                    exc,
                )
            self.damaged.add(article_id)
            return None
        if keep:
            with self._lock:
                decoded = self._decoded
                if len(decoded) >= DECODED:  # the oldest decoded goes first
                    del decoded[next(iter(decoded))]
                decoded[article_id] = article
        return article


# Where a kept row's columns are: (rowid, data, titles).
_KEPT_COLUMN = {"data": 1, "titles": 2}
_LIVE: weakref.WeakSet[ArticleRows] = weakref.WeakSet()  # every open ``ArticleRows``
_LIVE_LOCK = threading.Lock()


def _live(database: str, roots: str) -> list[ArticleRows]:
    with _LIVE_LOCK:
        return [r for r in list(_LIVE) if r.database == database and r.roots == roots]


def keep_versions(
    conn: sqlite3.Connection, database: str, roots: str, ids: Collection[str] | None
) -> None:
    """Before a save rewrites rows: every table made earlier keeps them as they are now.

    ``ids``: the rows to be rewritten (None: every row of ``roots``). ``conn`` is the saving
    connection, before it writes them: it reads them as they are. They are handed to each live
    ``ArticleRows`` of these roots; one that kept a row at an earlier save keeps that older
    one, its own. Pinned rows, read in a transaction of their own, need none: they see their
    save whatever comes after.
    """
    live = [r for r in _live(database, roots) if not r.pinned]
    if not live:
        return
    query = "SELECT rowid, id, data, titles FROM corpus_articles WHERE roots = ?"
    now: dict[str, tuple[int, Any, str] | None]
    if ids is None:  # every row, in one read
        now = {i: (rowid, data, titles) for rowid, i, data, titles in conn.execute(query, (roots,))}
    else:
        now = dict.fromkeys(ids)  # None: an id not saved yet
        for batch, marks in in_batches(list(now)):
            for rowid, i, data, titles in conn.execute(
                f"{query} AND id IN ({marks})", (roots, *batch)
            ):
                now[i] = (rowid, data, titles)
    for rows in live:
        rows._keep(now)


class ArticleTable(Mapping[str, Article]):
    """Saved articles (``ArticleRows``) with the changes since the save laid over them.

    Immutable, like the snapshot holding it: ``updated`` returns a new table and leaves this
    one as it was, sharing the rows. Iteration goes in saved order, changed articles in their
    old places and new ones after. A damaged row reads as missing (``in`` reads the row, so it
    agrees with ``[]``); iterating ids alone names one until it was first read.

    A table made before a save reads what it read before: the save first has its rows keep
    the versions it rewrites (``keep_versions``).
    """

    __slots__ = ("_census", "_fresh", "_len", "_over", "rows")

    def __init__(
        self,
        rows: ArticleRows,
        length: int,
        over: dict[str, Article | None] | None = None,
        fresh: dict[str, Article] | None = None,
    ) -> None:
        self.rows = rows
        self._len = length
        self._over = over or {}  # saved ids changed (an article) or removed (None) since
        self._fresh = fresh or {}  # ids the save did not have
        self._census: Census | None = None if self._over or self._fresh else rows.census

    def __getitem__(self, article_id: str) -> Article:
        found = self._fresh.get(article_id)
        if found is None:
            if article_id in self._over:
                found = self._over[article_id]
            else:
                found = self.rows.get(article_id)
            if found is None:
                raise KeyError(article_id)
        return found

    def __contains__(self, article_id: object) -> bool:
        if not isinstance(article_id, str):
            return False
        if article_id in self._fresh:
            return True
        if article_id in self._over:
            return self._over[article_id] is not None
        return self.rows.get(article_id) is not None  # read, not only looked up: see below

    def __iter__(self) -> Iterator[str]:
        return self._ids()

    def __len__(self) -> int:
        return self._len

    def sorted_ids(self) -> list[str]:
        """Every id, sorted.

        The saved ones come in the order the index holds them, so the sort has only the new
        ones to place (Timsort on a sorted run): ``sorted`` over the table took 4.2 s at a
        million articles, walking the index in rowid order and sorting every id again.
        """
        return [article_id for article_id, _ in groupby(sorted(self._ids(by_id=True)))]

    def _ids(self, *, by_id: bool = False) -> Iterator[str]:
        """The ids, saved ones in saved order (``by_id``: the index's), the changes laid over."""
        saved = ((article_id, article_id) for article_id in self.rows.ids(by_id=by_id))
        return (article_id for article_id, _ in self._overlaid(saved, lambda a: a.id))

    def values(self) -> ValuesView[Article]:
        """The articles, read a batch of rows at a time (not one query each)."""
        return _Values(self)

    def items(self) -> ItemsView[str, Article]:
        """(id, article) pairs, read a batch of rows at a time."""
        return _Items(self)

    def _pairs(self) -> Iterator[tuple[str, Article]]:
        """(id, article) in iteration order, each read once, none kept."""
        return self._overlaid(self.rows.items(), lambda a: a)

    def _overlaid(
        self, saved: Iterable[tuple[str, _V | None]], pick: Callable[[Article], _V]
    ) -> Iterator[tuple[str, _V]]:
        """Saved (id, value) pairs with this table's changes laid over them, then the new ones.

        The one walk behind ids, items and titles, so the three agree: a changed id shows its
        change even where its saved row is damaged; an unchanged damaged row is left out.
        """
        over, fresh, damaged = self._over, self._fresh, self.rows.damaged
        for article_id, value in saved:
            # A fresh id among the rows: saved since this table was made (it is the one a
            # loader saved on closing); it comes last, as before the save.
            if article_id in fresh:
                continue
            if article_id in over:
                article = over[article_id]
                if article is not None:  # else removed since
                    yield article_id, pick(article)
            elif value is not None and article_id not in damaged:
                yield article_id, value
        for article_id, article in fresh.items():
            yield article_id, pick(article)

    def many(self, ids: Iterable[str]) -> dict[str, Article]:
        """The articles of ``ids`` the table holds, by id in the order asked; saved: one query.

        In that order whether an article changed here or is saved (``ArticleRows.many``).
        """
        ids = list(dict.fromkeys(ids))
        found, saved = self._held(ids)
        found.update(self.rows.many(saved))
        return {i: found[i] for i in ids if i in found}

    def titles_of(self, ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Title and alternative titles of the articles of ``ids`` the table holds, by id."""
        held, saved = self._held(ids)
        found = {i: (a.title, *a.alt_titles) for i, a in held.items()}
        found.update(self.rows.titles(saved))
        return found

    def _held(self, ids: Iterable[str]) -> tuple[dict[str, Article], list[str]]:
        """Of ``ids``: the articles changed since the save, and the ids to read from rows."""
        held: dict[str, Article] = {}
        saved = []
        for article_id in ids:
            article = self._fresh.get(article_id)
            if article is None and article_id in self._over:
                article = self._over[article_id]
                if article is None:  # removed since
                    continue
            if article is None:
                saved.append(article_id)
            else:
                held[article_id] = article
        return held, saved

    def title_keys(self) -> Iterator[tuple[str, str]]:
        """(id, title) of every article, in iteration order, saved rows not decoded."""
        return self._overlaid(self.rows.title_keys(), lambda a: a.title)

    def title_stream(self) -> Iterator[tuple[str, str]]:
        """(id, title) of every article, in no set order, some perhaps twice (``ArticleRows``)."""
        return self._overlaid(self.rows.title_stream(), lambda a: a.title)

    @property
    def changes(self) -> tuple[list[Article], list[str]]:
        """What a save must write: articles changed or added since, and ids removed since."""
        upserts = [a for a in self._over.values() if a is not None]
        upserts += self._fresh.values()
        return upserts, [k for k, a in self._over.items() if a is None]

    def updated(
        self, changes: Mapping[str, Article | None], present: AbstractSet[str]
    ) -> ArticleTable:
        """A table with ``changes`` applied: each id to its new article, or None to remove it.

        ``present``: which changed ids this table holds (the merge read them already, so no
        row is looked up again here).
        """
        over, fresh, length = dict(self._over), dict(self._fresh), self._len

        def saved(article_id: str) -> bool:
            # Neither fresh nor changed since the save: present means a saved row.
            return article_id in over or article_id in self.rows.damaged or article_id in present

        for article_id, article in changes.items():
            if article_id in fresh:
                if article is None:
                    del fresh[article_id]
                    length -= 1
                else:
                    fresh[article_id] = article
            elif saved(article_id):
                was_there = over.get(article_id, article_id) is not None
                over[article_id] = article
                length += (article is not None) - was_there
            elif article is not None:
                fresh[article_id] = article
                length += 1
        return ArticleTable(self.rows, length, over, fresh)

    def census(self) -> Census:
        """The saved census moved by the changes since (``Census.changed``)."""
        if self._census is None and self.rows.damaged & self._over.keys():
            # A changed article whose saved row is damaged can't be taken off the saved count.
            self._census = Census.of(self.values())
        if self._census is None:
            olds = list(self.rows.many(self._over).values())
            news = [a for a in self._over.values() if a is not None]
            news += self._fresh.values()
            self._census = self.rows.census.changed(olds, news, lambda: Census.of(self.values()))
        return self._census


class _Values(ValuesView[Article]):
    """The articles of a table, read in batches rather than one query each."""

    _mapping: ArticleTable

    def __iter__(self) -> Iterator[Article]:
        for _, article in self._mapping._pairs():
            yield article


class _Items(ItemsView[str, Article]):
    """(id, article) pairs of a table, read in batches rather than one query each."""

    _mapping: ArticleTable

    def __iter__(self) -> Iterator[tuple[str, Article]]:
        return self._mapping._pairs()


def articles_of(articles: Mapping[str, Article], ids: Iterable[str]) -> dict[str, Article]:
    """The articles of ``ids`` that ``articles`` holds, by id: saved ones in one query."""
    if isinstance(articles, ArticleTable):
        return articles.many(ids)
    return {i: articles[i] for i in ids if i in articles}


def id_difference(
    before: Mapping[str, Article], after: Mapping[str, Article]
) -> tuple[set[str], set[str]]:
    """Ids ``after`` holds that ``before`` lacks, and the other way round.

    Two tables over the same rows differ only where their changes do: those are all that is
    compared (a set of every id would read every row, a second a million).
    """
    if (
        isinstance(before, ArticleTable)
        and isinstance(after, ArticleTable)
        and before.rows is after.rows
    ):
        touched = {*before._over, *before._fresh, *after._over, *after._fresh}
        had = {i for i in touched if i in before}
        has = {i for i in touched if i in after}
        return has - had, had - has
    old, new = set(before), set(after)
    return new - old, old - new


def titles_of(articles: Mapping[str, Article], ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The title and alternative titles of the articles of ``ids``, by id (rows not decoded)."""
    if isinstance(articles, ArticleTable):
        return articles.titles_of(ids)
    found = ((i, articles.get(i)) for i in ids)
    return {i: (a.title, *a.alt_titles) for i, a in found if a is not None}


def damaged(articles: Mapping[str, Article]) -> bool:
    """Whether saved articles were found damaged: then they can't be saved whole."""
    return isinstance(articles, ArticleTable) and bool(articles.rows.damaged)


def sorted_ids(articles: Mapping[str, Article]) -> list[str]:
    """Every id of ``articles``, sorted: a saved table reads them in its index's order."""
    if isinstance(articles, ArticleTable):
        return articles.sorted_ids()
    return sorted(articles)


def title_keys(articles: Mapping[str, Article]) -> Iterator[tuple[str, str]]:
    """(id, title) of every article: a saved table reads its titles column, decoding none."""
    if isinstance(articles, ArticleTable):
        return articles.title_keys()
    return ((a.id, a.title) for a in articles.values())


def every_title(articles: Mapping[str, Article]) -> Iterator[tuple[str, str]]:
    """(id, title) of every article, in no set order, a pair perhaps twice.

    ``title_keys`` without gathering a saved table's rows to put them in saved order.
    """
    if isinstance(articles, ArticleTable):
        return articles.title_stream()
    return title_keys(articles)


def census_of(articles: Mapping[str, Article]) -> Census:
    """The census of a snapshot's articles: kept by a saved table, else counted."""
    if isinstance(articles, ArticleTable):
        return articles.census()
    return Census.of(articles.values())
