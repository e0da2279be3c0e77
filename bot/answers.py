"""Command names to engine calls, and answers to the JSON and plain text the CLI prints.

The CLI, the console and plain DM messages all go through ``run_command`` so "summary X" means
the same thing everywhere.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from bot.corpus.invisible import strip_invisible
from bot.corpus.model import Article
from bot.engine.engine import Engine
from bot.engine.results import (
    Answer,
    AskAnswer,
    CoverageAnswer,
    Hit,
    NotFound,
    RelatedAnswer,
    SearchResult,
    SourceAnswer,
    Story,
    SummaryAnswer,
)
from bot.render import (
    Card,
    answer_cards,
    latest_card,
    not_found_card,
    search_pages,
)

COMMANDS = ("search", "summary", "source", "related", "ask", "coverage")


def run_command(engine: Engine, command: str, query: str, limit: int = 10) -> Answer | NotFound:
    """Answer ``query`` with one of ``COMMANDS``."""
    if command == "search":
        return engine.search(query, limit=limit)
    if command == "related":
        return engine.related(query, limit=limit)
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; choose one of {', '.join(COMMANDS)}")
    return getattr(engine, command)(query)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _result(article: Article, score: float | None, excerpt: str) -> dict[str, Any]:
    # "url" is the address a source gave, for people and browsers; "canonical_url" is the
    # article's identity, for scripts that deduplicate or join on it.
    return {
        "url": article.link,
        "canonical_url": article.url,
        "title": article.title,
        "outlet": article.outlet.name,
        "published": _iso(article.published),
        "score": score,
        "excerpt": excerpt,
    }


def _hit(hit: Hit) -> dict[str, Any]:
    return _result(hit.article, hit.score, hit.marked())


def story_json(story: Story, matched: Article | None = None) -> dict[str, Any]:
    """A story as the README documents it: headline, counts, first report, timeline.

    ``title`` is the headline a card shows (``Story.headline``): the matched article's title
    unless that was inferred from a scrape's first sentence and a member has a real one.
    """
    first = story.first
    return {
        "title": story.headline(matched).title,
        "articles": len(story.articles),
        "outlets": list(story.outlets),
        "first": None
        if first is None
        else {"outlet": first.outlet.name, "published": _iso(first.published), "url": first.link},
        "timeline": [
            {
                "outlet": a.outlet.name,
                "published": _iso(a.published),
                "title": a.title,
                "url": a.link,
            }
            for a in story.articles
        ],
    }


def to_json(command: str, query: str, answer: Answer | NotFound) -> dict[str, Any]:
    """The CLI's JSON object for one answer (shape documented in the README)."""
    out: dict[str, Any] = {"command": command, "query": query, "results": [], "suggestions": []}
    if isinstance(answer, NotFound):
        out["suggestions"] = list(answer.suggestions)
        if answer.reason:
            out["reason"] = answer.reason
        return out
    if isinstance(answer, SearchResult):
        out["results"] = [_hit(h) for h in answer.hits]
        if answer.not_found:
            out["suggestions"] = list(answer.not_found.suggestions)
            if answer.not_found.reason:
                out["reason"] = answer.not_found.reason
        return out
    if isinstance(answer, RelatedAnswer):
        out["results"] = [
            {**_result(item.article, item.score, item.article.excerpt), "reason": item.reason}
            for item in answer.items
        ]
        out["article"] = _hit(answer.hit)
        return out
    out["results"] = [_hit(answer.hit)]
    if isinstance(answer, SummaryAnswer):
        out["summary"] = list(answer.summary)
    elif isinstance(answer, AskAnswer):
        out["answer"] = {"text": answer.passage.text, "url": answer.passage.article.link}
    elif isinstance(answer, SourceAnswer | CoverageAnswer):
        out["story"] = story_json(answer.story, answer.hit.article)
        if isinstance(answer, SourceAnswer):
            # Every address the sources gave, as given, the shown one first.
            article = answer.hit.article
            link = article.link  # derived on each read: once
            shown = (link,) if link else ()
            out["urls"] = list(dict.fromkeys((*shown, *article.urls)))
    return out


def to_text(command: str, answer: Answer | NotFound) -> str:
    """Plain text for a terminal or a pipe: the same facts as the JSON, for people.

    Corpus text reaches a terminal here, so bidi controls and invisible characters are dropped
    as in every card: a right-to-left override would reorder what the terminal shows.
    """
    return strip_invisible(_text(command, answer))


def _text(command: str, answer: Answer | NotFound) -> str:
    if isinstance(answer, NotFound):
        return _not_found_text(answer)
    if isinstance(answer, SearchResult):
        if answer.not_found:
            return _not_found_text(answer.not_found)
        lines = []
        for i, hit in enumerate(answer.hits, 1):
            lines += [
                f"{i}. {_heading(hit.article)}  [{hit.score:.0f}, {hit.field}]",
                f"   {hit.marked()}",
                f"   {hit.article.link or '(no link)'}",
            ]
        return "\n".join(lines)
    lines = [_heading(answer.hit.article), answer.hit.article.link or "(no link)", ""]
    if isinstance(answer, SummaryAnswer):
        lines.append(" ".join(answer.summary))
    elif isinstance(answer, AskAnswer):
        lines.append(f"“{answer.passage.text}”")
    elif isinstance(answer, RelatedAnswer):
        lines += [f"- {_heading(i.article)} ({i.reason})" for i in answer.items] or [
            "nothing related"
        ]
    elif isinstance(answer, SourceAnswer | CoverageAnswer):
        lines += _story_lines(answer.story)
        elsewhere = answer.hit.article.links[1:] if isinstance(answer, SourceAnswer) else ()
        if elsewhere:
            lines += ["", "also at:"] + [f"  {u}" for u in elsewhere]
    return "\n".join(lines)


def _heading(article: Article) -> str:
    when = f"{article.published:%Y-%m-%d %H:%M} UTC" if article.published else "undated"
    return f"{article.title} — {article.outlet.name or 'unknown outlet'}, {when}"


def _story_lines(story: Story) -> list[str]:
    count = len(story.articles)
    lines = [f"{count} article{'s' * (count != 1)} from {len(story.outlets)} outlet(s)"]
    if story.first is not None:
        lines.append(
            f"first reported by {story.first.outlet.name}, "
            f"{story.first.published:%Y-%m-%d %H:%M} UTC"
        )
    lines += [f"  {_heading(a)}" for a in story.articles]
    return lines


def _not_found_text(nf: NotFound) -> str:
    lines = [f"Not in this coverage: {nf.query}"]
    if nf.first_published and nf.last_published:
        lines.append(
            f"(the coverage runs from {nf.first_published:%Y-%m-%d} "
            f"to {nf.last_published:%Y-%m-%d})"
        )
    if nf.reason:
        lines.append(nf.reason)
    if nf.suggestions:
        lines.append("Closest coverage:" if nf.reason else "Did you mean:")
        lines += [f"  - {s}" for s in nf.suggestions]
    return "\n".join(lines)


# ------------------------------------------------------------------ requests from people
# Words that start a plain-text request (a DM, a console line) and the command they run. "ask"
# is the default, so a question needs no prefix; "help" explains the rest.
REQUEST_WORDS = (*COMMANDS, "latest", "help")
_DAY_FORMATS = ((10, "%Y-%m-%d"), (7, "%Y-%m"), (4, "%Y"))


# Questions about who covered a story rather than what it says: "who"/"which outlets", then a
# reporting verb within 80 characters of the line.
_ASKS_WHO = r"\b(?:who|which\s+(?:outlets?|sites?|papers?|publications?|media))\b"
# The verb is looked for only up to the next "who": from there on the later "who" finds it as
# well (its window reaches further), so the answer is the same, and text of nothing but "who"
# no longer has every "who" scan 80 characters (164 ms on 64 KB of "who who …").
_COVERAGE_QUESTION = re.compile(
    _ASKS_WHO + r"(?:(?!" + _ASKS_WHO + r").){0,80}?"
    r"\b(?:first|else|covered|covers|cover|reported|reports|report|broke|wrote)\b"
    r"|\bhow\s+many\s+(?:outlets|sites|papers|publications)\b",
    re.IGNORECASE,
)


def parse_request(text: str) -> tuple[str, str]:
    """Split "summary clearview" or "/summary clearview" into (command, query).

    Anything that does not start with a command word is a question for ``ask``; a leading slash
    and a trailing colon ("summary: …") are forgiven because people type both.
    """
    text = text.strip()
    head, _, rest = text.partition(" ")
    word = head.lstrip("/").rstrip(":").casefold()
    if word in REQUEST_WORDS:
        return word, rest.strip()
    if head.startswith("/") and word:
        return word, rest.strip()  # an unknown "/command": let the caller say it is unknown
    if _COVERAGE_QUESTION.search(text):
        return "coverage", text  # "who reported X first?" is answered by the story, not a quote
    return "ask", text


def parse_day(text: str, *, end: bool = False) -> datetime:
    """A date typed by a person (2020, 2020-08, 2020-08-14) as an aware UTC datetime.

    ``end=True`` gives the last moment of that year, month or day, so "until 2020-08" includes
    all of August. Raises ``ValueError`` with the accepted forms.
    """
    value = text.strip()
    for length, fmt in _DAY_FORMATS:
        if len(value) != length:
            continue
        try:
            start = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            break
        if not end:
            return start
        if fmt == "%Y":
            stop = start.replace(year=start.year + 1)
        elif fmt == "%Y-%m":
            stop = start + timedelta(days=monthrange(start.year, start.month)[1])
        else:
            stop = start + timedelta(days=1)
        return stop - timedelta(microseconds=1)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use 2020-08-14, 2020-08 or 2020") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def name_choices(names: Sequence[str], current: str, limit: int = 25) -> list[str]:
    """Autocomplete for a name option (outlet, topic): prefix matches, then fuzzy ones.

    ``names`` come most common first, which is also the order shown for an empty field.
    """
    folded = current.strip().casefold()
    if not folded:
        return [n[:100] for n in names[:limit]]
    # Prefix matches first, then a word inside the name; one pass, each name folded once
    # (a membership test against the prefix list made it quadratic: 50 ms at 3,000 names).
    starts, words = [], []
    for name in names:
        key = name.casefold()
        if key.startswith(folded):
            starts.append(name)
        elif f" {folded}" in f" {key}":
            words.append(name)
    picked = dict.fromkeys(starts + words)
    if len(picked) < limit:
        for name, _, _ in process.extract(
            folded,
            names,
            scorer=fuzz.WRatio,
            processor=str.casefold,
            limit=limit,
            score_cutoff=70,
        ):
            picked.setdefault(name)
    return [n[:100] for n in list(picked)[:limit]]


# ------------------------------------------------------------------ replies for people
SEARCH_PAGES_LIMIT = 25  # five pages of five: more than anyone pages through in a chat


@dataclass(frozen=True, slots=True)
class Reply:
    """What a person is shown: the first message's cards, all pages, suggestions to offer."""

    command: str
    cards: list[Card]
    pages: list[Card] = field(default_factory=list)
    suggestions: tuple[str, ...] = ()


def reply_for(
    engine: Engine, command: str, query: str, filters: dict[str, Any] | None = None
) -> Reply:
    """The cards for a request, exactly as Discord, DMs and the console show them.

    Search filters (outlet, topic, since, until) apply to ``search`` only; ``latest`` takes an
    optional topic as its query. Suggestions are whole titles (buttons cut them for display).
    ``help`` is not answered here: its card depends on where it is asked (``help_card``).
    """
    if command == "latest":
        return Reply(command, [latest_card(engine.latest(query or None), query or None)])
    if command == "search":
        result = engine.search(query, limit=SEARCH_PAGES_LIMIT, **(filters or {}))
        if result.not_found is not None:
            return _not_found_reply(command, result.not_found)
        pages = search_pages(result)
        return Reply(command, pages[:1], pages)
    answer = run_command(engine, command, query, SEARCH_PAGES_LIMIT)
    if isinstance(answer, NotFound):
        return _not_found_reply(command, answer)
    return Reply(command, answer_cards(answer))


def _not_found_reply(command: str, nf: NotFound) -> Reply:
    return Reply(command, [not_found_card(nf)], suggestions=nf.suggestions)
