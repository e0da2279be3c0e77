"""Record mappings (front matter, JSON, YAML) to articles, with every field checked.

One function serves all structured formats so aliases, type checks and messages are the same
whichever file a record came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

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
_WS = re.compile(r"\s+")

Report = Callable[[str, str], None]
"""Callback taking (reason, severity) for the record being read."""


def clean_text(value: str) -> str:
    """Collapse runs of white space; corpus text arrives with stray newlines and tabs."""
    return _WS.sub(" ", value).strip()


def paragraphs(text: str) -> tuple[str, ...]:
    """Split an article body into paragraphs at blank lines."""
    return tuple(p for p in (clean_text(b) for b in re.split(r"\n\s*\n", text)) if p)


def parse_record(
    data: Any,
    path: str,
    line: int | None,
    problems: list[Problem],
    body_text: str = "",
) -> list[Article]:
    """Turn one record into its article plus one article per ``related:`` entry.

    Bad fields are reported and dropped; a record without a usable title is reported and
    yields nothing. The first article returned is the record's own.
    """

    def report(reason: str, severity: str = "warning") -> None:
        problems.append(Problem(path, line, reason, severity))  # type: ignore[arg-type]

    if not isinstance(data, Mapping):
        report(f"expected a mapping of fields, got {_kind(data)}", "error")
        return []
    for key in data:
        if not isinstance(key, str) or key not in KNOWN_KEYS:
            report(f"unknown key {key!r} ignored")
    main = _article(data, path, line, report, "file", None, body_text)
    if main is None:
        return []
    out = [main]
    related_raw = data.get("related")
    if related_raw is not None and not isinstance(related_raw, list):
        report(f"'related' should be a list, got {_kind(related_raw)}; ignored")
        related_raw = None
    links: list[str] = []
    for i, entry in enumerate(related_raw or (), start=1):

        def report_related(reason: str, severity: str = "warning", i: int = i) -> None:
            report(f"related[{i}]: {reason}", "warning" if severity == "error" else severity)

        if not isinstance(entry, Mapping):
            report_related(f"expected a mapping, got {_kind(entry)}; skipped")
            continue
        child = _article(entry, path, line, report_related, "related", main.id, "")
        if child is None or child.id == main.id:
            continue
        child = _replace_related(child, (main.id,))
        links.append(child.id)
        out.append(child)
    if links:
        out[0] = _replace_related(main, tuple(dict.fromkeys(links)))
    return out


def _replace_related(article: Article, related: tuple[str, ...]) -> Article:
    return replace(article, related=related)


def _article(
    data: Mapping[str, Any],
    path: str,
    line: int | None,
    report: Report,
    kind: str,
    via: str | None,
    body_text: str,
) -> Article | None:
    title = _first(data, "title")
    if title is None:
        report("missing title; record skipped", "error")
        return None
    if not isinstance(title, str | int | float) or isinstance(title, bool):
        report(f"title should be text, got {_kind(title)}; record skipped", "error")
        return None
    title = clean_text(str(title))
    if not title:
        report("empty title; record skipped", "error")
        return None

    urls: list[str] = []
    raw_url = _first(data, "url")
    for key, value in [("url", raw_url)] + [(k, data.get(k)) for k in _VARIANT_KEYS]:
        if value is None or value == "":
            continue
        if is_web_url(value):
            urls.append(value.strip())
        else:
            report(f"{key} is not an http(s) URL ({_short(value)}); dropped")
    canonical = canonical_url(urls[0]) if urls else None

    outlet = _outlet(_first(data, "outlet"), urls[0] if urls else None, report)
    published = _published(data, report)
    excerpt = _text_field(data, "excerpt", report)
    body_value = _text_field(data, "body", report)
    body = paragraphs(body_text) if body_text.strip() else paragraphs(body_value)
    topics = _topics(_first(data, "topics"), report)
    images = _images(data.get("images", data.get("image")), report)
    return Article(
        id=article_id(canonical, outlet.name, title),
        title=title,
        url=canonical,
        urls=tuple(dict.fromkeys(urls)),
        outlet=outlet,
        published=published,
        excerpt=excerpt,
        body=body,
        topics=topics,
        images=images,
        provenance=(Provenance(path, kind, line, via),),  # type: ignore[arg-type]
        quality=_int(data.get("quality"), "quality", report),
        heat=_int(data.get("heat"), "heat", report),
        type=_plain_str(data.get("type"), "type", report),
        category=_plain_str(data.get("category"), "category", report),
    )


def _first(data: Mapping[str, Any], field: str) -> Any:
    for key in ALIASES[field]:
        value = data.get(key)
        if field == "published" and isinstance(value, bool):
            continue
        if value is not None:
            return value
    return None


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_field(data: Mapping[str, Any], field: str, report: Report) -> str:
    value = _first(data, field)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip() if field == "body" else clean_text(value)
    report(f"{field} should be text, got {_kind(value)}; ignored")
    return ""


def _plain_str(value: Any, field: str, report: Report) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    report(f"{field} should be text, got {_kind(value)}; ignored")
    return ""


def _int(value: Any, field: str, report: Report) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        report(f"{field} should be a number, got {_kind(value)}; ignored")
        return None
    return int(value)


def _outlet(value: Any, url: str | None, report: Report) -> Outlet:
    fallback = domain_of(url) if url else ""
    if value is None:
        return Outlet(fallback, fallback)
    if isinstance(value, str):
        return Outlet(clean_text(value) or fallback, fallback)
    if isinstance(value, Mapping):
        name, domain = value.get("name"), value.get("domain")
        name = clean_text(name) if isinstance(name, str) else ""
        domain = domain.strip().lower().removeprefix("www.") if isinstance(domain, str) else ""
        domain = domain or fallback
        return Outlet(name or domain, domain)
    report(f"provider should be a name or a mapping, got {_kind(value)}; ignored")
    return Outlet(fallback, fallback)


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


def _published(data: Mapping[str, Any], report: Report) -> datetime | None:
    value = _first(data, "published")
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError, OSError) as exc:
        report(f"{exc}; published time left unknown")
        return None


def _topics(value: Any, report: Report) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list):
        report(f"topics should be a list, got {_kind(value)}; ignored")
        return ()
    out: list[str] = []
    for item in value:
        if isinstance(item, str) and clean_text(item):
            out.append(clean_text(item))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            out.append(clean_text(item["name"]))
        else:
            report(f"topic {_short(item)} is not text; ignored")
    return tuple(dict.fromkeys(out))


def _images(value: Any, report: Report) -> tuple[Image, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    out: list[Image] = []
    for item in items:
        url = item.get("url") if isinstance(item, Mapping) else item
        if not is_web_url(url):
            report(f"image {_short(url)} is not an http(s) URL; dropped")
            continue
        width = item.get("width") if isinstance(item, Mapping) else None
        height = item.get("height") if isinstance(item, Mapping) else None
        out.append(
            Image(
                url.strip(),
                width if isinstance(width, int) and not isinstance(width, bool) else None,
                height if isinstance(height, int) and not isinstance(height, bool) else None,
            )
        )
    return tuple(out)
