"""The few words shown under a search hit: the window of text where the query matched."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.corpus.model import Article

WINDOW = 240  # characters: about two lines in a Discord embed field
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def matched_field(article: Article, terms: Sequence[str]) -> str:
    """Which field explains the match: the first of title, outlet, topic, excerpt, body."""
    if not terms:
        return "title"
    wanted = set(terms)
    fields = (
        ("title", " ".join((article.title, *article.alt_titles))),
        ("outlet", f"{article.outlet.name} {article.outlet.domain}"),
        ("topic", " ".join(article.topics)),
        ("excerpt", article.excerpt),
        ("body", " ".join(article.body)),
    )
    best, best_count = "title", 0
    for name, text in fields:
        count = len(wanted & {w.lower() for w in _WORD.findall(text)})
        if count > best_count:
            best, best_count = name, count
    return best


def best_window(article: Article, terms: Sequence[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The excerpt-sized window of the article's text holding the most matched words.

    Returns the window and the spans of matched words in it. Matches by prefix so "image" marks
    "images".
    """
    text = article.excerpt if not article.body else " ".join(article.body)
    if not text:
        text = article.title
    wanted = tuple(t for t in terms if len(t) >= 2)
    spans = [
        (m.start(), m.end())
        for m in _WORD.finditer(text)
        if wanted and m.group().lower().startswith(wanted)
    ]
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
    window = text[start:end]
    marks = tuple((s - start, e - start) for s, e in spans if s >= start and e <= end)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix)
    return prefix + window + suffix, tuple((s + shift, e + shift) for s, e in marks)


def _densest(spans: list[tuple[int, int]], length: int) -> int:
    """Start of the WINDOW-wide stretch covering the most spans (0 when there are none)."""
    if not spans:
        return 0
    best_start, best_count = 0, 0
    for i, (s, _) in enumerate(spans):
        count = sum(1 for _, e in spans[i:] if e <= s + WINDOW)
        if count > best_count:
            best_start, best_count = max(0, s - 40), count
    return min(best_start, max(0, length - WINDOW))
