"""Plain-text page scrapes: the outlet on the first line, the article, and site chrome around it."""

from __future__ import annotations

import re

from bot.corpus.model import Article, Outlet, Problem, Provenance, article_id
from bot.corpus.records import clean_text
from bot.corpus.urls import canonical_url, is_web_url

# Lines that are page furniture wherever they appear.
_CHROME_LINE = re.compile(
    r"""^(?:double\ tap\ to\ zoom|tap\ to\ zoom|click\ to\ (?:zoom|enlarge)|advertisement
    |sponsored(?:\ content)?|share(?:\ this(?:\ article|\ story)?)?|share\ on\ \w+|tweet
    |email|print|copy\ link|subscribe(?:\ now)?|sign\ up.*newsletter.*|read\ more|skip\ to\ content
    |photo:.*|image:.*|getty\ images|continue\ reading.*|story\ continues\ below.*)$""",
    re.IGNORECASE | re.VERBOSE,
)
# Headings after which the rest of the page is recommendations, not the article.
_TRAILER = re.compile(
    r"""^(?:we\ recommend|what\ to\ read\ next|read\ next|recommended(?:\ for\ you)?|related
    (?:\ (?:articles|stories|posts|coverage))?|more\ from\ .{1,40}|you\ may\ also\ like
    |you\ might\ also\ like|most\ popular|trending(?:\ now)?|more\ stories)\s*:?$""",
    re.IGNORECASE | re.VERBOSE,
)
_DRESSING = "#•·*-–— \t"
_URL_LINE = re.compile(r"^(?:url|source|link):\s*(\S+)$", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}\s+(.+)$")
TITLE_LIMIT = 120


def parse_scrape(text: str, path: str, problems: list[Problem]) -> list[Article]:
    """Read a page scrape; a title is inferred from the text when none is given."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        problems.append(Problem(path, None, "empty file"))
        return []
    outlet_name = clean_text(lines[0]).lstrip("#").strip()
    if len(outlet_name) > 80 or outlet_name.endswith((".", "?", "!")):
        # A sentence, not a masthead: the scrape starts with the article itself.
        outlet_name, start = "", 0
    else:
        start = 1
    url = None
    title = None
    kept: list[tuple[int, str]] = []  # (1-based line, text) of article lines, blank lines as ""
    for number, raw in enumerate(lines[start:], start=start + 1):
        line = raw.strip()
        # Chrome is often dressed as a list item or heading ("• sponsored", "## Read next").
        bare = line.lstrip(_DRESSING)
        if _TRAILER.match(bare):
            break
        if not line:
            kept.append((number, ""))
            continue
        if _CHROME_LINE.match(bare):
            continue
        match = _URL_LINE.match(line)
        if match and url is None and is_web_url(match.group(1)):
            url = match.group(1)
            continue
        heading = _HEADING.match(line)
        if heading and title is None and not any(text for _, text in kept):
            title = clean_text(heading.group(1))
            continue
        kept.append((number, line))
    body = _paragraphs(kept)
    if not body:
        problems.append(Problem(path, None, "no article text found after removing site chrome"))
        return []
    inferred = title is None
    if title is None:
        title = infer_title(body)
    canonical = canonical_url(url) if url else None
    return [
        Article(
            id=article_id(canonical, outlet_name, title),
            title=title,
            url=canonical,
            urls=(url,) if url else (),
            outlet=Outlet(outlet_name, ""),
            body=body,
            excerpt=_excerpt(body),
            provenance=(Provenance(path, "file", 1, None, title_inferred=inferred),),
        )
    ]


def _paragraphs(kept: list[tuple[int, str]]) -> tuple[str, ...]:
    out: list[str] = []
    current: list[str] = []
    for _, line in [*kept, (0, "")]:
        if line:
            current.append(line)
        elif current:
            out.append(clean_text(" ".join(current)))
            current = []
    return tuple(out)


def infer_title(body: tuple[str, ...]) -> str:
    """The first sentence of the article, cut at a word boundary: better than no title."""
    first = body[0]
    sentence = re.split(r"(?<=[.!?])\s+", first, maxsplit=1)[0]
    return shorten(sentence, TITLE_LIMIT)


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis when over ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


def _excerpt(body: tuple[str, ...]) -> str:
    return shorten(body[0], 300)
