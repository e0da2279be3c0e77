"""The few words shown under a search hit: the window of text where the query matched."""

from __future__ import annotations

from bisect import bisect_right

from bot.corpus.model import Article
from bot.engine.matching import QueryMatcher

WINDOW = 240  # characters: about two lines in a Discord embed field


def matched_field(article: Article, matcher: QueryMatcher) -> str:
    """Which field explains the match: the one holding the most query terms.

    Fields are tried as title, outlet, topic, excerpt, body; earlier fields win ties.
    """
    fields = (
        ("title", " ".join((article.title, *article.alt_titles))),
        ("outlet", f"{article.outlet.name} {article.outlet.domain}"),
        ("topic", " ".join(article.topics)),
        ("excerpt", article.excerpt),
        ("body", " ".join(article.body)),
    )
    best, best_count = "title", 0
    for name, text in fields:
        count = len(matcher.found(text)) if text else 0
        if count > best_count:
            best, best_count = name, count
    return best


def best_window(article: Article, matcher: QueryMatcher) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The excerpt-sized window of the article's text holding the most matched words.

    Returns the window (with "…" where it was cut) and the spans of matched words in it.
    """
    text = " ".join(article.body) if article.body else article.excerpt or article.title
    spans = matcher.spans(text)
    if len(text) <= WINDOW:
        start, end = 0, len(text)
    else:
        start = _densest(spans, len(text))
        end = min(len(text), start + WINDOW)
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 and start - space < 30 else start
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    marks = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return prefix + text[start:end] + suffix, marks


def _densest(spans: list[tuple[int, int]], length: int) -> int:
    """Start of the WINDOW-wide stretch holding the most spans (0 when there are none)."""
    if not spans:
        return 0
    starts = [s for s, _ in spans]
    best_start, best_count = 0, 0
    for i, s in enumerate(starts):
        count = bisect_right(starts, s + WINDOW - 20) - i
        if count > best_count:
            best_start, best_count = max(0, s - 40), count
    return min(best_start, max(0, length - WINDOW))
