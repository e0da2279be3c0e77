"""How much closer in meaning a query is to an article than to the corpus at large.

A raw cosine says little alone: a query of common words is 0.5 from everything, a query of rare
ones 0.2 from all but its story. How far a candidate stands above the query's cosines with the
corpus at large is what says "this is the story asked about", and what a retold question has
and an off-topic one lacks. Three parts:

- ``Closeness``: one query's cosines with articles' openings, as z-scores against a sample;
- ``CorpusSample``: a few hundred articles spread evenly over the corpus, drawn when an answer
  first needs them and kept while the corpus keeps about its size;
- ``Meanings``: every article's opening vector, computed in the background (~10,000 articles a
  second on this machine) and kept beside the corpus database with the hash of the text it was
  computed from, so a query looks its candidates up instead of reading them (0.16 ms each),
  and a restart recomputes only what changed.

The sample's vectors are the word table's (``WordVectors.text_vector``): the static table
distilled from all-MiniLM-L6-v2, a normalised sum of token rows. A ``Meanings`` store may keep
another source's: the sentence model's (``bot.engine.sentences``), whose vectors cost ~6 ms an
opening, so its store follows the corpus's changes in the background (``deferred``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot import store
from bot.corpus.articles import articles_of, sorted_ids
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.corpus.model import Article
from bot.engine.answerable import opening
from bot.engine.native import Stopping
from bot.engine.vectors import VectorStore, content_hash

if TYPE_CHECKING:
    import numpy as np

    from bot.engine.word_vectors import WordVectors

log = logging.getLogger(__name__)

# Articles in the sample: drawing them reads 256 articles and embeds their openings (0.16 ms
# each), ~40 ms once. Below this many articles the corpus is the sample, a story's own articles
# are a large share of it, and nothing can stand out: the engine answers with the model fitted
# without ``meaning_z``.
SAMPLE = 256
# How far the corpus may grow or shrink (as a share of its size when the sample was drawn)
# before the sample is drawn again: a few articles more or less do not move the statistics.
DRIFT = 0.25
# The least spread of a query's cosines with the sample ``Closeness`` divides by: a guard for a
# corpus whose cosines all but coincide. The development corpus's spreads: 0.06-0.21, median 0.10.
LEAST_SPREAD = 0.02
BATCH = 512  # articles embedded at a time in the background: one tokenizer call each
MEANINGS_SUFFIX = store.MEANINGS_FILE
_LEGACY_SUFFIX = ".meanings.npz"  # read whole by versions before the matrix was mapped

Meaning = Callable[[Article], "np.ndarray"]


class VectorSource(Protocol):
    """What a ``Meanings`` store computes its vectors with: the word table, the sentence model."""

    @property
    def dims(self) -> int:
        """How many numbers a vector has."""
        ...

    @property
    def space(self) -> str:
        """The vector space kept vectors must be of (``Embedder.space``)."""
        ...

    def join(self) -> bool:
        """Wait until it is loaded; whether it can be read."""
        ...

    def ready(self) -> bool:
        """Whether it is loaded (without waiting long)."""
        ...

    def text_vector(self, text: str) -> np.ndarray:
        """One text's vector."""
        ...

    def text_vectors(self, texts: list[str]) -> np.ndarray:
        """Many texts' vectors, one row each."""
        ...


@dataclass(frozen=True, slots=True)
class Closeness:
    """One query's cosines with articles' openings, as z-scores against the corpus sample."""

    query: np.ndarray
    mean: float
    spread: float
    meaning: Meaning  # an article's opening vector (kept, or computed)

    def z(self, article: Article) -> float:
        """How many spreads the query's cosine with ``article`` is above its corpus mean."""
        return (float(self.meaning(article) @ self.query) - self.mean) / self.spread


class CorpusSample:
    """Vectors of an evenly spread sample of the corpus's articles, drawn on first need."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (corpus size when drawn, the table they were read with, their vectors)
        self._drawn: tuple[int, WordVectors, np.ndarray] | None = None

    def closeness(
        self, query: str, articles: Mapping[str, Article], words: WordVectors, meaning: Meaning
    ) -> Closeness:
        """``query`` read against this sample of ``articles`` (drawn again if they moved on)."""
        sample = self._vectors(articles, words, meaning)
        asked = words.text_vector(query)
        cosines = sample @ asked
        spread = max(float(cosines.std()), LEAST_SPREAD)
        return Closeness(asked, float(cosines.mean()), spread, meaning)

    def draw(self, articles: Mapping[str, Article], words: WordVectors, meaning: Meaning) -> None:
        """Draw the sample now, before any query needs it (sorting a million ids takes 0.4 s)."""
        self._vectors(articles, words, meaning)

    def _vectors(
        self, articles: Mapping[str, Article], words: WordVectors, meaning: Meaning
    ) -> np.ndarray:
        size = len(articles)
        if not _fits(self._drawn, size, words):
            with self._lock:  # one drawing at a time; the others wait for it
                if not _fits(self._drawn, size, words):
                    self._drawn = (size, words, _draw(articles, meaning))
        drawn = self._drawn
        assert drawn is not None
        return drawn[2]


def _fits(drawn: tuple[int, WordVectors, np.ndarray] | None, size: int, words: WordVectors) -> bool:
    """Whether a sample drawn so still stands for a corpus of ``size`` read with ``words``."""
    return drawn is not None and drawn[1] is words and abs(size - drawn[0]) <= DRIFT * drawn[0]


def _draw(articles: Mapping[str, Article], meaning: Meaning) -> np.ndarray:
    """Every n-th article's opening vector: spread over the corpus, not one folder's first few.

    By id, not in the order the corpus was read (which follows the order files finished
    parsing), so a corpus read afresh gives the same sample, and the same answers, every time.
    Only asked with at least ``SAMPLE`` articles (``Engine._closeness``): never empty.
    """
    import numpy as np

    stride = max(1, len(articles) // SAMPLE)
    ids = list(islice(sorted_ids(articles), 0, SAMPLE * stride, stride))
    return np.stack([meaning(a) for a in articles_of(articles, ids).values()])


def opening_vectors(kept: Meanings | None, source: VectorSource) -> Meaning:
    """An article's opening vector through ``source``: kept when ``kept`` holds that source's."""
    if kept is not None and kept.words is source:
        return kept.vector
    return lambda article: source.text_vector(opening(article))


def meanings_path(database: str | Path, suffix: str = MEANINGS_SUFFIX) -> Path | None:
    """Where the articles' opening vectors are kept beside ``database`` (None: in memory)."""
    return None if str(database) == ":memory:" else Path(f"{database}{suffix}")


def sentence_meanings_path(database: str | Path) -> Path | None:
    """Where the articles' sentence-model vectors are kept beside ``database``."""
    return meanings_path(database, store.SENTENCE_MEANINGS_FILE)


class Meanings:
    """Every article's opening vector, filled in the background and kept beside the database.

    Each row carries the hash of the text it was computed from, so a vector is used only for
    that text: an article edited since is computed afresh when asked, and again by the next
    fill. Only a fill reads the kept file: a one-shot command never fills (reading its ids and
    hashes, 7 MB at 100,000 documents, costs more than computing the five vectors it asks for).
    ``None`` as ``path``: nothing kept.

    The kept file also records the corpus generation it is complete for. Checking every
    article's hash instead read every article back from the database: 2 s at a restart of
    100,000 documents. A start of that generation checks none,
    and a start whose loader caught up from it checks only what changed while the bot was down.

    ``deferred``: a corpus change's vectors are computed in a thread, not in ``follow``, which
    runs inside ``Engine.apply``: the sentence model's 6 ms an opening would hold a change of
    1,000 files for seconds. Meanwhile an asked vector is computed (a hash never matches an
    older text), and the file keeps claiming the generation before the change, which a start
    catches up from.
    """

    def __init__(
        self, words: VectorSource, path: Path | None = None, *, deferred: bool = False
    ) -> None:
        self.words = words  # what they are computed with
        self._path = path
        self._deferred = deferred
        # Deferred: the ids of followed changes not computed yet, the latest snapshot they are
        # read from, and whether a thread is computing them.
        self._pending: set[str] = set()
        self._latest: CorpusSnapshot | None = None
        self._draining = False
        self._idle = threading.Event()  # set while no thread computes deferred changes
        self._idle.set()
        self._filling = False  # a fill is planned or under way: it computes what is missing
        self._filled = False  # the fill is done: a deferred change starts its own thread
        self._store: VectorStore | None = None
        self._lock = threading.Lock()  # guards the fields below, never held while computing
        self._save_lock = threading.Lock()  # one write of the kept file at a time
        # Changes made before the store was there: the fill's too.
        self._missed = ChangeSet()
        # The corpus generation the store holds every article of (None: not known to), and the
        # generation of the last change followed, which is what it holds once the fill is done.
        self._complete_for: str | None = None
        self._followed: str | None = None
        self._losses = 0  # ``lost_track`` calls: a fill that saw one claims no generation
        self._unsaved = False
        self._stopped = False
        self.computed = 0  # vectors computed rather than read from the kept file

    def vector(self, article: Article) -> np.ndarray:
        """``article``'s opening vector: the kept one when it is of this very text."""
        text = opening(article)
        store = self._store
        if store is not None:
            kept = store.vector(article.id, content_hash(text))
            if kept is not None:
                return kept
        return self.words.text_vector(text)

    def vectors_now(
        self, articles: Sequence[Article], snapshot: CorpusSnapshot
    ) -> list[np.ndarray] | None:
        """These articles' vectors for an answer now; None while one of them is on its way.

        While a fill is planned or under way (``will_fill``), only kept vectors are read and a
        missing one is asked for in the background (``request``): computing the sentence
        model's ten a question at ~6 ms each held every answer of a first start for 60 ms
        (``bench/e2e.py``). Without a fill (a one-shot command), the missing are computed.
        """
        if not self._filling:
            return [self.vector(a) for a in articles]
        found = [self.kept_vector(a) for a in articles]
        missing = [a for a, row in zip(articles, found, strict=True) if row is None]
        if missing:  # computed in the background, for the next question about them
            self.request(missing, snapshot)
            return None
        return [row for row in found if row is not None]

    def kept_vector(self, article: Article) -> np.ndarray | None:
        """``article``'s kept opening vector when it is of this very text; None otherwise."""
        store = self._store
        return None if store is None else store.vector(article.id, content_hash(opening(article)))

    def will_fill(self) -> None:
        """Say that a fill is planned (``Engine.meanings_in_background``), before it begins."""
        self._filling = True

    def fill(
        self,
        corpus: Callable[[], CorpusSnapshot],
        catch_up: Mapping[str, ChangeSet] | None = None,
    ) -> None:
        """Compute every article's vector the kept file lacks, and keep them (a thread's work).

        ``corpus``: the snapshot as it is when asked (each batch asks again, so an article
        changed or removed meanwhile is read as it is now). ``catch_up``: for a generation the
        kept file may be of, what changed from it to the snapshot this engine started with
        (nothing, for that snapshot's own); a file of another generation, or of none, has every
        article checked. Waits for the word table first; without one, nothing is filled. A
        failure is logged: queries compute their candidates'.
        """
        self._filling = True
        try:
            self._fill(corpus, catch_up or {})
        except Stopping:  # the process is exiting: the stop's save kept what was computed
            self._filling = False  # before it, and the next start computes the rest
        except Exception:
            self._filling = False  # nothing fills them now: queries compute what they need
            log.exception("article meanings: the background fill failed")

    def _fill(
        self, corpus: Callable[[], CorpusSnapshot], catch_up: Mapping[str, ChangeSet]
    ) -> None:
        if not self.words.join():
            return
        with self._lock:
            losses = self._losses
        store = self._load()  # reading and hashing take seconds: no lock held meanwhile
        since = catch_up.get(store.generation) if store.generation else None
        stale: list[str]
        if since is None:  # every article checked against its kept vector's text
            articles = corpus().articles
            wanted = {a.id: content_hash(opening(a)) for a in articles.values()}
            retired = store.retain(wanted)
            stale = store.stale(wanted)
        else:
            retired = store.remove(since.removed)
            stale = sorted(since.new_or_changed)
        with self._lock:
            self._store = store  # lookups use what is there while the rest is computed
            self._unsaved |= retired > 0
            missed, self._missed = self._missed, ChangeSet()
        if store.remove(missed.removed):
            with self._lock:
                self._unsaved = True
        stale = list(dict.fromkeys([*stale, *sorted(missed.new_or_changed)]))
        for start in range(0, len(stale), BATCH):
            if self._stopped:
                return
            self._add(store, articles_of(corpus().articles, stale[start : start + BATCH]).values())
        now = corpus().generation or None

        def claim() -> None:
            # Every change since the first read of ``corpus`` is in the store: ``_followed`` is
            # set once a change is, and the snapshot answers read moves on after that.
            claimed = self._followed or now
            self._complete_for = claimed if self._losses == losses else None
            self._unsaved |= self._complete_for != store.generation
            self._filled = True

        if not self._drain(store, claim):  # changes deferred meanwhile are the fill's too
            return
        log.info("article meanings: %d computed, %d kept", len(stale), len(store))
        self._save()

    def _drain(self, store: VectorStore, claim: Callable[[], None]) -> bool:
        """Compute the deferred changes' vectors until none are left, then ``claim`` (locked).

        In the same locked step as finding none left: a change followed after it starts a
        thread of its own. False when stopped first.
        """
        while True:
            with self._lock:
                if self._stopped:
                    self._settle()
                    return False
                if not self._pending:
                    self._settle()
                    claim()
                    return True
                batch = sorted(self._pending)[:BATCH]
                self._pending.difference_update(batch)
                latest = self._latest
            if latest is None:
                continue
            try:
                self._add(store, articles_of(latest.articles, batch).values())
            except Exception:
                with self._lock:  # left to the next change, and no generation claimed
                    self._pending.update(batch)
                    self._settle()
                self.lost_track()
                raise

    def _drain_followed(self, store: VectorStore) -> None:
        """A thread's work: the deferred changes' vectors, then the generation they complete."""

        def claim() -> None:
            if self._complete_for is not None:  # complete before them, and nothing lost since
                self._complete_for = self._followed

        try:
            self._drain(store, claim)
        except Stopping:
            pass  # the process is exiting: the next start computes them
        except Exception:
            log.exception("article meanings: computing a change's vectors failed")

    def _settle(self) -> None:
        """No thread computes deferred changes now (called with the lock held)."""
        self._draining = False
        self._idle.set()

    def wait_followed(self, timeout: float | None = None) -> bool:
        """Wait until the deferred changes' vectors are computed; whether they are."""
        return self._idle.wait(timeout)

    def follow(self, snapshot: CorpusSnapshot, changes: ChangeSet) -> None:
        """Apply a corpus change: vectors of the added and changed articles, none of the gone.

        Called before ``snapshot`` is the one answers read (``Engine.apply``).
        """
        with self._lock:
            store = self._store
            if store is None:  # the fill to come computes these too
                self._followed = snapshot.generation or None
                self._missed = ChangeSet(
                    self._missed.added | changes.added,
                    self._missed.changed | changes.changed,
                    (self._missed.removed - changes.added) | changes.removed,
                )
                return
        removed = store.remove(changes.removed)
        if self._deferred:
            self._defer(store, snapshot, changes, removed)
            return
        computed = self.words.ready()
        if computed:
            self._add(store, articles_of(snapshot.articles, changes.new_or_changed).values())
        with self._lock:  # only once the store holds the change: a fill ending now claims it
            self._followed = snapshot.generation or None
            self._unsaved |= removed > 0
            if self._complete_for is not None:
                self._complete_for = self._followed if computed else None

    def _defer(
        self, store: VectorStore, snapshot: CorpusSnapshot, changes: ChangeSet, removed: int
    ) -> None:
        """Leave a change's vectors to a thread (the fill's own, while it runs)."""
        with self._lock:
            self._pending.difference_update(changes.removed)
            self._pending.update(changes.new_or_changed)
            self._latest = snapshot
            self._followed = snapshot.generation or None
            self._unsaved |= removed > 0
            start = self._claim_drain()
            if self._filled and not self._draining and self._complete_for is not None:
                self._complete_for = self._followed  # nothing left to compute: removals only
        if start:
            self._start_drain(store)

    def _start_drain(self, store: VectorStore) -> None:
        """The thread that computes the deferred changes (``_draining`` claimed by the caller)."""
        try:
            threading.Thread(
                target=self._drain_followed, args=(store,), name="article-meanings", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had: left to the next change
            with self._lock:
                self._settle()
            log.exception("article meanings: no thread to compute a change's vectors")

    def request(self, articles: Iterable[Article], snapshot: CorpusSnapshot) -> None:
        """Compute these articles' vectors in the background: an answer found them missing.

        What a failed batch, or a rebuild after a failed change, left out is computed then,
        not only at the next start. Before the fill is done, it computes them itself.
        """
        with self._lock:
            store = self._store
            if store is None or not self._filled or self._stopped:
                return
            self._pending.update(a.id for a in articles)
            self._latest = snapshot
            start = self._claim_drain()
        if start:
            self._start_drain(store)

    def _claim_drain(self) -> bool:
        """Whether the caller is to start the drain thread, claimed now (lock held).

        Only once the fill is done (its own end drains what is pending), and one at a time.
        """
        start = self._filled and not self._draining and bool(self._pending)
        if start:
            self._draining = True
            self._idle.clear()
        return start

    def lost_track(self) -> None:
        """Forget which corpus the store is complete for: a change may have been half followed.

        The next save records none, so the next start checks every article.
        """
        with self._lock:
            self._complete_for = None
            self._losses += 1
            self._unsaved = True

    def save(self) -> None:
        """Keep what is computed, and stop a fill under way (the bot is stopping)."""
        self._stopped = True
        self._save()

    def _save(self) -> None:
        """Write the kept file if vectors changed since it was read.

        One write at a time, and a stop's waits for one under way (the fill's, at its end)
        and then writes what changed since: the file is never written by two threads at once,
        and the process never exits in the middle of a write it could have waited for.
        """
        with self._save_lock:
            self._save_now()

    def _save_now(self) -> None:
        with self._lock:
            # Read before the store is copied: a change followed in between is then saved under
            # the generation before it, which the next start catches up from again, harmlessly.
            store, path, unsaved = self._store, self._path, self._unsaved
            generation = self._complete_for
            self._unsaved = False
        if store is None or path is None or not unsaved:
            return
        try:
            store.save(path, generation)
        except OSError as exc:  # a full disk or a read-only folder: recomputed next start
            log.warning("article meanings not kept at %s: %s", path, exc)
            return
        with contextlib.suppress(OSError):  # the older format's file, nothing reads it now
            path.with_name(path.name.removesuffix(MEANINGS_SUFFIX) + _LEGACY_SUFFIX).unlink()

    def state(self, articles: int) -> str:
        """How the vectors of a corpus of ``articles`` stand, for an operator (/corpus stats)."""
        store = self._store
        if store is None:
            return "computed when first asked for"
        return f"{len(store):,} of {articles:,} articles ({self.computed:,} computed this run)"

    def _load(self) -> VectorStore:
        words = self.words
        if self._path is None:
            return VectorStore(words.dims, words.space)
        return VectorStore.load(self._path, words.dims, words.space)

    def _add(self, store: VectorStore, articles: Iterable[Article]) -> None:
        batch = list(articles)
        if not batch:
            return
        texts = [opening(a) for a in batch]
        vectors = self.words.text_vectors(texts)
        store.add([a.id for a in batch], vectors, [content_hash(t) for t in texts])
        with self._lock:
            self.computed += len(batch)
            self._unsaved = True
