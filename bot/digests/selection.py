"""What a digest holds: coverage new to a subscription that the engine matches with confidence.

"New" means added to the corpus (first seen by the bot) or published after the subscription's
last delivery, and never already delivered to the same target. Pure and synchronous: the
delivery code runs it in a worker thread with everything it needs passed in.

How matching stays cheap and exact (measured in ``bench/digests.py``): every article new to at
least one due subscription goes into one small ``Engine`` built for the run, whose ``published``
field holds the article's *newness* (the later of first seen and published) and which shares
the main engine's vocabulary. So each subscription is a single ordinary ``search`` with
``since=`` its own last delivery: BM25 candidates come only from coverage new to that
subscription (a search of the whole corpus would rank its 40 candidates among old articles and
miss new ones), and the calibrated scores are the main engine's, because the score is computed
from the main vocabulary's IDF weights and the article's own words, not from the small index.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.corpus.articles import articles_of
from bot.corpus.merge import CorpusSnapshot
from bot.digests.models import Digest, DigestItem, StoryGroup, Subscription
from bot.engine.engine import Engine
from bot.engine.index import IndexFilter
from bot.engine.results import SearchResult, Story

# A subscription paused for months, then resumed, gets the last month, not everything since.
MAX_LOOKBACK = timedelta(days=31)
# Hits asked for beyond max_items, so "and N more" can count what didn't fit; when they all
# come back matched, one wider search counts up to COUNT_LIMIT (beyond it: "N+ more").
PROBE = 15
COUNT_LIMIT = 200
_EPSILON = timedelta(microseconds=1)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """One subscription to compute, with the article ids its target must not get again."""

    subscription: Subscription
    exclude: AbstractSet[str] = frozenset()


def effective_since(subscription: Subscription, now: datetime) -> datetime:
    """Where "new" starts for a subscription: its last delivery, at most ``MAX_LOOKBACK`` ago."""
    return max(subscription.since, now - MAX_LOOKBACK)


def oldest_since(subscriptions: Iterable[Subscription], now: datetime) -> datetime:
    """The earliest ``effective_since``: first-seen times after it are all a run needs."""
    return min((effective_since(s, now) for s in subscriptions), default=now)


class NewCoverage:
    """The articles new to at least one subscription of a run, indexed for matching.

    ``first_seen`` maps article ids to when the bot first saw them, for at least every id
    first seen after ``oldest``. Ids it holds that the engine's snapshot lacks are coverage the
    engine hasn't applied yet: ``cutoff`` stops just before the earliest of them, so they stay
    new for the next digest instead of being skipped by this one.
    """

    def __init__(
        self,
        engine: Engine,
        first_seen: Mapping[str, datetime],
        oldest: datetime,
        now: datetime,
    ) -> None:
        self.engine = engine
        self.snapshot: CorpusSnapshot = engine.snapshot
        articles = self.snapshot.articles
        # Read together, from this snapshot (saved articles are rows: one query a batch).
        seen_since = {i: t for i, t in first_seen.items() if t > oldest}
        held = articles_of(articles, seen_since)
        lagging = [t for i, t in seen_since.items() if i not in held]
        self.cutoff = min(now, min(lagging) - _EPSILON) if lagging else now
        self.lagging = len(lagging)
        newness: dict[str, datetime] = {}
        for article_id, seen in seen_since.items():
            article = held.get(article_id)
            if article is not None:
                newness[article_id] = max(seen, article.published or _NEVER)
        published = [i for i in engine.ids_published_since(oldest) if i not in newness]
        new = articles_of(articles, published)
        held.update(new)
        for article in new.values():
            when = article.published
            if when is not None and when > oldest:  # as this snapshot has it
                newness[article.id] = max(when, first_seen.get(article.id, _NEVER))
        self.newness = newness
        self._sorted = sorted(newness.values())
        self._filters: dict[tuple[str | None, str | None], IndexFilter] = {}
        self._searches: dict[tuple[object, ...], SearchResult] = {}
        self.index: Engine | None = None
        if newness:
            shadow = {i: held[i]._replace(published=t) for i, t in newness.items()}
            # Scores are the main engine's: same IDF weights and typo corrections, and queries
            # are read as the main engine reads them (its outlets, not only those with news).
            self.index = Engine(
                CorpusSnapshot(articles=shadow, files={}),
                stories=False,
                vocabulary=engine.vocabulary,
                reader=engine.reader,
            )

    def __len__(self) -> int:
        return len(self.newness)

    def count_after(self, since: datetime) -> int:
        """How many indexed articles are new to a subscription last delivered at ``since``."""
        return len(self._sorted) - bisect.bisect_right(self._sorted, since)

    def is_new(self, article_id: str, since: datetime) -> bool:
        """Added or published after ``since``."""
        newness = self.newness.get(article_id)
        return newness is not None and newness > since

    def _filter(self, outlet: str | None, topic: str | None, since: datetime) -> IndexFilter:
        """The index filter for a subscription, its names resolved by the main engine once.

        Resolving against the run's index instead would fuzzy-match an outlet with nothing new
        to another outlet that has news.
        """
        base = self._filters.get((outlet, topic))
        if base is None:
            made = self.engine.index_filter(outlet, topic, None, None) or IndexFilter()
            base = self._filters[(outlet, topic)] = made
        return replace(base, since=since)

    def digest(self, request: DigestRequest, now: datetime) -> Digest:
        """The digest for one subscription (empty when nothing new matches)."""
        sub = request.subscription
        since = effective_since(sub, now)
        base = Digest(sub.id, sub.query, since, self.cutoff, outlet=sub.outlet, topic=sub.topic)
        if self.index is None or self.count_after(since) == 0:
            return base
        flt = self._filter(sub.outlet, sub.topic, since)
        limit = sub.max_items + PROBE
        result = self._search(sub.query, flt, limit)
        if len(result.hits) >= limit:  # a burst: count the rest properly, up to COUNT_LIMIT
            limit = COUNT_LIMIT
            result = self._search(sub.query, flt, limit)
        exclude = request.exclude
        articles = self.snapshot.articles
        items = [
            DigestItem(articles[h.article.id], h.score)
            for h in result.hits
            if h.article.id not in exclude and self.is_new(h.article.id, since)
        ]
        if not items:
            return base
        groups = self._group(items, since, exclude)
        shown, more = _cap(groups, sub.max_items)
        probe_full = len(result.hits) >= limit
        return Digest(
            sub.id,
            sub.query,
            since,
            self.cutoff,
            tuple(shown),
            more,
            outlet=sub.outlet,
            topic=sub.topic,
            more_at_least=probe_full and more > 0,
        )

    def _search(self, query: str, flt: IndexFilter, limit: int) -> SearchResult:
        """One search per distinct request, shared by subscriptions asking the same.

        Subscriptions delivered in one run share a cut-off, so after their first digest a
        popular query is matched once per run, not once per channel.
        """
        key = (query, flt, limit)
        result = self._searches.get(key)
        if result is None:
            assert self.index is not None
            result = self._searches[key] = self.index.search_filtered(query, flt, limit)
        return result

    def _group(
        self, items: list[DigestItem], since: datetime, exclude: AbstractSet[str]
    ) -> list[StoryGroup]:
        by_story: dict[str, tuple[Story, list[DigestItem]]] = {}
        for item in items:
            story = self.engine.story_of(item.article)  # the main engine's stories
            by_story.setdefault(story.id, (story, []))[1].append(item)
        groups = []
        for story, members in by_story.values():
            new_story = all(
                self.is_new(a.id, since) and a.id not in exclude for a in story.articles
            )
            members.sort(key=lambda i: (i.article.published or _NEVER, i.article.id))
            groups.append(
                StoryGroup(
                    story.id,
                    tuple(members),
                    story.outlets,
                    story.first,
                    new_story,
                    len(story.articles),
                )
            )
        # New stories first, then stories that gained coverage; best match first within each.
        groups.sort(key=lambda g: (not g.new_story, -g.score, g.story_id))
        return groups


def _cap(groups: list[StoryGroup], max_items: int) -> tuple[list[StoryGroup], int]:
    """Whole groups while they fit ``max_items``, then part of the next; the rest counted."""
    shown: list[StoryGroup] = []
    room = max_items
    total = sum(len(g.items) for g in groups)
    for group in groups:
        if room <= 0:
            break
        if len(group.items) <= room:
            shown.append(group)
            room -= len(group.items)
        else:
            best = sorted(group.items, key=lambda i: -i.score)[:room]
            kept = tuple(i for i in group.items if i in best)
            shown.append(replace(group, items=kept))
            room = 0
    return shown, total - sum(len(g.items) for g in shown)


def compute_digests(
    engine: Engine,
    requests: Sequence[DigestRequest],
    first_seen: Mapping[str, datetime],
    now: datetime,
) -> dict[int, Digest]:
    """Every requested subscription's digest, sharing one index of new coverage.

    ``first_seen`` must hold every id first seen after ``oldest_since`` of the requests.
    """
    if not requests:
        return {}
    coverage = NewCoverage(
        engine, first_seen, oldest_since((r.subscription for r in requests), now), now
    )
    return {r.subscription.id: coverage.digest(r, now) for r in requests}
