"""The full-text index: tantivy BM25 over an in-memory index, for candidates in well under a ms.

Measured before choosing (issue 3): a rapidfuzz scan over titles costs 430 ms at 100k articles,
SQLite FTS5 27 ms with bodies, tantivy 0.09 ms; so tantivy finds candidates and Python only
re-ranks a few dozen of them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tantivy

from bot.corpus.model import Article

_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_WRITER_HEAP = 128_000_000
# Title words count double: a query naming the story beats one that merely mentions its words.
TITLE_BOOST = 2.5
OUTLET_BOOST = 1.5
PREFIX_WORDS = 12  # completions of a half-typed word that autocomplete looks for


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


class SearchIndex:
    """A tantivy index of articles; writes are serialised, reads use the last committed state."""

    def __init__(self, threads: int = 1) -> None:
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
        self._index = tantivy.Index(self.schema)
        self._writer = self._index.writer(_WRITER_HEAP, threads)
        self._lock = threading.Lock()
        self._searcher = self._index.searcher()

    @property
    def size(self) -> int:
        """Articles in the committed index."""
        return self._searcher.num_docs

    def write(self, upserts: Iterable[Article], removals: Iterable[str] = ()) -> None:
        """Replace or add articles and delete others, then commit: readers switch at once."""
        with self._lock:
            writer = self._writer
            for article_id in removals:
                self._delete(article_id)
            for article in upserts:
                self._delete(article.id)
                writer.add_document(self._document(article))
            writer.commit()
            self._index.reload()
            self._searcher = self._index.searcher()

    def _delete(self, article_id: str) -> None:
        # A term delete on an unsigned field silently deletes nothing in tantivy 0.27; a delete
        # by a term query works.
        query = tantivy.Query.term_query(self.schema, "key", key_of(article_id))
        self._writer.delete_documents_by_query(query)

    def add_new(self, articles: Iterable[Article]) -> None:
        """Bulk-add articles known to be absent (the first build): no deletes needed."""
        with self._lock:
            for article in articles:
                self._writer.add_document(self._document(article))
            self._writer.commit()
            self._index.reload()
            self._searcher = self._index.searcher()

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
        hits = searcher.search(self._filtered(query, flt), limit, count=False).hits
        ids = _ids(searcher, hits)
        return [(article_id, score) for (score, _), article_id in zip(hits, ids, strict=True)]

    def filtered_all(self, limit: int, flt: IndexFilter) -> list[str]:
        """Newest dated articles matching only the filter (e.g. ``/latest topic``)."""
        # Undated articles have no "published" value: only dated ones can be the newest.
        dated = tantivy.Query.exists_query("published")
        query = self._filtered(dated, flt)
        searcher = self._searcher
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
        words = [
            w for w, _ in self._searcher.terms_with_prefix("title", partial, limit=PREFIX_WORDS)
        ]
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
        return _ids(searcher, searcher.search(query, limit, count=False).hits)

    def vocabulary(self) -> list[tuple[str, int]]:
        """Every indexed word with the number of articles containing it."""
        return self._searcher.terms_with_prefix("text", "")

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


def _ids(searcher: tantivy.Searcher, hits: Sequence[tuple[Any, tantivy.DocAddress]]) -> list[str]:
    """The article ids of ``hits``, in order, read from the key column."""
    return [id_of(k) for k in searcher.fast_field_values("key", [a for _, a in hits])]
