"""Story clusters: articles from several outlets that report one event.

Each article becomes a set of stemmed content words (title, alternative titles, excerpt and the
start of the body) weighted by inverse document frequency, title words counting double. The
score of a pair is the IDF-weighted cosine of those sets, plus up to ``title_bonus`` for
near-identical titles and ``related_bonus`` when one lists the other under ``related:``.

Two dated articles are *linked* when they were published within ``window_days`` of each other
and score at least ``threshold``. A linked component is then cut by average linkage: groups merge
only while the mean score over all their pairs stays at ``merge_threshold`` or above, so one
pair of similar headlines cannot chain two stories together. An undated article keeps only its
single best link (scoring at least ``undated_threshold``), whatever its date would have been:
it joins that story, cannot bridge two stories, and never claims to be first.

Why these rules (measured on the 2020 smartable corpus, see the tests for the seeds):

* IDF weighting is what separates "ICE signs Clearview AI contract" coverage from other facial
  recognition pieces: the shared generic words ("facial", "recognition") weigh little, the rare
  names ("Clearview", "ICE", "$224,000") weigh a lot.
* A ``related:`` link is a bonus, never a link by itself: the related lists in real feeds mix
  same-story and merely topical articles.
* Single links alone merged "UK and Australia probe Clearview" with "Clearview leaves Canada",
  and "ACLU sues Clearview" with "Chicago police drop Clearview"; average linkage keeps them
  apart and still keeps the 25 articles on the South Wales police ruling together.
* Candidates come from an inverted index: an article is posted under its rare words and looks
  up its *keys* (its ``max_keys`` rarest words that some other article has, title words
  favoured), reading postings only within the window; a candidate must share two keys. There
  are never all-pairs comparisons, so a build is near-linear and an update scores only the new
  articles against their candidates.
* Scores always use the current IDF (cached until the next update), so an update scores pairs
  as a fresh build would. Keys and links chosen at older frequencies are refreshed by a full
  rebuild once updates have touched ``rebuild_ratio`` of the corpus (built aside, then swapped
  in).

IDF uses ``max(documents, min_documents)`` as the corpus size, so in a tiny corpus (a handful
of seed files, where every word looks common) shared words still count.

Known limits: templated press releases that differ only in a product name ("How Will <X>
Market Deal with the COVID-19 Crisis?") cluster together; in a corpus of nothing but one
company's coverage its name is not rare, and its distinct stories in one week can merge.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import marshal
import math
import threading
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from rapidfuzz import fuzz

from bot.corpus.cache import paused_gc
from bot.corpus.model import Article
from bot.engine.results import Story
from bot.engine.text import content_words

_DAY = 86_400.0
_TITLE_BOOST = 2.0
# Enough of a body to carry the lede without letting a long scrape's boilerplate dilute it.
_BODY_WORDS = 60
# Bumped when ``export_state``'s layout, or what ``_Doc`` holds, changes.
_STATE_FORMAT = 3  # 3: docs keep their words' source, not the article
FREEZE_AFTER = 10_000  # objects built at once before they leave the GC's sight (see ``from_state``)
_CHUNK_ITEMS = 2_000  # items a record: at 100,000 articles 0.24 ms to load (median), 33 max
# The grouping's dicts, kept as they are (``export_state``).
_DICT_FIELDS = (
    "_postings",
    "_undated_postings",
    "_edges",
    "_best",
    "_component",
    "_members",
    "_component_stories",
    "_story_label",
    "_story_members",
)
_STEMS: dict[str, str] = {}


def _stem(word: str) -> str:
    """A light suffix stripper so "signs"/"signed" and "investigate"/"investigated" meet.

    Single characters stem to "" (dropped). Results are memoised: a corpus has far fewer
    distinct words than tokens.
    """
    stem = _STEMS.get(word)
    if stem is not None:
        return stem
    stem = word if len(word) > 1 else ""
    if len(stem) > 4 and stem.endswith("ies"):
        stem = stem[:-3] + "y"
    elif len(stem) > 3 and stem[-1] == "s" and not stem.endswith(("ss", "us", "is")):
        stem = stem[:-1]
    if len(stem) > 5 and stem.endswith("ing"):
        stem = stem[:-3]
    elif len(stem) > 4 and stem.endswith("ed"):
        stem = stem[:-2]
    if len(stem) > 4 and stem[-1] == "e":
        stem = stem[:-1]
    if len(_STEMS) > 1_000_000:  # a bound for pathological vocabularies
        _STEMS.clear()
    _STEMS[word] = stem
    return stem


def _terms(words: list[str]) -> set[str]:
    get = _STEMS.get
    out = {get(w) or _stem(w) for w in set(words)}
    out.discard("")
    return out


def article_terms(article: Article) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The distinct words clustering compares: (title words, other words), disjoint.

    An inferred title is only the first sentence of the text, so it gets no title boost.
    Tuples, not sets: a build holds every article's words at once (a 40-word frozenset is
    ~2 KB, the tuple ~0.4 KB).
    """
    titles = content_words(" \n ".join((article.title, *article.alt_titles)))
    rest = _terms(content_words(article.excerpt))
    if article.title_inferred:
        title: set[str] = set()
        rest |= _terms(titles)
    else:
        title = _terms(titles)
    taken = 0
    for paragraph in article.body:
        words = content_words(paragraph)
        rest |= _terms(words[: _BODY_WORDS - taken])
        taken += len(words)
        if taken >= _BODY_WORDS:
            break
    return tuple(title), tuple(rest - title)


def words_source(article: Article) -> int:
    """A fingerprint of the fields ``article_terms`` reads, stable across processes.

    A doc keeps it instead of the article itself: articles are read from the database when
    asked for (``bot.corpus.articles``), so two reads of one are equal, not the same object.
    """
    digest = hashlib.blake2b(digest_size=8)
    # The counts first, so no text moved from one field to the next hashes the same.
    counts = (len(article.alt_titles), len(article.body), article.title_inferred)
    digest.update(repr(counts).encode())
    for part in (article.title, *article.alt_titles, article.excerpt, *article.body):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return int.from_bytes(digest.digest(), "big")


class _Features(NamedTuple):
    """What a ``_Doc`` is made of: an article's words and the few fields clustering reads."""

    title: tuple[str, ...]
    rest: tuple[str, ...]
    published: datetime | None
    outlet: str
    related: tuple[str, ...]
    source: int

    @classmethod
    def of(
        cls, article: Article, title: tuple[str, ...], rest: tuple[str, ...], source: int
    ) -> _Features:
        outlet = (article.outlet.domain or article.outlet.name).casefold()
        return cls(title, rest, article.published, outlet, article.related, source)


@dataclass(slots=True)
class _Doc:
    """One article as clustering sees it: its words, title words counting double.

    Plain dicts and tuples rather than sets: at 100,000 articles a frozenset per field cost
    ~3 KB an article, the dict ~1 KB.
    """

    id: str
    # What the words were read from (``words_source``): a rebuild reuses them if unchanged.
    source: int
    ts: float  # POSIX seconds; meaningless when not ``dated``
    dated: bool
    terms: dict[str, float]  # word -> its boost: ``_TITLE_BOOST`` for title words, else 1
    norm: float  # the length of its IDF-weighted word vector, as of ``epoch``
    epoch: int
    title_key: str
    outlet: str
    related: tuple[str, ...]
    keys: tuple[str, ...] = ()


class StoryIndex:
    """Clusters articles into stories and keeps the clusters current as the corpus changes.

    ``update`` calls must not overlap. Reads (``story_of``, ``stories``) from other threads wait
    while an update applies and then see its result; a rebuild is built aside, so during one
    they wait only for the swap.
    """

    def __init__(
        self,
        window_days: float = 4.0,
        *,
        threshold: float = 0.3,
        merge_threshold: float = 0.2,
        undated_threshold: float = 0.3,
        related_bonus: float = 0.08,
        title_bonus: float = 0.1,
        same_outlet_penalty: float = 0.1,
        max_keys: int = 12,
        min_documents: int = 100,
        rebuild_ratio: float = 0.2,
        dense_limit: int = 150,
    ) -> None:
        """Set the rules; the module docstring says what each weighs.

        ``window_days``: the most two dated articles of one story may be apart to link.
        ``threshold``: the pair score that links two dated articles.
        ``merge_threshold``: the mean pair score two linked groups need to be one story.
        ``undated_threshold``: the score an undated article's best link must reach.
        ``related_bonus`` / ``title_bonus``: added for a ``related:`` link / a near-identical
        title (scaled by how near).
        ``same_outlet_penalty``: taken off when both come from one outlet, which rarely runs
        two pieces on one event unless one repeats the other (and then scores far higher).
        ``max_keys``: how many of an article's rarest words look for candidates.
        ``min_documents``: the smallest corpus size IDF assumes.
        ``rebuild_ratio``: rebuild from scratch once updates have touched this fraction of
        the corpus: keys and links chosen at earlier frequencies are refreshed.
        ``dense_limit``: the largest linked component whose unlinked pairs are scored too.
        """
        self.window = window_days * _DAY
        self.threshold = threshold
        self.merge_threshold = merge_threshold
        self.undated_threshold = undated_threshold
        self.related_bonus = related_bonus
        self.title_bonus = title_bonus
        self.same_outlet_penalty = same_outlet_penalty
        self.max_keys = max_keys
        self.min_documents = min_documents
        self.rebuild_ratio = rebuild_ratio
        self.dense_limit = dense_limit
        self._few_keys = max_keys // 2
        self._options = {
            "window_days": window_days,
            "threshold": threshold,
            "merge_threshold": merge_threshold,
            "undated_threshold": undated_threshold,
            "related_bonus": related_bonus,
            "title_bonus": title_bonus,
            "same_outlet_penalty": same_outlet_penalty,
            "max_keys": max_keys,
            "min_documents": min_documents,
            "rebuild_ratio": rebuild_ratio,
            "dense_limit": dense_limit,
        }
        self._lock = threading.RLock()
        self._reset({})

    def _reset(self, articles: Mapping[str, Article]) -> None:
        self._articles: Mapping[str, Article] = articles
        self._docs: dict[str, _Doc] = {}
        self._few: set[str] = set()  # articles with fewer than ``_few_keys`` keys
        self._df: Counter[str] = Counter()
        # word -> (publication times ascending, article ids) for dated articles, and word ->
        # ids for undated ones, under words no commoner than ``_key_limit``. Entries of
        # removed or changed articles stay until the next rebuild and are skipped.
        self._postings: dict[str, tuple[list[float], list[str]]] = {}
        self._undated_postings: dict[str, list[str]] = {}
        self._edges: dict[str, dict[str, float]] = {}
        self._best: dict[str, tuple[float, str]] = {}  # undated id -> (score, its one link)
        # Linked components of the graph, and the stories each was cut into.
        self._component: dict[str, int] = {}
        self._members: dict[int, list[str]] = {}
        self._component_stories: dict[int, list[int]] = {}
        self._story_label: dict[str, int] = {}
        self._story_members: dict[int, list[str]] = {}
        self._stories: dict[int, Story] = {}
        self._next_label = 0
        # IDF of words as of ``_epoch``, which every update that changes frequencies bumps;
        # pair scores always use the current IDF, so incremental updates do not drift.
        self._epoch = 0
        self._idf_cache: dict[str, float] = {}
        self._built_size = 0
        self._churn = 0

    # -- public API ------------------------------------------------------------------------

    @classmethod
    def build(cls, articles: Mapping[str, Article], **options: Any) -> StoryIndex:
        """Cluster a whole corpus (``options`` as for the constructor)."""
        index = cls(**options)
        index.rebuild(articles)
        return index

    def rebuild(self, articles: Mapping[str, Article]) -> None:
        """Forget everything and cluster ``articles`` from scratch.

        The new clusters are built aside and swapped in, so readers wait only for the swap.
        """
        fresh = StoryIndex(**self._options)
        # A build allocates millions of small containers and frees none; pausing the cyclic
        # collector meanwhile saved a fifth of the time at 100,000 articles.
        with paused_gc():
            fresh._build(articles, self._docs)
        state = {k: v for k, v in vars(fresh).items() if k != "_lock"}
        with self._lock:
            vars(self).update(state)
        _freeze_if_large(len(fresh._docs))

    def _build(self, articles: Mapping[str, Article], known: Mapping[str, _Doc]) -> None:
        # Articles unchanged since they were last read (in ``known``) keep their words: a
        # rebuild after many updates then tokenizes only what changed.
        # Each article is read once, and only its features are held, not the article.
        self._reset(articles)
        features = {}
        for aid, article in articles.items():
            source = words_source(article)
            old = known.get(aid)
            if old is not None and old.source == source:
                words = old.terms.items()
                title = tuple(t for t, boost in words if boost != 1.0)
                rest = tuple(t for t, boost in words if boost == 1.0)
            else:
                title, rest = article_terms(article)
            features[aid] = _Features.of(article, title, rest, source)
        df = self._df
        for feats in features.values():
            df.update(feats.title)
            df.update(feats.rest)
        for t in df:
            self._weight(t)
        limit = self._key_limit()
        docs = self._docs
        for aid, feats in features.items():
            docs[aid] = self._make_doc(aid, feats, limit)
        self._few = {aid for aid, doc in docs.items() if len(doc.keys) < self._few_keys}
        self._edges = {aid: {} for aid in docs}
        # Post in time order, so every posting list comes out sorted by time.
        dated: defaultdict[str, list[str]] = defaultdict(list)
        undated: defaultdict[str, list[str]] = defaultdict(list)
        rare = {t for t, count in df.items() if count <= limit}
        for doc in sorted(docs.values(), key=lambda d: d.ts):
            posting = dated if doc.dated else undated
            for t in doc.terms.keys() & rare:
                posting[t].append(doc.id)
        when = {aid: doc.ts for aid, doc in docs.items()}.__getitem__
        self._postings = {t: (list(map(when, ids)), ids) for t, ids in dated.items()}
        self._undated_postings = dict(undated)
        self._built_size = len(self._docs)
        for aid in sorted(self._docs):
            self._link(self._docs[aid], building=True)
        self._components(list(self._docs))

    def update(
        self,
        articles: Mapping[str, Article],
        added: Iterable[str],
        changed: Iterable[str],
        removed: Iterable[str],
    ) -> None:
        """Follow a corpus change; ``articles`` is the new snapshot's mapping.

        Only new and changed articles are scored, against their candidates; a removal
        re-cuts only the story it leaves. Once updates have touched ``rebuild_ratio`` of the
        corpus this rebuilds instead.
        """
        added, changed, removed = set(added), set(changed), set(removed)
        # "Added" again (a catch-up from a rest names what it holds so): taken as changed, and
        # counted once, or the churn would bring the full rebuild twice as early.
        again = added & self._docs.keys()
        added -= again
        changed |= again
        self._churn += len(added) + len(changed) + len(removed)
        if self._churn > self.rebuild_ratio * max(self._built_size, self.min_documents):
            self.rebuild(articles)
            return
        with self._lock:
            dirty: set[str] = set()
            orphans: set[str] = set()  # undated articles whose one link went away
            for aid in removed | changed:
                self._remove_doc(aid, dirty, orphans)
            self._articles = articles
            fresh = []
            limit = self._key_limit()
            for aid in sorted(added | changed):
                article = articles.get(aid)
                if article is None or aid in self._docs:
                    continue
                title, rest = article_terms(article)
                self._df.update(title)
                self._df.update(rest)
                feats = _Features.of(article, title, rest, words_source(article))
                doc = self._make_doc(aid, feats, limit)
                self._add_doc(doc)
                fresh.append(doc)
            # Word weights follow the new document frequencies from here on.
            self._epoch += 1
            self._idf_cache = {}
            for doc in fresh:
                dirty |= self._link(doc)
                dirty.add(doc.id)
            for aid in sorted(orphans):
                doc = self._docs.get(aid)
                if doc is not None and aid not in self._best:
                    dirty |= self._link(doc)
                    dirty.add(aid)
            self._components(sorted(aid for aid in dirty if aid in self._docs))

    def story_of(self, article_id: str) -> Story:
        """The story an article belongs to; a story of one when no one else reports it.

        Raises ``KeyError`` for an article the index does not hold.
        """
        with self._lock:
            label = self._story_label[article_id]
            story = self._stories.get(label)
            if story is None:
                story = self._stories[label] = self._story(self._story_members[label])
            return story

    def stories(self) -> Iterator[Story]:
        """Every story, most articles first, then by first publication."""
        with self._lock:
            found = [self.story_of(group[0]) for group in self._story_members.values()]
        found.sort(key=lambda s: (-len(s.articles), _timeline_key(s.articles[0])))
        yield from found

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._docs

    # -- scoring ---------------------------------------------------------------------------

    def _size(self) -> int:
        return max(len(self._docs), len(self._articles))

    def _key_limit(self) -> int:
        """Words in more articles than this are too common to look for story-mates with."""
        return max(64, self._size() // 100)

    def _make_doc(self, aid: str, feats: _Features, limit: int) -> _Doc:
        title, rest, published = feats.title, feats.rest, feats.published
        # Keys: the rarest words some other article also has, a title word counting as half
        # as common (names and the event are in the title); ties by spelling, so the choice
        # does not depend on set order.
        df = self._df.__getitem__
        heads = [t for t in sorted(sorted(title), key=df) if df(t) > 1]
        tails = [t for t in sorted(sorted(rest), key=df) if df(t) > 1]
        keys = []
        h = r = 0
        while len(keys) < self.max_keys:
            if h < len(heads) and (r == len(tails) or df(heads[h]) <= 2 * df(tails[r])):
                t, h = heads[h], h + 1
            elif r < len(tails):
                t, r = tails[r], r + 1
            else:
                break
            if df(t) <= limit:
                keys.append(t)
        return _Doc(
            id=aid,
            source=feats.source,
            ts=published.timestamp() if published is not None else 0.0,
            dated=published is not None,
            terms=dict.fromkeys(rest, 1.0) | dict.fromkeys(title, _TITLE_BOOST),
            norm=0.0,
            epoch=-1,
            title_key=" ".join(sorted(title)),
            outlet=feats.outlet,
            related=feats.related,
            keys=tuple(keys),
        )

    def _add_doc(self, doc: _Doc) -> None:
        """Hold ``doc`` and post it under its rare words (one article of an update)."""
        self._docs[doc.id] = doc
        if len(doc.keys) < self._few_keys:
            self._few.add(doc.id)
        self._edges[doc.id] = {}
        df, limit = self._df, self._key_limit()
        for t in doc.terms:
            if df[t] > limit:
                continue
            if not doc.dated:
                self._undated_postings.setdefault(t, []).append(doc.id)
                continue
            posting = self._postings.get(t)
            if posting is None:
                self._postings[t] = ([doc.ts], [doc.id])
                continue
            times, ids = posting
            at = bisect_right(times, doc.ts)
            times.insert(at, doc.ts)
            ids.insert(at, doc.id)

    def score(self, a: _Doc, b: _Doc, floor: float = -1.0) -> float:
        """How strongly two articles look like one story, dates aside.

        When even the bonuses could not lift the word overlap to ``floor``, the overlap alone
        is returned (the caller only needed to know it falls short).
        """
        cache, weight, ta, tb = self._idf_cache, self._weight, a.terms, b.terms
        dot = 0.0
        for t in ta.keys() & tb.keys():
            w = cache.get(t) or weight(t)
            dot += w * w * ta[t] * tb[t]
        value = dot / (self._norm(a) * self._norm(b)) if dot else 0.0
        if value + self.title_bonus + self.related_bonus < floor:
            return value
        if a.title_key and b.title_key:
            near = fuzz.ratio(a.title_key, b.title_key, score_cutoff=70)
            if near:
                value += self.title_bonus * (near - 70) / 30
        if a.id in b.related or b.id in a.related:
            value += self.related_bonus
        if a.outlet and a.outlet == b.outlet:
            value -= self.same_outlet_penalty
        return value

    def _weight(self, term: str) -> float:
        """A word's IDF (BM25's smoothed form), kept until an update changes frequencies."""
        n = max(self._size(), self.min_documents) + 0.5
        df = self._df.get(term, 0) + 0.5
        value = self._idf_cache[term] = math.log(1.0 + (n - df) / df)
        return value

    def _norm(self, doc: _Doc) -> float:
        """The length of ``doc``'s weighted word vector at the current frequencies."""
        if doc.epoch != self._epoch:
            cache, weight = self._idf_cache, self._weight
            total = 0.0
            for t, boost in doc.terms.items():
                w = (cache.get(t) or weight(t)) * boost
                total += w * w
            doc.norm = math.sqrt(total) or 1.0
            doc.epoch = self._epoch
        return doc.norm

    def _candidates(self, doc: _Doc) -> tuple[set[str], set[str]]:
        """Articles that might share ``doc``'s story: (found by keys, listed as related).

        Articles are posted under all their rare words, even those no other article has yet
        (the first report of a story must be found by the next), and looked up by their keys.
        A candidate must hold two of ``doc``'s keys, or one when either article has few keys
        (a short title-only item): chance neighbours rarely share two rare words, story-mates
        share names and event words. Only articles within the window count when ``doc`` is
        dated.
        """
        found: list[str] = []
        postings = self._postings
        undated = self._undated_postings
        window = self.window
        for t in doc.keys:
            posting = postings.get(t)
            if posting is not None:
                times, ids = posting
                if doc.dated:
                    lo = bisect_left(times, doc.ts - window)
                    hi = bisect_right(times, doc.ts + window)
                    found += ids[lo:hi]
                else:
                    found += ids
            more = undated.get(t)
            if more:
                found += more
        if len(doc.keys) < self._few_keys:
            by_keys = set(found)
        else:
            counts = Counter(found)
            by_keys = {cid for cid, hits in counts.items() if hits > 1}
            by_keys |= self._few & counts.keys()
        by_keys.discard(doc.id)
        return by_keys, set(doc.related).difference(by_keys, (doc.id,))

    def _link(self, doc: _Doc, *, building: bool = False) -> set[str]:
        """Score ``doc`` against its candidates and record the links it earns.

        Returns the ids whose stories must be re-cut. While building, articles are linked in
        id order and a pair is scored once: a candidate with a smaller id whose own keys found
        ``doc`` has scored it already.
        """
        docs, edges = self._docs, self._edges
        touched: set[str] = set()
        best: tuple[float, str] | None = None
        mine = edges[doc.id]
        by_keys, related = self._candidates(doc)
        if building:
            few = self._few
            doc_few = doc.id in few
            for cid in [c for c in by_keys if c < doc.id]:
                other = docs[cid]
                hits = len(doc.terms.keys() & other.keys)
                if hits > 1 or (hits and (doc_few or cid in few)):
                    by_keys.discard(cid)
        for cid in by_keys | related:
            other = docs.get(cid)
            if other is None:
                continue
            if doc.dated and other.dated:
                if abs(doc.ts - other.ts) > self.window or cid in mine:
                    continue
                value = self.score(doc, other, self.threshold)
                if value >= self.threshold:
                    mine[cid] = value
                    edges[cid][doc.id] = value
                continue
            value = self.score(doc, other, self.undated_threshold)
            if not doc.dated and (best is None or (value, cid) > best):
                best = (value, cid)
            if not other.dated:
                touched |= self._offer(other, value, doc.id)
        if best is not None:
            touched |= self._offer(doc, *best)
        return touched

    def _offer(self, undated: _Doc, value: float, target: str) -> set[str]:
        """Make ``target`` an undated article's one link if it beats the current one."""
        if value < self.undated_threshold:
            return set()
        current = self._best.get(undated.id)
        if current is not None and (value, target) <= current:
            return set()
        touched = {undated.id, target}
        if current is not None:
            old = current[1]
            self._edges[undated.id].pop(old, None)
            if old in self._edges:
                self._edges[old].pop(undated.id, None)
            touched.add(old)
        self._best[undated.id] = (value, target)
        self._edges[undated.id][target] = value
        self._edges[target][undated.id] = value
        return touched

    def _remove_doc(self, aid: str, dirty: set[str], orphans: set[str]) -> None:
        doc = self._docs.pop(aid, None)
        if doc is None:
            return
        self._few.discard(aid)
        self._df.subtract(doc.terms.keys())
        for t in doc.terms:
            if self._df[t] <= 0:
                del self._df[t]
        component = self._component.pop(aid, None)
        if component is not None:
            dirty.update(m for m in self._drop_component(component) if m != aid)
        self._story_label.pop(aid, None)
        for neighbour in self._edges.pop(aid, {}):
            self._edges[neighbour].pop(aid, None)
            link = self._best.get(neighbour)
            if link is not None and link[1] == aid:
                del self._best[neighbour]
                orphans.add(neighbour)
        self._best.pop(aid, None)
        orphans.discard(aid)

    # -- components and stories ------------------------------------------------------------

    def _drop_component(self, component: int) -> list[str]:
        """Forget a component and its stories; returns its members for re-labelling."""
        for label in self._component_stories.pop(component, ()):
            self._story_members.pop(label, None)
            self._stories.pop(label, None)
        return self._members.pop(component, [])

    def _components(self, start: list[str]) -> None:
        """Re-label the linked components reachable from ``start`` and cut them into stories.

        Every member of a component that loses its label is re-labelled too, so a component
        that fell apart yields one component per part.
        """
        seen: set[str] = set()
        edges, labels = self._edges, self._component
        pending = list(reversed(start))
        while pending:
            root = pending.pop()
            if root in seen or root not in edges:
                continue
            members = [root]
            seen.add(root)
            stack = [root]
            while stack:
                for neighbour in edges[stack.pop()]:
                    if neighbour not in seen:
                        seen.add(neighbour)
                        members.append(neighbour)
                        stack.append(neighbour)
            component = self._next_label
            self._next_label += 1
            for m in members:
                old = labels.get(m)
                if old is not None and old in self._members:
                    pending.extend(self._drop_component(old))
                labels[m] = component
            self._members[component] = members
            story_labels = []
            for group in self._split(members):
                label = self._next_label
                self._next_label += 1
                story_labels.append(label)
                self._story_members[label] = group
                self._stories.pop(label, None)
                for m in group:
                    self._story_label[m] = label
            self._component_stories[component] = story_labels

    def _split(self, members: list[str]) -> list[list[str]]:
        """Cut a linked component into stories by average linkage.

        Two groups of dated articles merge while they are linked and the mean score over all
        their pairs is at least ``merge_threshold``, best pair first. Undated articles then
        follow their one link into the group it leads to.
        """
        docs, edges = self._docs, self._edges
        dated = sorted(m for m in members if docs[m].dated)
        if len(dated) <= 2:
            return [members]
        n = len(dated)
        position = {m: i for i, m in enumerate(dated)}
        sums: list[dict[int, float]] = [{} for _ in range(n)]  # group -> group -> score total
        linked: list[set[int]] = [set() for _ in range(n)]
        dense = n <= self.dense_limit
        for i, a in enumerate(dated):
            for b, value in edges[a].items():
                j = position.get(b)
                if j is not None:
                    linked[i].add(j)
                    if not dense:
                        sums[i][j] = value
        if dense:
            # Every pair counts at its score now, dates aside (unlinked ones too), so a story
            # that runs past one window stays whole; past the limit, unlinked pairs count as
            # zero and links at the score they were made with (the cost is n²).
            for i in range(n):
                row, doc = sums[i], docs[dated[i]]
                for j in range(i + 1, n):
                    value = self.score(doc, docs[dated[j]])
                    if value > 0 or j in linked[i]:
                        row[j] = sums[j][i] = value
        size = [1] * n
        version = [0] * n
        parent = list(range(n))
        heap = [(-sums[i][j], i, j, 0, 0) for i in range(n) for j in linked[i] if j > i]
        heapq.heapify(heap)
        while heap:
            negative, i, j, vi, vj = heapq.heappop(heap)
            if -negative < self.merge_threshold:
                break
            if parent[i] != i or parent[j] != j or version[i] != vi or version[j] != vj:
                continue  # a group changed since this pair was queued
            parent[j] = i
            version[i] += 1
            size[i] += size[j]
            row = sums[i]
            row.pop(j, None)
            for k, value in sums[j].items():
                if k != i:
                    total = row[k] = row.get(k, 0.0) + value
                    sums[k].pop(j, None)
                    sums[k][i] = total
            sums[j] = {}
            for k in linked[j]:
                if k != i:
                    linked[k].discard(j)
                    linked[k].add(i)
                    linked[i].add(k)
            linked[i].discard(j)
            linked[j] = set()
            for k in linked[i]:
                a, b = (i, k) if i < k else (k, i)
                mean = row.get(k, 0.0) / (size[i] * size[k])
                heapq.heappush(heap, (-mean, a, b, version[a], version[b]))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        groups: dict[int, list[str]] = {}
        for m in dated:
            groups.setdefault(root(position[m]), []).append(m)
        for m in members:
            if m in position:
                continue
            # In a component with dated articles, undated links lead to a dated one.
            target, hops = m, 0
            while target not in position and hops <= len(members):
                target, hops = self._best[target][1], hops + 1
            groups[root(position.get(target, 0))].append(m)
        return list(groups.values())

    def _story(self, members: list[str]) -> Story:
        return story_from([self._articles[m] for m in members])

    def export_state(self) -> list[bytes]:
        """Everything an update needs, as records ``from_state`` reads back.

        Each article's words, keys and links, the postings and the stories: what a build spends
        its time on (11.8 s at 100,000 articles; 126 MB, saved in 1.7 s and loaded in 1.7).
        The articles themselves are not in it: ``from_state`` takes the snapshot's. Each
        record is ``_CHUNK_ITEMS`` items of one ``marshal`` call, which holds the interpreter
        for its whole length: other threads (the bot's event loop) run between records.
        Call it when no update can run; one racing it raises ``RuntimeError``.
        """
        with paused_gc():
            fields: list[tuple[str, list[Any]]] = [
                ("docs", [_doc_row(d) for d in self._docs.values()]),
                ("few", list(self._few)),
                ("df", list(self._df.items())),
            ]
            fields += [(name, list(getattr(self, name).items())) for name in _DICT_FIELDS]
            counts = [(name, -(-len(items) // _CHUNK_ITEMS)) for name, items in fields]
            scalars = (self._next_label, self._epoch, self._built_size, self._churn)
            records = [marshal.dumps((_STATE_FORMAT, self._options, scalars, counts))]
            for _, items in fields:
                for start in range(0, len(items), _CHUNK_ITEMS):
                    records.append(marshal.dumps(items[start : start + _CHUNK_ITEMS]))
        return records

    @classmethod
    def from_state(cls, records: Iterable[bytes], articles: Mapping[str, Article]) -> StoryIndex:
        """The index ``export_state`` saved, over ``articles`` (the corpus it was saved for).

        ``articles`` may have changed since it was saved: an ``update`` for that change must
        follow. Nothing is read from it here. ``ValueError`` when the records are not such a
        state (another format, damaged under a good checksum, another build's layout): the
        caller groups afresh instead.
        """
        pending = iter(records)
        try:
            fmt, options, scalars, counts = marshal.loads(next(pending))
        except Exception as exc:
            raise ValueError(f"not a story state: {exc!r}") from exc
        if fmt != _STATE_FORMAT or not isinstance(options, dict):
            raise ValueError("a story state of another format")
        with paused_gc():
            try:
                index = cls(**options)
                index._reset(articles)
                chunks = {name: n for name, n in counts}
                for _ in range(chunks.pop("docs")):
                    index._docs.update(
                        (row[0], _doc_of(row)) for row in marshal.loads(next(pending))
                    )
                for _ in range(chunks.pop("few")):
                    index._few.update(marshal.loads(next(pending)))
                for _ in range(chunks.pop("df")):
                    index._df.update(dict(marshal.loads(next(pending))))
                for name in _DICT_FIELDS:
                    table = getattr(index, name)
                    for _ in range(chunks.pop(name)):
                        table.update(marshal.loads(next(pending)))
                index._next_label, index._epoch, index._built_size, index._churn = scalars
                if chunks or next(pending, None) is not None:
                    raise ValueError("records left over")
            except Exception as exc:
                raise ValueError(f"a story state of other articles or damaged: {exc!r}") from exc
            _freeze_if_large(len(index._docs))
        return index

    def groups(self) -> list[list[str]]:
        """The members of every story, as ``bot.engine.saved_stories`` keeps them."""
        with self._lock:
            return [list(members) for members in self._story_members.values()]


_DOC_FIELDS = tuple(f.name for f in fields(_Doc))
# A ``_Doc`` as ``from_state`` reads it back: every field, in order.
_doc_row: Callable[[_Doc], tuple[Any, ...]] = attrgetter(*_DOC_FIELDS)


def _doc_of(row: Sequence[Any]) -> _Doc:
    """A ``_Doc`` from its ``_doc_row``."""
    if len(row) != len(_DOC_FIELDS):
        raise ValueError("a doc of another layout")
    return _Doc(*row)


def story_from(members: list[Article]) -> Story:
    """A story of ``members``: its timeline, first report and id (its first article's)."""
    articles = sorted(members, key=_timeline_key)
    first = articles[0] if articles[0].published is not None else None
    return Story(id=articles[0].id, articles=tuple(articles), first=first)


def _timeline_key(article: Article) -> tuple[bool, float, str, str]:
    """Dated oldest first, then undated by title."""
    published = article.published
    if published is None:
        return (True, 0.0, article.title.casefold(), article.id)
    return (False, published.timestamp(), "", article.id)


def _freeze_if_large(docs: int) -> None:
    """Take a large grouping out of the cyclic collector's sight, however it was made.

    Millions of long-lived objects, no cycles: left to the collector, its next full passes held
    the interpreter (0.6 s at 100,000 articles) and with it the bot's event loop. Reference
    counting still frees them when they go. The price: garbage cycles that other work left
    pending at that moment are frozen too and never collected; a few objects a rebuild, which
    rebuilds (after many changes) make rare.
    """
    if docs >= FREEZE_AFTER:
        gc.freeze()
