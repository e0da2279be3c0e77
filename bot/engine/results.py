"""Typed answers: what the engine returns and every surface (Discord, console, CLI) renders.

No Discord types here; rendering lives in ``bot.render``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.corpus.model import Article

MatchField = str  # "title", "outlet", "topic", "excerpt", "body", "related", "story"


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked article with a calibrated 0–100 ``score`` and the text around the match.

    ``marks`` are (start, end) spans of matched words in ``excerpt``; renderers mark them in
    their own syntax after escaping the corpus text, so untrusted text can't fake a mark.
    """

    article: Article
    score: float
    field: MatchField
    excerpt: str
    marks: tuple[tuple[int, int], ...] = ()

    def marked(
        self, before: str = "**", after: str = "**", escape: Callable[[str], str] = str
    ) -> str:
        """The excerpt with matched words wrapped, every other piece passed through ``escape``."""
        out, pos = [], 0
        for start, end in self.marks:
            out += [escape(self.excerpt[pos:start]), before, escape(self.excerpt[start:end]), after]
            pos = end
        out.append(escape(self.excerpt[pos:]))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class NotFound:
    """Nothing in the coverage answers confidently: say so, with ways forward."""

    query: str
    suggestions: tuple[str, ...] = ()
    first_published: datetime | None = None
    last_published: datetime | None = None
    corrected: str | None = None
    # Why, when the engine can say more than "nothing answers": a named outlet that did not
    # cover the subject, or a story that is covered without what the question asserts. The
    # suggestions are then the closest coverage, never offered as the answer.
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked hits for a query; empty ``hits`` comes with ``not_found``."""

    query: str
    hits: tuple[Hit, ...]
    not_found: NotFound | None = None
    corrected: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryAnswer:
    """The best article and a 2–4 sentence extractive summary of it."""

    query: str
    hit: Hit
    summary: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """An article's place in a story's timeline."""

    article: Article
    first: bool = False


@dataclass(frozen=True, slots=True)
class Story:
    """Articles from several outlets reporting one event, oldest dated first, undated last."""

    id: str
    articles: tuple[Article, ...]
    first: Article | None  # None when no article has a date: an undated article never claims first
    # False for an article the stories don't hold yet (grouping still running at start-up):
    # the other outlets may be missing, and a reader should be told.
    grouped: bool = True

    @property
    def outlets(self) -> tuple[str, ...]:
        """Distinct outlet names in timeline order."""
        return tuple(dict.fromkeys(a.outlet.name for a in self.articles if a.outlet.name))

    def headline(self, matched: Article | None = None) -> Article:
        """The article whose title names the story: ``matched`` when its title is real.

        A scrape without a title is titled by its first sentence ("In a sinister partnership
        that…"), which reads as a lede, not a headline, so such an article names the story only
        when no member has a title a source gave. Otherwise the article the query matched
        (what the user asked about) is kept, then the earliest member with a real title: the
        first report when it has one, as digests title a story.
        """
        if matched is not None and not matched.title_inferred:
            return matched
        real = next((a for a in self.articles if not a.title_inferred), None)
        return real or matched or self.articles[0]


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """Who published the article, when, at which URLs, and who else covered the story."""

    query: str
    hit: Hit
    story: Story


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """A related article and the reason it is related."""

    article: Article
    reason: str  # "listed as related", "same story", "shared topics: AI, Computer Vision" ...
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class RelatedAnswer:
    """What relates to the best article for the query."""

    query: str
    hit: Hit
    items: tuple[RelatedItem, ...]


@dataclass(frozen=True, slots=True)
class Passage:
    """1–3 consecutive sentences quoted from an article."""

    text: str
    article: Article
    score: float


@dataclass(frozen=True, slots=True)
class AskAnswer:
    """The passage that best answers a question, and the article it comes from."""

    query: str
    hit: Hit
    passage: Passage


@dataclass(frozen=True, slots=True)
class CoverageAnswer:
    """The story around the best article: outlets, who was first, the timeline."""

    query: str
    hit: Hit
    story: Story


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An autocomplete choice: ``name`` shown (≤ 100 chars), ``value`` submitted (≤ 100 chars)."""

    name: str
    value: str
    kind: str = "title"  # "title", "outlet", "topic"


Answer = SummaryAnswer | SourceAnswer | RelatedAnswer | AskAnswer | CoverageAnswer | SearchResult


@dataclass(frozen=True, slots=True)
class Filters:
    """Optional restrictions on a search."""

    outlet: str | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
