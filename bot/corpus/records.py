"""Record mappings (front matter, JSON, YAML) to articles, with every field checked.

One function serves all structured formats so aliases, type checks and messages are the same
whichever file a record came from.
"""

from __future__ import annotations

import re
import reprlib
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from bot.corpus.model import Article, Image, Outlet, Problem, Provenance, article_id, utc
from bot.corpus.urls import canonical_url, domain_of, is_web_url

# field -> accepted spellings, first wins. ``published`` is also Smartable's boolean flag, so a
# bool there is not a date (see _published).
ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "url": ("webUrl", "url", "link", "href", "web_url"),
    "published": (
        "publishedDateTime",
        "published",
        "date",
        "pubDate",
        "published_at",
        "datePublished",
    ),
    "excerpt": ("excerpt", "description", "summary"),
    "body": ("content", "body", "text"),
    "outlet": ("provider", "source", "outlet", "publisher"),
    "topics": ("topics", "tags", "keywords"),
}
_VARIANT_KEYS = ("ampWebUrl", "cdnAmpWebUrl", "originalUrl", "ampUrl", "amp_url", "canonicalUrl")
_PLAIN_KEYS = ("images", "image", "related", "quality", "heat", "type", "category")
_IGNORED_KEYS = frozenset({"secured", "id", "isCached", "lang", "language", "author", "authors"})
KNOWN_KEYS = frozenset(
    [k for names in ALIASES.values() for k in names]
    + list(_VARIANT_KEYS)
    + list(_PLAIN_KEYS)
    + list(_IGNORED_KEYS)
)
T = TypeVar("T")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

Where = tuple[str | int, ...]
"""A field's place inside a record: keys and list indexes, e.g. ``("related", 0, "title")``."""
Locate = Callable[[Where], int | None]
"""Maps a field's place to its line in the file, when the format can say."""
Report = Callable[[str, str, Where], None]
"""Callback taking (reason, severity, where) for the record being read."""
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 2


def clean_text(value: str) -> str:
    """Collapse runs of white space; corpus text arrives with stray newlines and tabs."""
    return " ".join(value.split())  # 3x faster than a regex substitution on excerpts


def paragraphs(text: str) -> tuple[str, ...]:
    """Split an article body into paragraphs at blank lines."""
    return tuple(p for p in (clean_text(b) for b in _PARAGRAPH_BREAK.split(text)) if p)


def parse_record(
    data: Any,
    path: str,
    line: int | None,
    problems: list[Problem],
    body_text: str = "",
    locate: Locate | None = None,
    entry_lines: bool = False,
) -> list[Article]:
    """Turn one record into its article plus one article per ``related:`` entry.

    Bad fields are reported and dropped; a record without a usable title is reported and
    yields nothing. The first article returned is the record's own. ``locate`` turns a field's
    place into its line, so a problem points at the key rather than the record's first line;
    with ``entry_lines`` (cheap for YAML, whose node tree is at hand) each related entry's
    provenance also carries its own line.
    """

    def report(reason: str, severity: str = "warning", where: Where = ()) -> None:
        at = (locate(where) or line) if locate is not None and (where or line is None) else line
        problems.append(Problem(path, at, reason, severity))  # type: ignore[arg-type]

    if not isinstance(data, Mapping):
        report(f"expected a mapping of fields, got {_kind(data)}", "error")
        return []
    _unknown_keys(data, report, ())
    main = _article(data, path, line, report, "file", None, body_text, ())
    if main is None:
        return []
    out = [main]
    related_raw = data.get("related")
    if related_raw is not None and not isinstance(related_raw, list):
        report(
            f"'related' should be a list, got {_kind(related_raw)}; ignored",
            "warning",
            ("related",),
        )
        related_raw = None
    links: list[str] = []
    for i, entry in enumerate(related_raw or ()):
        where: Where = ("related", i)

        def report_related(
            reason: str, severity: str = "warning", at: Where = (), i: int = i
        ) -> None:
            # A bad related entry costs that entry only, so it is a warning on the record.
            report(f"related[{i + 1}]: {reason}", "warning", ("related", i, *at))

        if not isinstance(entry, Mapping):
            report_related(f"expected a mapping, got {_kind(entry)}; skipped")
            continue
        _unknown_keys(entry, report_related, ())
        entry_line = (locate(where) or line) if entry_lines and locate is not None else line
        child = _article(entry, path, entry_line, report_related, "related", main.id, "", ())
        if child is None or child.id == main.id:
            continue
        links.append(child.id)
        out.append(child._replace(related=(main.id,)))
    if links:
        out[0] = main._replace(related=tuple(dict.fromkeys(links)))
    return out


def _unknown_keys(data: Mapping[Any, Any], report: Report, where: Where) -> None:
    unknown = data.keys() - KNOWN_KEYS
    for key in sorted(unknown, key=str):
        if isinstance(key, str):
            report(f"unknown key {key!r} ignored", "warning", (*where, key))
        else:
            report(f"unknown key {_short(key)} ignored (keys are text)", "warning", where)


def _article(
    data: Mapping[str, Any],
    path: str,
    line: int | None,
    report: Report,
    kind: str,
    via: str | None,
    body_text: str,
    where: Where,
) -> Article | None:
    title_key, title = _first(data, "title")
    if title is None:
        report("missing title; record skipped", "error", where)
        return None
    if not isinstance(title, str | int | float) or isinstance(title, bool):
        report(
            f"title should be text, got {_kind(title)}; record skipped",
            "error",
            (*where, title_key),
        )
        return None
    title = clean_text(str(title))
    if not title:
        report("empty title; record skipped", "error", (*where, title_key))
        return None

    share = _sharer()
    urls: list[str] = []
    url_key, raw_url = _first(data, "url")
    for key, value in [(url_key, raw_url)] + [(k, data.get(k)) for k in _VARIANT_KEYS]:
        if value is None or value == "":
            continue
        if is_web_url(value):
            urls.append(share(value.strip()))
        else:
            report(
                f"{key} is not an http(s) URL ({_short(value)}); dropped", "warning", (*where, key)
            )
    canonical = None
    for candidate in urls:
        try:
            canonical = canonical_url(candidate)
            break
        except ValueError:  # passed the cheap check but urllib still refuses it
            report(f"URL {_short(candidate)} cannot be read; dropped", "warning", where)

    outlet = _outlet(data, urls[0] if urls else None, report, where)
    published = _published(data, report, where)
    excerpt = _text_field(data, "excerpt", report, where)
    body_value = _text_field(data, "body", report, where)
    body = paragraphs(body_text) if body_text.strip() else paragraphs(body_value)
    topics = _topics(data, report, where)
    images = _images(data, report, where, share)
    return Article(
        share(article_id(canonical, outlet.name, title)),
        share(title),
        None if canonical is None else share(canonical),
        share(tuple(dict.fromkeys(urls))),
        outlet,
        published,
        share(excerpt),
        body,
        share(topics),
        share(images),
        (),
        (Provenance(path, kind, line, via),),  # type: ignore[arg-type]
        (),
        _int(data, "quality", report, where),
        _int(data, "heat", report, where),
        _plain_str(data, "type", report, where),
        _plain_str(data, "category", report, where),
    )


_LOCAL = threading.local()


@contextmanager
def shared_strings() -> Iterator[None]:
    """Within the block, records parsed on this thread share equal strings.

    The same article is described in many files (most often as a related entry), each copy
    with its own title, excerpt and URL strings. Sharing them during a bulk load cut the
    records' memory by a third on Smartable-shaped data; the pool goes when the block ends.
    """
    _LOCAL.pool = {}  # str -> str, and tuples of them (URL variants, topics, images)
    try:
        yield
    finally:
        _LOCAL.pool = None


def shared(articles: Iterable[Article]) -> list[Article]:
    """``articles`` holding the strings ``shared_strings`` shares, as if they were parsed here.

    For records parsed in another process and decoded on this thread (``corpus.parallel``):
    outside a ``shared_strings`` block, the articles themselves.
    """
    share = _sharer()  # once for all: it is looked up per thread
    if share is _same:
        return list(articles)
    # Each string inside the tuples too, as ``_article`` shares them while it parses: two
    # records of one article list its address beside different variants of it.
    return [
        a._replace(
            id=share(a.id),
            title=share(a.title),
            outlet=_OUTLETS(a.outlet.name, a.outlet.domain),  # one per outlet, as parsed here
            url=None if a.url is None else share(a.url),
            urls=share(tuple(map(share, a.urls))),
            excerpt=share(a.excerpt),
            topics=share(tuple(map(sys.intern, a.topics))),
            images=share(tuple(i._replace(url=share(i.url)) for i in a.images)),
            provenance=tuple(
                p._replace(path=share(p.path), via=None if p.via is None else share(p.via))
                for p in a.provenance
            ),
        )
        for a in articles
    ]


def _sharer() -> Callable[[T], T]:
    pool: dict[Any, Any] | None = getattr(_LOCAL, "pool", None)
    if pool is None:
        return _same
    return lambda text: pool.setdefault(text, text)


def _same(value: T) -> T:
    return value


def _first(data: Mapping[str, Any], field: str) -> tuple[str, Any]:
    """The first alias of ``field`` present, and its value.

    ``published: false`` is Smartable's flag, not a date, so it does not count.
    """
    names = ALIASES[field]
    for key in names:
        value = data.get(key)
        if value is not None and not (field == "published" and isinstance(value, bool)):
            return key, value
    return names[0], None


def describe(value: object) -> str:
    """What kind of value this is, in words a person editing the file would use."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else type(value).__name__


_kind = describe


def _short(value: object) -> str:
    """A bounded repr: a value from an untrusted file may be huge or deeply shared."""
    return _SHORT.repr(value)


def _text_field(data: Mapping[str, Any], field: str, report: Report, where: Where) -> str:
    key, value = _first(data, field)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip() if field == "body" else clean_text(value)
    report(f"{key} should be text, got {_kind(value)}; ignored", "warning", (*where, key))
    return ""


def _plain_str(data: Mapping[str, Any], key: str, report: Report, where: Where) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return sys.intern(value.strip())
    report(f"{key} should be text, got {_kind(value)}; ignored", "warning", (*where, key))
    return ""


def _int(data: Mapping[str, Any], key: str, report: Report, where: Where) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        report(f"{key} should be a number, got {_kind(value)}; ignored", "warning", (*where, key))
        return None
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf and nan are floats too
        report(f"{key} should be a number, got {_short(value)}; ignored", "warning", (*where, key))
        return None


def _outlet(data: Mapping[str, Any], url: str | None, report: Report, where: Where) -> Outlet:
    key, value = _first(data, "outlet")
    if isinstance(value, Mapping):
        name, domain = value.get("name"), value.get("domain")
        name = _host_only(clean_text(name), url) if isinstance(name, str) else ""
        domain = domain.strip().lower().removeprefix("www.") if isinstance(domain, str) else ""
        domain = _host_only(domain, url) or (domain_of(url) if url else "")
        return _OUTLETS(name or domain, domain)
    fallback = domain_of(url) if url else ""
    if value is None:
        return _OUTLETS(fallback, fallback)
    if isinstance(value, str):
        return _OUTLETS(_host_only(clean_text(value), url) or fallback, fallback)
    report(
        f"{key} should be a name or a mapping, got {_kind(value)}; ignored",
        "warning",
        (*where, key),
    )
    return _OUTLETS(fallback, fallback)


def _host_only(name: str, url: str | None) -> str:
    """An outlet named by its article's own address ("theverge.com/2021/3/5/…") as its host.

    Feeds put the article's URL where the outlet's name goes; shown, it reads as noise, and
    every such article would be an outlet of its own. Only a name whose host is the record's
    own URL's: "N.Y./Region" or "AP/Reuters" are names, not addresses.
    """
    if "/" not in name or " " in name.strip() or not url:
        return name
    host = domain_of(name if "//" in name else f"https://{name}")
    return host if host and host == domain_of(url) else name


def _shared_outlets() -> Callable[[str, str], Outlet]:
    """One ``Outlet`` per (name, domain): a corpus has hundreds of outlets and ~10^5 articles."""
    seen: dict[tuple[str, str], Outlet] = {}

    def get(name: str, domain: str) -> Outlet:
        key = (name, domain)
        outlet = seen.get(key)
        if outlet is None:
            if len(seen) > 100_000:  # a hostile corpus of made-up outlets must not grow this
                seen.clear()
            outlet = seen[key] = Outlet(sys.intern(name), sys.intern(domain))
        return outlet

    return get


_OUTLETS = _shared_outlets()


def parse_datetime(value: Any) -> datetime | None:
    """Read the date formats feeds use (ISO-8601, RFC 2822, epoch seconds) as aware UTC.

    Raises ``ValueError`` for anything else.
    """
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            return utc(datetime.fromisoformat(text))
        except ValueError:
            pass
        try:
            return utc(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            pass
    raise ValueError(f"unparseable date {_short(value)}")


EARLIEST_EPOCH_YEAR = 1995  # numeric dates before the web news era are mistakes, not news


def _published(data: Mapping[str, Any], report: Report, where: Where) -> datetime | None:
    key, value = _first(data, "published")
    if value is None:
        return None
    try:
        published = parse_datetime(value)
    except (ValueError, OverflowError, OSError) as exc:
        report(f"{key}: {exc}; published time left unknown", "warning", (*where, key))
        return None
    if isinstance(value, int | float) and published.year < EARLIEST_EPOCH_YEAR:
        # YAML reads an unquoted 12:30:00 as the number 45000; as epoch seconds that is 1970.
        report(
            f"{key}: the number {value!r} is not a plausible time (read as {published:%Y-%m-%d}); "
            "published time left unknown",
            "warning",
            (*where, key),
        )
        return None
    return published


def _topics(data: Mapping[str, Any], report: Report, where: Where) -> tuple[str, ...]:
    key, value = _first(data, "topics")
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        report(f"{key} should be a list, got {_kind(value)}; ignored", "warning", (*where, key))
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and clean_text(item):
            out.append(sys.intern(clean_text(item)))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            out.append(sys.intern(clean_text(item["name"])))
        else:
            report(f"topic {_short(item)} is not text; ignored", "warning", (*where, key, i))
    return tuple(dict.fromkeys(out))


def _images(
    data: Mapping[str, Any], report: Report, where: Where, share: Callable[[Any], Any]
) -> tuple[Image, ...]:
    key = "images" if "images" in data else "image"
    value = data.get(key)
    if value is None:
        return ()
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    out: list[Image] = []
    for i, item in enumerate(items):
        url = item.get("url") if isinstance(item, Mapping) else item
        if not is_web_url(url):
            at = (*where, key, i) if isinstance(value, list) else (*where, key)
            report(f"image {_short(url)} is not an http(s) URL; dropped", "warning", at)
            continue
        width = item.get("width") if isinstance(item, Mapping) else None
        height = item.get("height") if isinstance(item, Mapping) else None
        out.append(
            Image(
                share(url.strip()),
                width if isinstance(width, int) and not isinstance(width, bool) else None,
                height if isinstance(height, int) and not isinstance(height, bool) else None,
            )
        )
    return tuple(out)
