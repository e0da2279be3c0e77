"""Answers to cards: the embed-shaped blocks that Discord and the console both show.

Corpus text is untrusted, so everything that reaches a card is escaped here, in one place:
Markdown that would break formatting, mentions that could ping, links that aren't http(s),
characters that can't be seen or that reverse the text around them, and every URL is printed
through ``printable_url`` so it cannot end its link early.
Every card fits Discord's embed limits; ``fit_message`` keeps a whole message within them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import overload

from bot.corpus.invisible import strip_invisible
from bot.corpus.loader import LoadStats
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.corpus.model import Article, Problem
from bot.corpus.urls import printable_url
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
from bot.engine.text import possessive

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
EMBEDS_MAX = 10
CONTENT_MAX = 2000
URL_MAX = 2048

COLOUR = 0x2B6CB0
NOT_FOUND_COLOUR = 0x718096
_MARKDOWN = re.compile(r"([\\*_~`|\[\]<>])")
# Block syntax at a line start: headings (#, ##, ###), subtext (-#), bullets ("- ", "+ ");
# quotes and "* " bullets need nothing more, as _MARKDOWN escapes every ">" and "*".
# A piece that ends there is escaped too: "#" as an outlet's name starts the line "# · date".
# Indentation is matched within its own line ([^\S\n]): \s* ran across every later line start,
# quadratic on a run of newlines.
_LINE_START = re.compile(r"(?m)^([^\S\n]*)(#{1,3}|-#|[\-+])(?=\s|$)")
# "1. text" becomes a numbered list; escape the dot, not the number ("\1." shows the slash).
_NUMBERED = re.compile(r"(?m)^([^\S\n]*\d+)\.(?=\s|$)")
_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})")


def escape(text: str) -> str:
    """Escape Markdown that would change formatting, and defuse anything that looks like a ping.

    Mentions never ping anyway (every send uses no allowed mentions); the zero-width space keeps
    "@everyone" from even looking like one. Invisible and bidi characters go first, so none
    can hide or reorder what the escapes protect.
    """
    text = strip_invisible(text)
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    text = _NUMBERED.sub(r"\1\\.", text)
    # "https://" in corpus text would be linked by Discord: a link the corpus chose, not the
    # bot. And Discord ends a masked link at the next "](" whatever escapes it, so corpus text
    # after a link must hold none, or it could move where the link ends.
    text = text.replace("://", "\\://").replace("\\](", "\\]\\(")
    return _MENTION.sub("@\u200b\\1", text)


def defuse(text: str) -> str:
    """Defuse mention-like text only, for plain-text places such as an embed's author.

    Markdown is not rendered there, so escaping it would only show backslashes; invisible and
    bidi characters are removed as everywhere else.
    """
    return _MENTION.sub("@\u200b\\1", strip_invisible(text))


def cut(text: str, limit: int) -> str:
    """Shorten to ``limit`` characters at a word boundary, ending with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    # Never leave a dangling escape backslash or half a mark behind.
    head = head.rstrip("\\ *_~`")
    return head + "…"


def button_label(text: str, limit: int = 80) -> str:
    """Corpus text as a button's label: plain text (no Markdown), visible characters only.

    Discord caps labels at 80 characters; bidi controls would reorder the label's text.
    """
    return cut(strip_invisible(text).strip(), limit) or "…"


# A whole masked link as the renderers write one: escaped text, then a printed URL, which
# never holds brackets, parentheses or white space.
_WHOLE_LINK = re.compile(r"\[(?:\\.|[^\\\[\]])*\]\([^()\s]*\)")
_CLOSED_ANGLE = re.compile(r"<[^<>]*>")


def cut_markdown(text: str, limit: int) -> str:
    """``cut`` for Markdown the renderers wrote, never ending inside one of their links.

    Half a link is not a shorter link: ``[title](https://host/pa…`` shows its brackets and
    links the half URL. Corpus text is escaped, so every unescaped ``[`` or ``<`` here opens a
    link (or a ``<t:…>`` timestamp) the renderers made, and an unfinished one is dropped whole.
    """
    if len(text) <= limit:
        return text
    head = cut(text, limit)[:-1]
    unfinished = [
        start
        for opener, finished in (("[", _WHOLE_LINK.match), ("<", _CLOSED_ANGLE.match))
        if (start := _last_unescaped(head, opener)) != -1 and not finished(head, start)
    ]
    if unfinished:
        head = head[: min(unfinished)].rstrip()
    return head + "…"


def _last_unescaped(text: str, char: str) -> int:
    """Index of the last ``char`` not escaped by a backslash, or -1."""
    at = text.rfind(char)
    while at != -1:
        slashes = len(text[:at]) - len(text[:at].rstrip("\\"))
        if slashes % 2 == 0:
            return at
        at = text.rfind(char, 0, at)
    return -1


def safe_url(url: str | None) -> str | None:
    """The URL as printed (``printable_url``) if it is http(s) and short enough for an embed.

    The printed form is also what an embed's ``url`` gets: a valid URL whatever the corpus held.
    """
    printed = printable_url(url) if url else None  # it strips the URL itself
    return printed if printed is not None and len(printed) <= URL_MAX else None


@dataclass(frozen=True, slots=True)
class CardField:
    """A named block of text under a card's description."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    """One embed's worth of an answer, already escaped and within Discord's limits."""

    title: str
    description: str = ""
    url: str | None = None
    fields: tuple[CardField, ...] = ()
    footer: str = ""
    thumbnail: str | None = None
    timestamp: datetime | None = None
    author: str = ""
    colour: int = COLOUR

    def length(self) -> int:
        """Characters Discord counts toward the 6,000 per message."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + len(self.author)
            + sum(len(f.name) + len(f.value) for f in self.fields)
        )


def make_card(
    title: str,
    description: str = "",
    *,
    url: str | None = None,
    fields: list[tuple[str, str]] | None = None,
    footer: str = "",
    thumbnail: str | None = None,
    timestamp: datetime | None = None,
    author: str = "",
    colour: int = COLOUR,
) -> Card:
    """Build a card, cutting every part to its limit (text must already be escaped)."""
    return Card(
        title=cut(title, TITLE_MAX) or "…",
        description=cut_markdown(description, DESCRIPTION_MAX),
        url=safe_url(url),
        fields=tuple(
            CardField(
                cut(name, FIELD_NAME_MAX) or "\u200b",
                cut_markdown(value, FIELD_VALUE_MAX) or "\u200b",
            )
            for name, value in (fields or [])[:FIELDS_MAX]
        ),
        footer=cut(footer, FOOTER_MAX),
        thumbnail=safe_url(thumbnail),
        timestamp=timestamp,
        author=cut(author, AUTHOR_MAX),
        colour=colour,
    )


def fit_message(cards: list[Card]) -> list[Card]:
    """At most 10 cards whose text totals ≤ 6,000 characters: trims, never rejects."""
    cards = cards[:EMBEDS_MAX]
    while sum(c.length() for c in cards) > EMBED_TOTAL_MAX:
        over = sum(c.length() for c in cards) - EMBED_TOTAL_MAX
        longest = max(range(len(cards)), key=lambda i: cards[i].length())
        card = cards[longest]
        if len(card.description) > 200:
            keep = max(200, len(card.description) - over)
            cards[longest] = replace(card, description=cut_markdown(card.description, keep))
        elif card.fields:
            cards[longest] = replace(card, fields=card.fields[:-1])
        elif len(cards) > 1:
            cards.pop(longest)
        else:
            cards[longest] = replace(
                card, description=cut_markdown(card.description, 100), footer=""
            )
            break
    return cards


# ------------------------------------------------------------------------- answers to cards
def when(article: Article) -> str:
    """Publication time for people: '2020-08-14 17:42 UTC' or 'undated'."""
    return f"{article.published:%Y-%m-%d %H:%M} UTC" if article.published else "undated"


def byline(article: Article) -> str:
    """Outlet and date, escaped."""
    outlet = article.outlet.name or article.outlet.domain or "Unknown outlet"
    return f"{escape(outlet)} · {when(article)}"


# A link whose URL is longer than this is shown as its title alone: a field holds 1,024
# characters, and a line that long could only be shown cut.
LINK_URL_MAX = FIELD_VALUE_MAX // 2
# Discord finds a masked link's end by matching brackets and ignores backslashes while doing it,
# so a title's lone "\[" would unmake the link around it: its brackets are shown as look-alikes.
_LINK_TEXT = str.maketrans("[]", "［］")


def link(article: Article, limit: int = 120) -> str:
    """A Markdown link to the article (or its plain title when it has no safe URL).

    It links the address a source gave (``Article.link``), not the canonical form, which some
    sites do not serve.
    """
    url = safe_url(article.link)
    if url is None or len(url) > LINK_URL_MAX:
        return escape(cut(article.title, limit))
    return f"[{escape(cut(article.title, limit).translate(_LINK_TEXT))}]({url})"


def _why(hit: Hit, other: Article | None = None) -> str:
    """What matched and how surely; ``other``: the match is another article than the title's."""
    where = f"{possessive(defuse(other.outlet.name))} {hit.field}" if other else hit.field
    return f"matched in {where} · confidence {hit.score:.0f}/100"


def answer_cards(answer: Answer | NotFound) -> list[Card]:
    """The cards for any answer; one card for most, several pages' worth for search."""
    if isinstance(answer, NotFound):
        return [not_found_card(answer)]
    if isinstance(answer, SearchResult):
        if answer.not_found is not None:
            return [not_found_card(answer.not_found)]
        return search_pages(answer)[:1]
    article = answer.hit.article
    footer = _why(answer.hit)
    if isinstance(answer, CoverageAnswer):
        # The card names the story: a real headline, never a scrape's first sentence, and
        # its link, outlet and time are that headline's, so the title says where it leads.
        article = answer.story.headline(article)
        if article.id != answer.hit.article.id:
            footer = _why(answer.hit, answer.hit.article)
    base = {
        "url": article.link,
        "thumbnail": article.image.url if article.image else None,
        "timestamp": article.published,
        "author": defuse(article.outlet.name),
        "footer": footer,
    }
    title = escape(article.title)
    if isinstance(answer, SummaryAnswer):
        text = escape(" ".join(answer.summary))
        return [make_card(title, f"{byline(article)}\n\n{text}", **base)]
    if isinstance(answer, AskAnswer):
        quote = "\n".join(f"> {escape(line)}" for line in answer.passage.text.splitlines())
        return [make_card(title, f"{quote}\n\n— {byline(article)}", **base)]
    if isinstance(answer, SourceAnswer):
        fields = [("Published by", byline(article))]
        # Other places the article lives, as given: not its www., tracking or AMP variants.
        printed = dict.fromkeys(safe_url(u) for u in article.links[1:])
        variants = [u for u in printed if u is not None]
        if variants:
            fields.append(("Also at", _url_lines(variants[:5])))
        fields += _story_fields(answer.story, article)
        return [make_card(title, escape(article.excerpt), fields=fields, **base)]
    if isinstance(answer, CoverageAnswer):
        story = answer.story
        count = len(story.articles)
        summary = f"**{count}** article{'s' * (count != 1)} from **{len(story.outlets)}** outlet(s)"
        return [make_card(f"Coverage: {title}", summary, fields=_story_fields(story, None), **base)]
    if isinstance(answer, RelatedAnswer):
        lines = [
            f"• {link(i.article)} — {escape(i.article.outlet.name)} ({escape(i.reason)})"
            for i in answer.items
        ]
        return [
            make_card(f"Related to: {title}", "\n".join(lines) or "Nothing related found.", **base)
        ]
    raise TypeError(f"no card for {type(answer).__name__}")


def _url_lines(urls: list[str]) -> str:
    """Printed URLs as ``<url>`` lines (no preview), as many whole ones as a field holds."""
    lines: list[str] = []
    for url in urls:
        if sum(len(line) + 1 for line in lines) + len(url) + 2 <= FIELD_VALUE_MAX:
            lines.append(f"<{url}>")
    return "\n".join(lines)


STILL_GROUPING = "Still grouping the coverage into stories: ask again shortly for the rest."


def _story_fields(story: Story, current: Article | None) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    if not story.grouped:
        fields.append(("Other outlets", STILL_GROUPING))
    first = story.first
    if first is not None:
        fields.append(("First reported by", f"{link(first)}\n{byline(first)}"))
    others = [a for a in story.articles if current is None or a.id != current.id]
    if others:
        timeline = [f"{when(a)} — {escape(a.outlet.name)}: {link(a, 80)}" for a in others]
        fields.append(("Timeline" if current is None else "Also covered by", "\n".join(timeline)))
    return fields


def search_pages(result: SearchResult, per_page: int = 5) -> list[Card]:
    """Search hits as pages of ``per_page`` fields each, for a paginated view."""
    hits = list(result.hits)
    pages: list[Card] = []
    total = max(1, -(-len(hits) // per_page))
    for number in range(total):
        chunk = hits[number * per_page : (number + 1) * per_page]
        fields = [
            (
                f"{number * per_page + i}. {escape(cut(h.article.title, 200))}",
                f"{link(h.article, 60)} · {byline(h.article)}\n{h.marked(escape=escape)}",
            )
            for i, h in enumerate(chunk, 1)
        ]
        corrected = f" (searched for “{escape(result.corrected)}”)" if result.corrected else ""
        pages.append(
            make_card(
                f"Search: {escape(result.query)}",
                f"{len(hits)} result(s){corrected}",
                fields=fields,
                footer=f"Page {number + 1}/{total}",
            )
        )
    return pages


def not_found_card(nf: NotFound) -> Card:
    """'Not in this coverage', the corpus's date range, and up to 3 suggestions."""
    lines = [f"Nothing in this coverage answers “{escape(cut(nf.query, 200))}”."]
    if nf.first_published and nf.last_published:
        lines.append(
            f"The coverage runs from {nf.first_published:%Y-%m-%d} to {nf.last_published:%Y-%m-%d}."
        )
    if nf.reason:
        lines.append(escape(nf.reason))
    if nf.suggestions:
        label = "Closest coverage" if nf.reason else "Did you mean"
        lines.append(f"{label}:\n" + "\n".join(f"• {escape(s)}" for s in nf.suggestions))
    return make_card(
        "Not in this coverage",
        "\n".join(lines),
        colour=NOT_FOUND_COLOUR,
    )


# ------------------------------------------------------------------------- lists, help, admin
def latest_card(articles: list[Article], topic: str | None = None) -> Card:
    """The newest articles, one line each, newest first."""
    about = f" on {escape(topic)}" if topic else ""
    lines = [f"• {link(a, 100)} — {byline(a)}" for a in articles]
    if not lines:
        lines = [f"No dated coverage{about} yet."]
    return make_card(f"Latest coverage{about}", "\n".join(lines), footer="newest first")


# What each command does, shared by /help, DM "help" and the console's "help".
HELP = (
    ("summary", "the best article and a short summary of it"),
    ("source", "who published it, when, where else it lives, and who was first"),
    ("related", "articles related to it, each with the reason"),
    ("search", "ranked articles (filters: outlet, topic, since, until), a page at a time"),
    ("ask", "the passage that answers a question, quoted with its link"),
    ("coverage", "the whole story: outlets, first report, timeline"),
    ("latest", "the newest articles, optionally on one topic"),
)


def help_card(surface: str = "slash") -> Card:
    """How to use Coverage Bot on a surface: "slash" commands, a "dm" or the "console"."""
    if surface == "slash":
        lines = [f"**/{name}** — {what}" for name, what in HELP]
        intro = (
            "Ask about the coverage this bot reads. Add `private: True` to any command to see "
            "the answer alone."
        )
        outro = "The bot's operators can also use **/corpus** stats, errors and reload."
    else:
        lines = [f"**{name}** … — {what}" for name, what in HELP]
        intro = (
            "Type a question and I quote the passage that answers it, or start with a command "
            "word, e.g. `summary clearview` or `coverage ice contract`."
        )
        outro = "`quit` leaves." if surface == "console" else "Slash commands work here too."
    return make_card("Coverage Bot", "\n".join([intro, "", *lines, "", outro]))


def corpus_stats_card(
    snapshot: CorpusSnapshot,
    stats: LoadStats | None = None,
    stores: Mapping[str, str] | None = None,
) -> Card:
    """/corpus stats: articles, outlets, date range, files and when the corpus was last read.

    ``stores``: how the stores kept beside the database stand ("Search index": "opened"…).
    """
    census = snapshot.census()  # once: a corpus held as objects counts every article
    first, last, outlets = census.first, census.last, census.outlet_counts()
    span = f"{first:%Y-%m-%d} – {last:%Y-%m-%d}" if first and last else "no dates"
    top = "\n".join(f"{n} — {escape(name)}" for name, n in outlets.most_common(10))
    fields = [
        ("Articles", str(len(snapshot.articles))),
        ("Outlets", str(len(outlets))),
        ("Published", span),
        ("Files", str(len(snapshot.files))),
        ("Errors", str(len(snapshot.errors))),
        ("Warnings", str(len(snapshot.warnings))),
        ("Last reloaded", f"{snapshot.loaded_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    if stats is not None:
        fields.append(("Last load", f"{stats.parsed} parsed, {stats.cached} from cache"))
    fields += [(name, escape(state)) for name, state in (stores or {}).items()]
    if top:
        fields.append(("Top outlets", top))
    card = make_card("Corpus", "", fields=fields)
    return replace(
        card, fields=tuple(replace(f, inline=f.name not in ("Top outlets",)) for f in card.fields)
    )


class ProblemPages(Sequence[Card]):
    """/corpus errors: bad files and their reasons, ``per_page`` to a card, each drawn when read.

    At 50,000 errors every page rendered up front was 5,000 cards held by each paginated
    answer for its 5 minutes (218 MiB over 20 calls); this holds only the problem list, which
    is the snapshot's own.
    """

    def __init__(self, problems: Sequence[Problem], per_page: int = 10) -> None:
        self.problems = problems
        self.per_page = per_page

    def __len__(self) -> int:
        return max(1, -(-len(self.problems) // self.per_page))

    @overload
    def __getitem__(self, index: int) -> Card: ...

    @overload
    def __getitem__(self, index: slice) -> list[Card]: ...

    def __getitem__(self, index: int | slice) -> Card | list[Card]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        total = len(self)
        number = index + total if index < 0 else index
        if not 0 <= number < total:
            raise IndexError(f"page {index} of {total}")
        if not self.problems:
            return make_card("Corpus errors", "No file has an error.")
        chunk = self.problems[number * self.per_page : (number + 1) * self.per_page]
        lines = [
            f"`{escape_code(p.path)}{f':{p.line}' if p.line else ''}` — {escape(p.reason)}"
            for p in chunk
        ]
        return make_card(
            f"Corpus errors ({len(self.problems)})",
            "\n".join(lines),
            footer=f"Page {number + 1}/{total}",
        )


def reload_card(snapshot: CorpusSnapshot, changes: ChangeSet, stats: LoadStats) -> Card:
    """/corpus reload: what the re-scan found and changed."""
    return make_card(
        "Corpus reloaded",
        f"{len(snapshot.articles)} articles from {stats.files} files "
        f"({stats.parsed} parsed, {stats.cached} unchanged, {stats.removed} removed).\n"
        f"Articles added {len(changes.added)}, changed {len(changes.changed)}, "
        f"removed {len(changes.removed)}; {len(snapshot.errors)} file error(s).",
    )


def escape_code(text: str) -> str:
    """Text for inside `code` spans: a backtick would end the span early."""
    return strip_invisible(text).replace("`", "ˋ")
