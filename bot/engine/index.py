"""The full-text index: tantivy BM25, for candidates in well under a ms.

Measured before choosing (issue 3): a rapidfuzz scan over titles costs 430 ms at 100k articles,
SQLite FTS5 27 ms with bodies, tantivy 0.09 ms; so tantivy finds candidates and Python only
re-ranks a few dozen of them.

The bot and the command line keep it on disk beside the database (``index_path``), memory-
mapped, so a restart opens it instead of indexing every article again. A record beside the
index files (``MARK``) names the corpus generation it was built from and is written only after
a commit: an index whose record is missing, of another format or generation, or whose files
tantivy cannot read whole (a truncated segment fails on its footer), is never served; the
engine catches it up or rebuilds it (``bot.engine.engine``). Throwaway engines (a digest run's
index of new articles, tests) stay in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tantivy

from bot.corpus.model import Article
from bot.store import private_folder, write_private

log = logging.getLogger(__name__)
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_WRITER_HEAP = 128_000_000
# Title words count double: a query naming the story beats one that merely mentions its words.
TITLE_BOOST = 2.5
OUTLET_BOOST = 1.5
PREFIX_WORDS = 12  # completions of a half-typed word that autocomplete looks for
# Bumped when the schema or what a document holds changes: an index of another format is rebuilt.
INDEX_FORMAT = 1
MARK = "coverage-index.json"
PROBE_WORDS = 64  # commonest words of a field searched when an index on disk is opened


def damaged(exc: BaseException) -> bool:
    """Whether ``exc`` is tantivy failing on its files (an error, or a Rust panic)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def index_path(database: str | Path) -> Path | None:
    """Where the search index of ``database`` is kept; None for an in-memory database."""
    return None if str(database) == ":memory:" else Path(f"{database}.index")


def _record(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The index's record of its corpus at ``path``, when readable and of this version."""
    try:
        mark = json.loads((path / MARK).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "none kept yet" if not path.exists() else "no record of its corpus"
    except (OSError, ValueError) as exc:
        return None, f"its record is unreadable ({exc})"
    if not isinstance(mark, dict) or mark.get("format") != INDEX_FORMAT:
        return None, "built by another version"
    return mark, ""


def recorded(path: Path, generation: str, documents: int) -> bool:
    """Whether the record at ``path`` still says ``generation`` with ``documents`` articles.

    The cheap second look of a reader that opened an index whose files were just checked
    (``stored_generation``): a writer that rebuilt it in between changed its record.
    """
    mark, _ = _record(path)
    return mark is not None and (mark.get("generation"), mark.get("documents")) == (
        generation,
        documents,
    )


def stored_generation(path: Path) -> tuple[str | None, str]:
    """The generation the index at ``path`` was built from, when it is whole; else why not."""
    mark, why = _record(path)
    if mark is None:
        return None, why
    try:
        index = tantivy.Index.open(str(path))
        searcher = index.searcher()
        searcher.search(tantivy.Query.all_query(), 1, count=True)
        # A truncated or missing segment file fails above on its footer; damage inside one
        # shows when its terms and postings are read: the commonest words of each field are,
        # all of them required (ranking any of them read every posting: 0.4 s at a million
        # articles; the intersection skips through them, 0.08 s).
        for field in ("title", "text"):
            words = [w for w, _ in searcher.terms_with_prefix(field, "", limit=PROBE_WORDS)]
            if words:
                must = tantivy.Occur.Must
                query = tantivy.Query.boolean_query(
                    [(must, tantivy.Query.term_query(index.schema, field, w)) for w in words]
                )
                hits = searcher.search(query, 50).hits
                searcher.fast_field_values("key", [address for _, address in hits])
    except BaseException as exc:  # tantivy's Rust panics arrive as BaseException
        if not damaged(exc):
            raise
        return None, f"its files are damaged ({str(exc)[:200]})"
    if searcher.num_docs != mark.get("documents"):
        return None, "it holds another number of articles than recorded"
    generation = mark.get("generation")
    return (generation, "") if isinstance(generation, str) and generation else (None, "no corpus")


def key_of(article_id: str) -> int:
    """Article ids are 16 hex digits, so they are their own u64 index key."""
    return int(article_id, 16)


def id_of(key: int) -> str:
    """The inverse of ``key_of``."""
    return f"{key:016x}"


def index_terms(text: str) -> list[str]:
    """Split text the way tantivy's default tokenizer does (lowercased alphanumeric runs)."""
    return [t for t in _TERM.findall(text.lower()) if len(t) <= 40]


@dataclass(frozen=True, slots=True)
class IndexFilter:
    """Restrictions applied inside the index query, so limits count only matching articles."""

    outlet_terms: tuple[str, ...] = ()
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# Hits read past the limit, so that ties at the cut-off are settled by id (``_cut``).
TIE_SLACK = 8
MAX_READ = 2_048  # hits read at most to settle ties at the cut-off (``_with_ties``)


class SearchIndex:
    """A tantivy index of articles; writes are serialised, reads use the last committed state.

    ``path``: kept there (created, or opened as it is); else in memory. The writer is made on
    the first write, so a reader never takes tantivy's writer lock.
    """

    def __init__(self, threads: int = 1, path: Path | None = None) -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field("key", indexed=True, fast=True)
        # Plain lowercase words, frequencies without positions: stemming in the index and a
        # second copy of the bodies tripled build time (measured 3.5 s vs 1.1 s per 10k bodies);
        # word forms are handled by expanding the query with the forms the corpus holds.
        builder.add_text_field("title", tokenizer_name="default", index_option="freq")
        builder.add_text_field("text", tokenizer_name="default", index_option="freq")
        builder.add_text_field("outlet", tokenizer_name="default", index_option="basic")
        builder.add_text_field("topic", tokenizer_name="raw", index_option="basic")
        builder.add_integer_field("published", indexed=True, fast=True)
        self.schema = builder.build()
        self.path = path
        if path is None:
            self._index = tantivy.Index(self.schema)
        else:
            private_folder(path)
            self._index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self._threads = threads
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.Lock()
        self._searcher = self._index.searcher()
        # Whether deleted articles may still be counted in its terms: an index opened with
        # articles in it, or one written to since; one only added to holds none.
        self._may_hold_deleted = self.size > 0

    @property
    def writer(self) -> tantivy.IndexWriter:
        """The index's writer, made on first use (on disk, it takes tantivy's lock).

        Call with ``_lock`` held.
        """
        if self._writer is None:
            self._writer = self._index.writer(_WRITER_HEAP, self._threads)
        return self._writer

    def mark(self, generation: str) -> None:
        """Record, after a commit, that the index on disk holds the corpus of ``generation``.

        Best effort: a record that can't be written (a full disk) is removed instead, so the
        next start rebuilds rather than trusts it; this run goes on with the index as it is.
        """
        if self.path is None:
            return
        with self._lock:
            record = {"format": INDEX_FORMAT, "generation": generation, "documents": self.size}
            try:
                write_private(self.path / MARK, json.dumps(record) + "\n", durable=True)
            except OSError:
                log.warning("could not record what the index at %s holds", self.path, exc_info=True)
                self.unmark()

    def unmark(self) -> None:
        """Forget what the index on disk holds, before a write.

        Until the write is committed and recorded (``mark``), a crash leaves an index the next
        start rebuilds, never one it could take for another corpus's.
        """
        if self.path is None:
            return
        try:
            (self.path / MARK).unlink(missing_ok=True)
        except OSError:
            log.warning("could not clear the record of the index at %s", self.path, exc_info=True)

    def close_writer(self) -> None:
        """Let merges finish and give up tantivy's writer lock (a one-shot command is done)."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()

    @staticmethod
    def wipe(path: Path) -> None:
        """Delete an index kept at ``path`` (damaged, or of another corpus) to start over.

        ``OSError`` when it can't all go (files another process holds open on Windows): the
        caller indexes in memory rather than build over half an index.
        """
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():  # a file where the folder should be, say
            os.unlink(path)

    @property
    def size(self) -> int:
        """Articles in the committed index."""
        return self._searcher.num_docs

    def write(
        self,
        upserts: Iterable[Article],
        removals: Iterable[str] = (),
        generation: str | None = None,
    ) -> None:
        """Replace or add articles and delete others, then commit: readers switch at once.

        ``generation``: the corpus the index holds once this is committed; on disk its record
        is removed first and written after (``unmark``, ``mark``).
        """
        if generation is not None:
            self.unmark()
        with self._lock:
            self._may_hold_deleted = True
            writer = self.writer
            for article_id in removals:
                self._delete(article_id)
            for article in upserts:
                self._delete(article.id)
                writer.add_document(self._document(article))
            writer.commit()
            self._index.reload()
            self._searcher = self._index.searcher()
        if generation is not None:
            self.mark(generation)

    def _delete(self, article_id: str) -> None:
        # A term delete on an unsigned field silently deletes nothing in tantivy 0.27; a delete
        # by a term query works.
        query = tantivy.Query.term_query(self.schema, "key", key_of(article_id))
        self.writer.delete_documents_by_query(query)

    def add_new(self, articles: Iterable[Article], generation: str | None = None) -> None:
        """Bulk-add articles known to be absent (the first build): no deletes needed.

        ``generation``: recorded once committed, as ``write`` records it.
        """
        with self._lock:
            writer = self.writer
            for article in articles:
                writer.add_document(self._document(article))
            writer.commit()
            self._index.reload()
            self._searcher = self._index.searcher()
        if generation is not None:
            self.mark(generation)

    @staticmethod
    def _document(article: Article) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_unsigned("key", key_of(article.id))
        titles = " \n ".join((article.title, *article.alt_titles))
        doc.add_text("title", titles)
        outlet = f"{article.outlet.name} {article.outlet.domain}"
        topics = " ".join(article.topics)
        body = "\n".join(article.body)
        doc.add_text("text", f"{titles}\n{outlet}\n{topics}\n{article.excerpt}\n{body}")
        doc.add_text("outlet", outlet)
        for topic in article.topics:
            doc.add_text("topic", topic.casefold())
        if article.published is not None:
            doc.add_integer("published", int(article.published.timestamp()))
        return doc

    def search(
        self,
        terms: Sequence[str],
        limit: int,
        flt: IndexFilter | None = None,
        *,
        titles_only: bool = False,
    ) -> list[tuple[str, float]]:
        """BM25 candidates for an OR of ``terms``: (article id, raw score), best first.

        ``titles_only`` looks in titles alone: for a query made only of words in a large share
        of the articles, whose full-text posting lists are the slowest thing to union.
        """
        if not terms:
            return []
        searcher = self._searcher
        if titles_only:
            query = self._index.parse_query(" ".join(terms), ["title"])
        else:
            query = self._index.parse_query(
                " ".join(terms),
                ["title", "text", "outlet"],
                field_boosts={"title": TITLE_BOOST, "outlet": OUTLET_BOOST},
            )
        query = self._filtered(query, flt)
        # Words in most titles tie every title of one length, thousands at a million: reading
        # them all took such a query from 0.14 to 3.8 ms (20,000 articles). Its order among
        # equal titles is tantivy's beyond the slack.
        most = limit + TIE_SLACK if titles_only else MAX_READ
        with self._reading():
            hits = _with_ties(searcher, query, limit, most)
            ids = _ids(searcher, hits)
        return _cut(
            [(article_id, score) for (score, _), article_id in zip(hits, ids, strict=True)], limit
        )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Reads of an index on disk, which are trusted only while they work.

        One that fails means damage (a disk error, a file changed under it): the index is not
        trusted at the next start, which rebuilds it.
        """
        try:
            yield
        except BaseException as exc:
            if self.path is None or not damaged(exc):
                raise
            log.error("the search index at %s failed; it is rebuilt at the next start", self.path)
            self.unmark()
            raise RuntimeError(f"the search index is damaged: {str(exc)[:200]}") from exc

    def filtered_all(self, limit: int, flt: IndexFilter) -> list[str]:
        """Newest dated articles matching only the filter (e.g. ``/latest topic``)."""
        # Undated articles have no "published" value: only dated ones can be the newest.
        dated = tantivy.Query.exists_query("published")
        query = self._filtered(dated, flt)
        searcher = self._searcher
        with self._reading():
            hits = searcher.search(query, limit, count=False, order_by_field="published").hits
            return _ids(searcher, hits)

    def prefix(self, complete: Sequence[str], partial: str, limit: int) -> list[str]:
        """Articles whose title has every complete word and a word starting with ``partial``."""
        musts = [tantivy.Query.term_query(self.schema, "title", word) for word in complete]
        if not partial:
            return self._titles_matching(musts, limit) if musts else []
        # First the most common title words with this prefix: a regex over the term dictionary
        # unions thousands of posting lists for a short prefix ("cl"). Only when none of those
        # fits the complete words does the full regex run.
        with self._reading():
            found = self._searcher.terms_with_prefix("title", partial, limit=PREFIX_WORDS)
        words = [w for w, _ in found]
        if not words:
            return []
        either = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "title", w))
                for w in words
            ]
        )
        found = self._titles_matching([*musts, either], limit)
        if found or not musts or len(words) < PREFIX_WORDS:
            return found
        pattern = tantivy.Query.regex_query(self.schema, "title", re.escape(partial) + ".*")
        return self._titles_matching([*musts, pattern], limit)

    def _titles_matching(self, musts: Sequence[tantivy.Query], limit: int) -> list[str]:
        searcher = self._searcher
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in musts])
        with self._reading():
            return _ids(searcher, searcher.search(query, limit, count=False).hits)

    def vocabulary(self) -> list[tuple[str, int]]:
        """Every indexed word with the number of articles containing it.

        Counted over live articles only where deleted ones may linger: a term's own count still
        includes deleted articles until their segment is merged, so an index opened after
        updates would otherwise weigh words by articles that are gone (counting live ones took
        58 ms instead of 37 at 100k articles: an index only added to skips it).
        """
        live = tantivy.Query.all_query() if self._may_hold_deleted else None
        with self._reading():
            counts = self._searcher.terms_with_prefix("text", "", filter_query=live)
        return [(term, count) for term, count in counts if count]

    def _filtered(self, query: tantivy.Query, flt: IndexFilter | None) -> tantivy.Query:
        if flt is None:
            return query
        clauses = [(tantivy.Occur.Must, query)]
        for term in flt.outlet_terms:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "outlet", term))
            )
        if flt.topic:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "topic", flt.topic))
            )
        if flt.since is not None or flt.until is not None:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema,
                        "published",
                        tantivy.FieldType.Integer,
                        int(flt.since.timestamp()) if flt.since else None,
                        int(flt.until.timestamp()) if flt.until else None,
                    ),
                )
            )
        return query if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)


def _with_ties(
    searcher: tantivy.Searcher, query: tantivy.Query, limit: int, most: int = MAX_READ
) -> list[tuple[float, tantivy.DocAddress]]:
    """The best ``limit`` hits and every hit that ties with the last of them, up to ``most``.

    ``_cut`` settles ties by id only among the hits read, and a story syndicated word for word
    (one agency's text under a dozen outlets) ties more than ``TIE_SLACK`` articles. Each read
    evaluates the whole query again, so each asks for four times as many as the one before.
    """
    wanted = limit + TIE_SLACK
    while True:
        hits = searcher.search(query, wanted, count=False).hits
        if len(hits) < wanted or not limit or hits[-1][0] < hits[limit - 1][0]:
            return hits
        if wanted >= most:
            return hits  # beyond a bound no answer needs: tantivy's order decides
        wanted = min(most, wanted * 4)


def _cut(found: list[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """The first ``limit`` by score, ties by article id: the same set in every process.

    tantivy breaks ties by the order documents reached the index, which follows the order
    files finished parsing: at the cut-off, an article rated into the answer's leading ten
    was there in one run and not in the next (2 of 1,534 labelled questions).
    """
    return sorted(found, key=lambda hit: (-hit[1], hit[0]))[:limit]


def _ids(searcher: tantivy.Searcher, hits: Sequence[tuple[Any, tantivy.DocAddress]]) -> list[str]:
    """The article ids of ``hits``, in order, read from the key column."""
    return [id_of(k) for k in searcher.fast_field_values("key", [a for _, a in hits])]
