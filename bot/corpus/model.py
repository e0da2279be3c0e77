"""The corpus's vocabulary: articles, where they came from, and what went wrong reading them.

Everything here is immutable so a corpus snapshot can be handed to readers on any thread while
the loader builds the next one. Articles and their parts are ``NamedTuple``s rather than frozen
dataclasses: a warm restart rebuilds every article from the cache, and in CPython 3.11 a frozen
dataclass costs ~2.3 µs to construct (one ``object.__setattr__`` per field) against ~0.2 µs for
a named tuple, which is the difference between a one-second restart at 100,000 documents and a
three-second one. Use ``article._replace(...)`` where a dataclass would use ``replace``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from bot.corpus.urls import distinct_urls, shown_url

SourceKind = Literal["file", "related"]
Severity = Literal["error", "warning"]


class Outlet(NamedTuple):
    """Who published an article; the domain is how two spellings of one outlet meet."""

    name: str
    domain: str = ""


class Image(NamedTuple):
    """An article image; only http(s) URLs survive parsing."""

    url: str
    width: int | None = None
    height: int | None = None


class Provenance(NamedTuple):
    """One place an article was read from.

    ``kind`` says whether the file described the article itself or only listed it under another
    record's ``related:``; ``via`` names that other article. ``title_inferred`` is set when the
    file gave no title and one was taken from the text.
    """

    path: str
    kind: SourceKind = "file"
    line: int | None = None
    via: str | None = None
    title_inferred: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a file, or part of one, could not be used as it was; shown as ``path:line: reason``."""

    path: str
    line: int | None
    reason: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


class Article(NamedTuple):
    """One real article, however many files and URL variants it was reached through.

    ``url`` is the canonical form (``canonical_url``): the article's identity, which merges its
    records and names it in expectations, never shown. ``urls`` holds every address the sources
    gave, exactly as given (http(s) only), the preferred record's first and each record's
    ``webUrl`` ahead of its other addresses; ``link`` is the one to show.
    """

    id: str
    title: str
    url: str | None = None
    urls: tuple[str, ...] = ()
    outlet: Outlet = Outlet("")
    published: datetime | None = None
    excerpt: str = ""
    body: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[str, ...] = ()
    provenance: tuple[Provenance, ...] = ()
    alt_titles: tuple[str, ...] = ()
    quality: int | None = None
    heat: int | None = None
    type: str = ""
    category: str = ""

    @property
    def title_inferred(self) -> bool:
        """True when no source gave a title and it was taken from the text."""
        return all(p.title_inferred for p in self.provenance) and bool(self.provenance)

    @property
    def from_file(self) -> bool:
        """True when some file describes this article itself, not only as a related entry."""
        return any(p.kind == "file" for p in self.provenance)

    @property
    def text(self) -> str:
        """The article's words for indexing and quoting: body when known, else the excerpt."""
        return "\n\n".join(self.body) if self.body else self.excerpt

    @property
    def link(self) -> str | None:
        """The address to show: the best one a source gave (``shown_url``), or None.

        Chosen when asked, not stored, so the cache's article shape is unchanged.
        """
        return shown_url(self.urls)

    @property
    def links(self) -> tuple[str, ...]:
        """``link`` first, then one given address for each other place the article lives."""
        return distinct_urls(self.urls)

    @property
    def image(self) -> Image | None:
        """The image to show beside the article, if any."""
        return self.images[0] if self.images else None


def article_id(url: str | None, outlet: str = "", title: str = "") -> str:
    """A stable id: from the canonical URL when there is one, else from outlet and title.

    Hashing keeps ids short and the same across restarts, machines and file moves.
    """
    key = (
        f"u:{url}" if url else f"t:{outlet.casefold().strip()}|{' '.join(title.casefold().split())}"
    )
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def utc(dt: datetime) -> datetime:
    """Normalise to aware UTC; a naive time is taken to be UTC already."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
