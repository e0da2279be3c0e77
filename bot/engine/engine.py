"""The answer engine: every command's answer, from the index, the stories and the text tools.

Ranking is two-stage. tantivy BM25 finds candidates; each candidate then gets a calibrated
0–100 score from how much of the query's meaning (IDF-weighted content words, after typo
correction) the article covers, plus title similarity for fragment-like queries only — measured:
fuzzy re-ranking helps fragments with typos and ruins questions. One threshold on that score
decides between an answer and "not in this coverage".
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from math import fsum
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import fuzz, process

from bot.corpus.articles import articles_of, every_title, titles_of
from bot.corpus.census import Census
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.corpus.model import Article
from bot.engine.abbreviations import CorpusAbbreviations
from bot.engine.answerable import (
    Candidate,
    default_model,
    evidence,
    published_in,
    why_not,
)
from bot.engine.budget import TEXT_BUDGET, Deadline, OverBudget, bounded, plain_excerpt
from bot.engine.casing import CorpusCasing
from bot.engine.excerpts import best_window, matched_field
from bot.engine.index import (
    IndexFilter,
    SearchIndex,
    index_path,
    index_terms,
    recorded,
    stored_generation,
)
from bot.engine.matching import QueryMatcher
from bot.engine.meaning import (
    SAMPLE,
    Closeness,
    CorpusSample,
    Meanings,
    meanings_path,
    opening_vectors,
    sentence_meanings_path,
)
from bot.engine.passages import best_passage, likely_paragraphs
from bot.engine.query import NAME_SHARE, QueryIntent, QueryReader
from bot.engine.results import (
    AskAnswer,
    CoverageAnswer,
    Hit,
    NotFound,
    Passage,
    RelatedAnswer,
    RelatedItem,
    SearchResult,
    SourceAnswer,
    Story,
    Suggestion,
    SummaryAnswer,
)
from bot.engine.saved_stories import (
    KeptStories,
    SavedStories,
    load_groups,
    load_pending,
    load_state,
    save_groups,
    save_pending,
    save_state,
    state_generation,
)
from bot.engine.scoring import CONFIDENT, QueryTerms, Rated, Scorer, best_first
from bot.engine.sentences import SentenceModel, sentence_features
from bot.engine.stories import StoryIndex
from bot.engine.summary import MAX_SUMMARY_CHARS, summarize
from bot.engine.text import STOPWORDS, possessive
from bot.engine.titles import TitleTable
from bot.engine.vocabulary import Vocabulary
from bot.engine.word_vectors import WordVectors

log = logging.getLogger(__name__)

CANDIDATES = 40  # BM25 candidates re-scored per query
# Ordering only: a named outlet's article goes ahead of another outlet's on the same subject
# (the answerability model, not this, decides whether it answers at all).
OUTLET_PREFERENCE = 40.0
# The same for a period the query names ("in september 2020"): the articles published in it go
# first and are fetched however BM25 ranks them; not a filter, as the year may be the subject
# ("the market by 2025"), and the model still decides.
PERIOD_PREFERENCE = 40.0
RERANK = 5  # leading candidates the answerability model reorders (and is fitted on)
# Candidates of the ranking fused with the sentence model's order to choose those five
# (``Engine._with_sentences``), and the reciprocal-rank fusion constant: 60, the usual one,
# not tuned.
FUSED = 10
FUSION_K = 60
QUESTIONS_KEPT = 256  # questions whose sentence vectors are kept, begun or done
EXCERPT_CHARS = 300  # of an excerpt shown for a story's own article picked by outlet
# Words in more than this share of articles (and at least this many) don't pick candidates:
# in a small topical corpus the topic's own words are in most articles and must still count.
COMMON_SHARE = 0.05
COMMON_MIN_ARTICLES = 10_000
PASSAGE_CANDIDATES = 3  # best articles searched for an answer passage
PASSAGE_PARAGRAPHS = 3  # paragraphs of each read for it: those holding most of the question
# Summaries lean on the lead: ranking 2,500 characters of a body cost 0.67-0.76 ms p50, 1,500 0.5.
SUMMARY_CHARS = 1500
SUGGEST_LIMIT = 25
SHORT_PARTIAL = 2  # a half-typed word this short is completed from the titles found
TITLE_TRIES = 3  # passes the title table's thread makes while changes keep outdating them
SHORT_PARTIAL_POOL = 100  # titles with the complete words checked for it
CHOICE_LENGTH = 100  # Discord's limit for an autocomplete choice's name and value
# Words that say what kind of answer is wanted, not what it is about.
META_WORDS = frozenset(
    """who what which first reported report reports covered cover covers coverage outlet outlets
    article articles story stories news source sources published publish wrote write written
    tell show find summary summarize related similar about latest anything know much many""".split()
)


class Engine:
    """Answers over one corpus snapshot; ``apply`` moves it to the next one incrementally."""

    def __init__(
        self,
        snapshot: CorpusSnapshot,
        *,
        threads: int = 1,
        stories: bool | Literal["later", "on-demand"] = True,
        vocabulary: Vocabulary | None = None,
        reader: QueryReader | None = None,
        index_path: Path | None = None,
        catch_up: tuple[str | None, ChangeSet] | None = None,
        index_writable: bool = True,
        kept_stories: KeptStories | None = None,
        word_vectors: WordVectors | None = None,
        meanings: Meanings | None = None,
        sentences: SentenceModel | None = None,
        sentence_meanings: Meanings | None = None,
    ) -> None:
        """Index ``snapshot``; ``stories=False`` skips clustering for throwaway engines.

        ``stories="later"``: the caller runs ``cluster`` (in a thread) and the engine answers
        meanwhile, each article a story of one marked ``grouped=False``. ``"on-demand"``: the
        first answer that needs a story groups them (a one-shot command: grouping is 80 % of
        building the engine, and search, summary and ask never need it). ``vocabulary``: weigh
        and correct words by another engine's (a digest run's index of new articles scores as
        the whole corpus does) instead of building one from this index. ``reader``: read
        queries as another engine does (its outlets, topics and casing), so "the verge" in a
        subscription is an outlet whether or not The Verge has anything new.

        ``index_path``: keep the search index there (``bot.engine.index.index_path``) and open
        it, not rebuild it, when it was built from this snapshot's files; ``catch_up``: the
        generation the loader started from and the changes since, so an index of that
        generation is caught up instead of rebuilt. Not ``index_writable`` (another process
        writes it): an index on disk of another generation is not touched, and this engine
        indexes in memory. ``index_state`` says which happened.

        ``kept_stories``: stories kept there (``bot.engine.saved_stories``): the groups of
        this snapshot's generation answer while stories are grouped "later" (and instead of
        grouping, "on-demand"); the whole grouping kept for it is loaded instead of grouping
        again; a grouping that finishes is kept there.

        ``word_vectors``: the word table the answer-or-refuse model reads retold and name-like
        words with (``bot.engine.word_vectors``); without it, those features read words alone.
        ``meanings``: the articles' opening vectors read through it, kept beside the database
        (``bot.engine.meaning``; filled by ``meanings_in_background``); without them, a query
        computes its candidates'. ``sentences``: the sentence model (``bot.engine.sentences``),
        whose features answers read once it is loaded (and the word table is);
        ``sentence_meanings``: the articles' opening vectors read through it, kept and filled
        the same way (deferred: changes are computed in a thread).
        """
        self.word_vectors = word_vectors
        self.sentences = sentences
        self._meanings = meanings
        self._sentence_meanings = sentence_meanings
        # Both kinds of kept vectors, which follow changes, fill and are saved alike.
        self._vector_stores = tuple(m for m in (meanings, sentence_meanings) if m is not None)
        # For a kept file of article meanings, by the generation it may be of: what changed
        # from it to this snapshot (``Meanings.fill``).
        self._meanings_catch_up = _changes_to(snapshot.generation, catch_up)
        self._kept = kept_stories
        # The index's is spent by the first build; a record of changes the kept grouping
        # missed while it rested when the bot last stopped joins it (``save_stories``).
        self._stories_catch_up = _with_pending(kept_stories, snapshot, catch_up)
        self._save_lock = threading.Lock()  # one save at a time (a stop, a rest beside it)
        self._changes = 0  # corpus changes applied (and rebuilds): what a save checks against
        # The (generation, changes) the kept stories hold: a stop with nothing new writes none.
        self._kept_current: tuple[str, int] | None = None
        self._saved: SavedStories | None = None
        self._index_path = index_path
        self._catch_up = catch_up
        self._index_writable = index_writable
        self.index_state = "in memory"
        self._borrowed_vocabulary = vocabulary
        self._borrowed_reader = reader
        self._reader_names: tuple[frozenset[str], frozenset[str]] | None = None
        self._lock = threading.Lock()
        self._threads = threads
        self._with_stories = stories is True
        self._on_demand = stories == "on-demand"
        self._demand_lock = threading.Lock()
        self._grouping = stories == "later"
        # A corpus large enough to group later at start-up is regrouped later after a rebuild.
        self._group_later = self._grouping
        self._clustering = False  # a ``cluster`` call is under way
        # Articles changed while ``cluster`` runs, so its result can catch up with them; None
        # when no clustering is running (or a rebuild made it start over).
        self._unstoried: set[str] | None = None
        # The generation of the whole grouping while it rests on disk (``rest_stories``) and
        # its kept groups answer; the articles changed since, which loading it must catch up.
        self._resting: str | None = None
        self._resume: set[str] = set()
        self._loading: tuple[str, set[str]] | None = None  # a resume ``cluster`` is loading
        self._casing = CorpusCasing(self._articles_with, self._lead_texts)
        self._abbreviations = CorpusAbbreviations(self._articles_with, self._lead_texts)
        self._titles_building = False  # the title table is being built in another thread
        self._sample = CorpusSample()  # what a query's closeness in meaning is measured against
        self._question_thread: ThreadPoolExecutor | None = None  # ``_sentence_vector``'s
        # Questions' sentence vectors begun (``prepare``) or computed lately, by question.
        self._questions: OrderedDict[str, Future[Any]] = OrderedDict()
        self._questions_lock = threading.Lock()  # never the engine's: the event loop takes it
        self._build(snapshot)
        self._rest_if_kept(snapshot)

    @classmethod
    def beside(
        cls, database: str | Path | None, snapshot: CorpusSnapshot, **options: Any
    ) -> Engine:
        """An engine whose search index and stories are kept beside ``database``.

        None (or an in-memory database): nothing kept, everything built in memory. The bot,
        the command line and the benchmarks start their engines this one way.
        """
        if "word_vectors" not in options:  # read while the rest builds
            options["word_vectors"] = WordVectors.loading_beside(database)
        words = options["word_vectors"]
        if words is not None and database is not None and "meanings" not in options:
            options["meanings"] = Meanings(words, meanings_path(database))
        if "sentences" not in options:  # of the same extra as the table, read beside it
            options["sentences"] = SentenceModel.beside(words)
        sentences = options["sentences"]
        if sentences is not None and database is not None and "sentence_meanings" not in options:
            path = sentence_meanings_path(database)
            options["sentence_meanings"] = Meanings(sentences, path, deferred=True)
        return cls(
            snapshot,
            index_path=index_path(database) if database is not None else None,
            kept_stories=KeptStories.of(database) if database is not None else None,
            **options,
        )

    def _build(self, snapshot: CorpusSnapshot) -> None:
        old = getattr(self, "index", None)
        if old is not None:  # a rebuild: tantivy's writer lock must be free for the new one
            old.close_writer()
        self.index = self._open_index(snapshot)
        self._catch_up = None  # what it caught up from is past
        self.vocabulary = self._borrowed_vocabulary or Vocabulary(
            self.index.vocabulary(), self.index.size
        )
        if self._with_stories:  # grouped now: what is kept for these files, if anything
            self.stories = self._kept_grouping(snapshot) or StoryIndex.build(snapshot.articles)
        else:
            self.stories = StoryIndex.build({})
        self._saved = None
        kept = self._kept
        if kept is not None and not self._with_stories and (self._grouping or self._on_demand):
            base, changes = self._stories_catch_up or _NO_CATCH_UP
            found = load_groups(kept.groups, snapshot.generation, base)
            if found is not None:
                generation, groups = found
                changed: set[str] = set()
                if generation != snapshot.generation:  # kept before the files changed
                    changed = set(changes.touched)
                self._saved = SavedStories(groups, changed)
        self._snapshot = snapshot
        self._rebuild_names(snapshot)

    def _open_index(self, snapshot: CorpusSnapshot) -> SearchIndex:
        """The search index for ``snapshot``: opened, caught up, or built (see ``__init__``).

        Where the folder can't be used (a full disk, a read-only folder), the index is built in
        memory: the bot answers, and the next start tries the folder again.
        """
        path = self._index_path
        if path is not None and snapshot.generation:
            try:
                index = self._on_disk(snapshot, path)
                if index is not None:
                    return index
            except OSError:
                log.warning("search index at %s unusable; indexing in memory", path, exc_info=True)
        self.index_state = "in memory"
        index = SearchIndex(threads=self._threads)
        index.add_new(snapshot.articles.values())
        return index

    def _on_disk(self, snapshot: CorpusSnapshot, path: Path) -> SearchIndex | None:
        """The index kept at ``path``, made to hold ``snapshot``.

        None for a reader whose corpus the writer's index does not hold.
        """
        wanted, threads = snapshot.generation, self._threads
        stored, why = stored_generation(path)
        if stored == wanted:
            index = SearchIndex(threads=threads, path=path)
            # A reader checks again once open: the writer may have rebuilt it in between. Its
            # files were checked a moment ago; the record and the count say whether it did.
            if self._index_writable or recorded(path, wanted, index.size):
                self.index_state = "opened"
                return index
            return None
        if not self._index_writable:  # the writer's index is of another corpus: not ours
            return None
        base, changes = self._catch_up or _NO_CATCH_UP
        if stored is not None and stored == base:
            index = SearchIndex(threads=threads, path=path)
            articles = snapshot.articles
            upserts = [articles[i] for i in changes.new_or_changed]
            index.write(upserts, changes.removed, generation=wanted)
            self.index_state = "caught up"
            return index
        if stored is not None:
            why = "built from another corpus"
        log.info("search index at %s: building it (%s)", path, why)
        SearchIndex.wipe(path)
        index = SearchIndex(threads=threads, path=path)
        index.add_new(snapshot.articles.values(), generation=wanted)
        self.index_state = "built"
        return index

    def save_stories(self) -> None:
        """Keep the grouped stories beside the database, for the next start (no-op without).

        Exported outside the engine's lock; a corpus change applied meanwhile drops this save
        (the stories would no longer be of the generation recorded), and the next stop keeps
        them. Nothing is written when what is kept is this grouping already.
        """
        kept = self._kept
        with self._save_lock:
            if kept is not None:
                self._save_stories(kept)

    def _save_stories(self, kept: KeptStories) -> None:
        with self._lock:
            upto = self._snapshot.generation
            if not upto:
                return
            pending = None if self._with_stories else self._pending()
            if not self._with_stories and pending is None:
                return  # nothing grouped, or resting as kept: nothing to write
            generation, stories, version = upto, self.stories, self._changes
            if self._with_stories and self._kept_current == (generation, version):
                return  # what is kept is this already
        if pending is not None:  # resting, changed since: the next start catches up
            try:
                save_pending(kept.pending, pending[0], upto, pending[1])
            except OSError:  # the next start groups afresh, nothing worse
                log.warning("could not keep the stories' changes in %s", kept.pending)
            return
        try:
            # Outside the lock: at 100,000 articles the export takes seconds, and a corpus
            # change must not wait for it (nor the answers queued behind the change).
            data, groups = stories.export_state(), stories.groups()
            with self._lock:
                if self._changes != version:  # changed meanwhile: kept at the next stop
                    return
            save_state(kept.state, generation, data)
            save_groups(kept.groups, generation, groups)
            self._kept_current = (generation, version)
            kept.pending.unlink(missing_ok=True)  # of an older grouping: caught up with now
        except RuntimeError:  # a change raced the export (a dict changed size under it)
            return
        except Exception:  # a full disk costs the next start its head start, nothing more
            log.warning("could not keep the stories in %s", kept.groups, exc_info=True)

    def _kept_grouping(
        self, snapshot: CorpusSnapshot, resume: tuple[str, set[str]] | None = None
    ) -> StoryIndex | None:
        """The grouping kept for ``snapshot``'s generation, if there is one.

        Else the one kept before the files that changed while the bot was down, with that
        change applied as an update applies it; or, for ``resume`` (a grouping that rested
        on disk, ``rest_stories``), the one of its generation with the articles it names
        changed since.
        """
        kept, catch_up = self._kept, self._stories_catch_up
        self._stories_catch_up = None  # a later grouping (after a rebuild) starts afresh
        if kept is None:
            return None
        try:
            if resume is not None:
                generation, touched = resume
                catch_up = generation, _as_change(touched, snapshot.articles)
            else:
                found = load_state(kept.state, snapshot.generation, snapshot.articles)
                if found is not None:
                    self._kept_current = (snapshot.generation, self._changes)
                    return found
            base, changes = catch_up or _NO_CATCH_UP
            if base is None or not (changes or resume):
                return None
            found = load_state(kept.state, base, snapshot.articles)
            if found is not None and changes:  # caught up: what is kept is of the old files
                found.update(snapshot.articles, changes.added, changes.changed, changes.removed)
            return found
        except Exception:  # whatever it is, grouping afresh is the answer (and replaces it)
            log.exception("could not load the kept story grouping; grouping again")
            return None

    def _pending(self) -> tuple[str, set[str]] | None:
        """The kept grouping's generation and the articles changed since it.

        While it rests or loads; None when it is every article's (or the engine does not rest).
        """
        if self._loading is not None:
            return self._loading[0], self._loading[1] | (self._unstoried or set())
        if self._resting is not None and self._resume:
            return self._resting, set(self._resume)
        return None

    def _rest_if_kept(self, snapshot: CorpusSnapshot) -> None:
        """Leave the whole grouping on disk when the kept groups are of ``snapshot`` exactly.

        Answers need only the groups; the grouping (words, keys and links of every article,
        most of a restarted bot's memory) is what a corpus change needs, so the first change
        loads it (``apply`` says so) and ``rest_stories`` lets it go again.
        """
        saved, kept, generation = self._saved, self._kept, snapshot.generation
        if saved is None or not saved.exact or not self._grouping or kept is None:
            return
        if state_generation(kept.state) == generation:
            # ``_kept_current`` is claimed only once it loads: its checksum is not read here.
            self._grouping, self._resting, self._resume = False, generation, set()
            self._stories_catch_up = None  # nothing to catch up: spent, as a grouping spends it

    @property
    def grouping_under_way(self) -> bool:
        """Whether a grouping (or a load of the resting one) runs or is claimed to."""
        return self._clustering

    def claim_load(self) -> bool:
        """Claim the load of a resting grouping that changes wait for (after one failed).

        True when the caller is to run ``cluster``, as after ``apply`` returned True.
        """
        with self._lock:
            return self._claim_resting_load()

    def _claim_resting_load(self) -> bool:
        """Claim loading the resting grouping when changes wait for it; the lock is held.

        One claim however many changes or retries ask: a claimed load runs ``cluster``.
        """
        if self._resting is None or not self._resume or self._clustering:
            return False
        self._grouping = self._clustering = True
        return True

    @property
    def resting(self) -> bool:
        """Whether the whole grouping rests on disk now (``rest_stories``)."""
        return self._resting is not None

    @property
    def rests_stories(self) -> bool:
        """Whether the whole grouping can rest on disk (``rest_stories``).

        One grouped "later" (a large corpus) and kept beside a database can.
        """
        return self._group_later and self._kept is not None

    def rest_stories(self) -> bool | None:
        """Drop the whole grouping from memory when it is kept on disk as it is now.

        The kept groups answer instead, until a change loads it again (``apply``). Only an
        engine that groups "later" does this, and only when ``save_stories`` has kept this
        very grouping: True if it rested, False if not. None when the groups file could not be
        read back: the caller must run ``cluster`` (the answers meanwhile are stories of one,
        "still grouping"). Run it where answers run, never beside one: the swap is fields an
        answer reads.
        """
        with self._lock:
            generation = self._snapshot.generation
            if not self._with_stories or not self.rests_stories or self._clustering:
                return False
            kept = self._kept  # set whenever ``rests_stories``
            if kept is None or self._kept_current != (generation, self._changes):
                return False
            # Dropped before the groups are read back from their file, not copied from it: its
            # ids would be the grouping's own strings, one in every few pages of what it
            # held, and the memory it frees could not go back to the system.
            self.stories, self._with_stories = StoryIndex.build({}), False
            found = load_groups(kept.groups, generation)
            if found is None:  # written a moment ago, and now unreadable: group again
                self._grouping = self._clustering = True
                return None
            self._saved = SavedStories(found[1])
            self._resting, self._resume = generation, set()
            return True

    def release_index(self) -> None:
        """Give up the index's writer: a one-shot command is done writing it."""
        self.index.close_writer()

    def rebuild(self, snapshot: CorpusSnapshot) -> bool:
        """Start over from ``snapshot``: the repair when an incremental ``apply`` failed.

        A failed apply may leave half a change in the index, and later changes would build on it.
        An engine built with ``stories="later"`` does not regroup here: grouping a large corpus
        takes minutes, and every answer waits for a rebuild. It answers with stories of one
        meanwhile, as at start-up. True when the caller must run ``cluster`` for that (none is
        under way; one that is starts over by itself).
        """
        with self._lock:
            self._changes += 1
            if self._group_later:
                self._with_stories, self._grouping = False, True
            self._resting, self._resume, self._loading = None, set(), None
            self._stories_catch_up = None  # it described the start-up's snapshot, not this
            self._build(snapshot)
            for kept in self._vector_stores:
                kept.lost_track()
            self._unstoried = None  # a clustering under way starts over from this snapshot
            if not self._group_later or self._clustering:
                return False
            # Claimed here, not when the caller's thread starts: a second rebuild in between
            # must not start a second grouping.
            self._clustering = True
            return True

    # ----------------------------------------------------------------- corpus changes
    @property
    def snapshot(self) -> CorpusSnapshot:
        """The snapshot answers are drawn from."""
        return self._snapshot

    def apply(self, snapshot: CorpusSnapshot, changes: ChangeSet) -> bool:
        """Follow a corpus change: index, vocabulary, stories, then swap the snapshot.

        Readers keep using the previous snapshot until the very last line, so they never see a
        half-applied change; ids the index returns that the snapshot lacks are skipped. True
        when the caller must run ``cluster`` (in a thread) for the stories to follow: the
        grouping rests on disk (``rest_stories``), and the changed articles are stories of
        one until it is loaded.
        """
        with self._lock:
            self._changes += 1  # before anything changes: a save racing this one is dropped
            upserts = [snapshot.articles[i] for i in changes.new_or_changed]
            self.index.write(upserts, changes.removed, generation=snapshot.generation)
            olds = list(
                articles_of(self._snapshot.articles, changes.changed | changes.removed).values()
            )
            for old in olds:
                self.vocabulary.remove(index_terms(_all_text(old)))
            for article in upserts:
                self.vocabulary.add(index_terms(_all_text(article)))
            touched = changes.touched
            if self._with_stories:
                self.stories.update(
                    snapshot.articles, changes.added, changes.changed, changes.removed
                )
            elif self._unstoried is not None:
                self._unstoried |= touched
            elif self._resting is not None:
                self._resume |= touched
            if self._saved is not None:
                self._saved.forget(touched)
            self._update_names(olds, upserts, snapshot)
            for kept in self._vector_stores:
                kept.follow(snapshot, changes)
            self._snapshot = snapshot
            # Again once the new snapshot is the one read: a word learnt in between may have
            # read the old articles through the new index.
            self._forget_words()
            # Claimed last, once nothing can fail (a failed change is rebuilt, and a rebuild
            # groups for itself), and here, as ``rebuild`` claims it.
            wake = self._claim_resting_load()
        return wake

    def _rebuild_names(self, snapshot: CorpusSnapshot) -> None:
        # The title table is for autocomplete alone: built when it is first asked (``suggest``),
        # so a one-shot command never sorts every title. Saved articles keep their census.
        self._set_names(snapshot.census(), None)

    def _update_names(
        self, olds: list[Article], news: list[Article], snapshot: CorpusSnapshot
    ) -> None:
        """Adjust the name tables by the change alone: a full rescan cost 0.65 s at 100k.

        ``olds`` are the changed and removed articles as they were, ``news`` the added and
        changed ones as they are. Tables are copied, not edited, so a reader mid-``suggest``
        keeps consistent ones.
        """
        titles = self._titles  # None: not built yet, the first completion builds it
        if titles is not None:
            titles = titles.changed(
                ((a.id, a.title) for a in olds), ((a.id, a.title) for a in news)
            )
        self._set_names(self._census.changed(olds, news, snapshot.census), titles)

    def _set_names(self, census: Census, titles: TitleTable | None) -> None:
        self._census = census
        outlets, topics = census.outlets, census.topics
        self.outlet_names = [name for name, _ in outlets.most_common()]
        self.topic_names = [name for name, _ in topics.most_common()]
        # Every word start of every outlet and topic name, so "verge" finds "The Verge".
        name_keys = []
        for names, kind in ((outlets, "outlet"), (topics, "topic")):
            for name, count in names.items():
                words = name.casefold().split()
                for i in range(len(words)):
                    name_keys.append((" ".join(words[i:]), -count, name, kind))
        name_keys.sort()
        self._name_keys = name_keys
        self._titles = titles
        self._forget_words()
        # Building the reader costs ~0.2 s per 10k outlet names: only a change in the names
        # themselves (not in how many articles each has) needs a new one.
        names = (frozenset(outlets), frozenset(topics))
        if self._borrowed_reader is not None:
            self._reader = self._borrowed_reader
        elif self._reader_names != names:
            self._reader = QueryReader(outlets, topics, capitalised_share=self._casing.share)
            self._reader_names = names

    # ----------------------------------------------------------------- ranking
    def search(
        self,
        query: str,
        outlet: str | None = None,
        topic: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Ranked hits above the confidence threshold, or ``not_found`` with suggestions."""
        return self.search_filtered(query, self.index_filter(outlet, topic, since, until), limit)

    def search_filtered(self, query: str, flt: IndexFilter | None, limit: int = 10) -> SearchResult:
        """``search`` with a filter already made (by ``index_filter``, maybe of another engine)."""
        return self._search(query, self._query_terms(query), flt, limit)

    def _search(
        self,
        query: str,
        parsed: QueryTerms,
        flt: IndexFilter | None,
        limit: int,
        matcher: QueryMatcher | None = None,
    ) -> SearchResult:
        hits, nearest, reason = self._rank(query, parsed, flt, max(limit, 1), matcher)
        corrected = parsed.corrected
        if hits:
            return SearchResult(query, tuple(hits), corrected=corrected)
        not_found = self._not_found(query, nearest, corrected, reason)
        return SearchResult(query, (), not_found, corrected)

    def index_filter(
        self, outlet: str | None, topic: str | None, since: datetime | None, until: datetime | None
    ) -> IndexFilter | None:
        """The index's restriction for these options, names resolved against this corpus."""
        if not (outlet or topic or since or until):
            return None
        topic_key = None
        if topic:
            known = self.resolve_topic(topic)
            topic_key = (known or topic).casefold()
        outlet_terms: tuple[str, ...] = ()
        if outlet:
            known = self.resolve_outlet(outlet)
            outlet_terms = tuple(index_terms(known or outlet))
        return IndexFilter(outlet_terms, topic_key, since, until)

    def resolve_outlet(self, name: str) -> str | None:
        """The known outlet a user meant ("verge" -> "The Verge"), if any is close."""
        return _closest(name, self._census.outlets)

    def resolve_topic(self, name: str) -> str | None:
        """The known topic a user meant, if any is close."""
        return _closest(name, self._census.topics)

    def _articles_with(self, word: str, limit: int) -> list[str]:
        # Only a word the index itself would make: a query word may hold an apostrophe, which
        # the index's query syntax refuses ("Syntax Error").
        terms = index_terms(word)
        if terms != [word]:
            return []
        # Ties in BM25 come back in the order articles reached the index, which can differ
        # between processes: the sample is the best by score, then by id, the same every time.
        found = sorted(self.index.search(terms, limit * 4), key=lambda hit: (-hit[1], hit[0]))
        return [article_id for article_id, _ in found[:limit]]

    def _forget_words(self) -> None:
        """What was learnt of single words (their casing, their long forms): the corpus moved."""
        self._casing.forget()
        self._abbreviations.forget()

    def capitalised_share(self, word: str) -> float | None:
        """How often the corpus capitalises ``word`` mid-sentence; None when it never shows it."""
        return self._casing.share(word)

    def _long_form(self, word: str) -> tuple[str, ...] | None:
        """What the corpus spells ``word`` out as, when it writes the word as a name ("ML").

        A word written in lowercase ("ban") is an ordinary word whatever some article once
        put in parentheses; only names are looked up, each once (``CorpusAbbreviations``).
        """
        share = self._casing.share(word)
        if share is None or share < NAME_SHARE:
            return None
        return self._abbreviations.long_form(word)

    def _lead_texts(self, ids: list[str]) -> list[tuple[str, ...]]:
        found = articles_of(self._snapshot.articles, ids)  # saved ones: one query
        return [(article.excerpt, *article.body[:2]) for article in found.values()]

    @property
    def reader(self) -> QueryReader:
        """How this engine reads queries (a digest run's engine borrows it)."""
        return self._reader

    def read(self, query: str) -> QueryIntent:
        """What ``query`` asks, read against this corpus's outlets and topics.

        "Last june" is read from the newest coverage, not the clock: in an archive that ends
        in 2021 it means June 2020; in a live corpus the newest article is about today anyway.
        """
        return self._reader.read(query, now=self._census.last)

    def _query_terms(self, query: str) -> QueryTerms:
        """Content terms after typo correction, with the weight each carries.

        The question's frame ("how much money did", "what did the verge write about"), the
        outlets and the period it names are not what it is about: only its subject words are
        sought and weighed. A query that is all frame falls back to all of its words.
        """
        words = self._word_table()
        # Begun first, so that it is computed while the query is read and ranked.
        sentence = self._sentence_vector(query) if words is not None else None
        intent = self.read(query)
        tokens = index_terms(" ".join(intent.subject_words)) or index_terms(query)
        proper, name_words = _proper_nouns(query)
        terms: dict[str, float] = {}
        present_weight: dict[str, float] = {}
        spelled: list[str] = []
        typed: dict[str, str] = {}
        changed = False
        unknown: set[str] = set()  # words the corpus holds in no form, left uncorrected
        for token in tokens:
            word = token
            if token not in STOPWORDS and not self.vocabulary.known(token):
                fixed = self.vocabulary.correct(token)
                if fixed and _plausible_typo(token, fixed, words):
                    word, changed = fixed, True
                    typed.setdefault(fixed, token)
                else:
                    unknown.add(token)
            spelled.append(word)
            if word in STOPWORDS or word in terms:
                continue
            idf = self.vocabulary.idf(word)
            if word != token:
                # A correction is a guess: it counts for less when found and costs less when not.
                terms[word], present_weight[word] = 0.85 * idf, 0.7 * idf
            elif word in unknown and token not in proper:
                # A lowercase word the corpus never uses is more often a paraphrase than the
                # subject; a capitalised one ("Rivian") is the subject, and it isn't covered.
                terms[word], present_weight[word] = 0.5 * idf, 0.5 * idf
            else:
                terms[word], present_weight[word] = idf, idf
        content = {t: w for t, w in terms.items() if t not in META_WORDS} or terms
        return QueryTerms(
            weights=content,
            present=present_weight,
            corrected=" ".join(spelled) if changed else None,
            unknown_names=frozenset(t for t in content if t in proper and t in unknown),
            names=frozenset(t for t in content if t in proper),
            name_words=frozenset(t for t in content if t in name_words),
            intent=intent,
            unknown=frozenset(t for t in content if t in unknown),
            typed=typed,
            word_table=words,
            sentence=sentence,
        )

    def prepare(self, query: str) -> None:
        """Begin the question's sentence vector now, for an answer still waiting its turn.

        The bot answers in one engine thread; at 200 interactions a second a question waits
        there behind others, and its vector (~2 ms) is computed meanwhile on the other core.
        Never waits: called from the event loop, before the answer is queued.
        """
        model = self.sentences
        if model is not None and model.loaded:
            self._question_vector(model, query)

    def _sentence_vector(self, query: str) -> Future[Any] | None:
        """The question's sentence vector, begun in a thread now; None until the model loads.

        The graph releases the GIL while it computes: beside the ranking, its ~2 ms mostly
        hides (docs/semantic-vectors.md). One begun by ``prepare`` is taken as it is.
        """
        model = self.sentences
        if model is None or not model.ready():
            return None
        return self._question_vector(model, query)

    def _question_vector(self, model: SentenceModel, query: str) -> Future[Any]:
        with self._questions_lock:
            begun = self._questions.get(query)
            if begun is not None:
                self._questions.move_to_end(query)
                return begun
            if self._question_thread is None:
                self._question_thread = ThreadPoolExecutor(1, thread_name_prefix="question")
            begun = self._question_thread.submit(model.text_vector, query)
            self._questions[query] = begun
            while len(self._questions) > QUESTIONS_KEPT:
                self._questions.popitem(last=False)
            return begun

    def _rank(
        self,
        query: str,
        parsed: QueryTerms,
        flt: IndexFilter | None,
        limit: int,
        matcher: QueryMatcher | None = None,
    ) -> tuple[list[Hit], list[str], str]:
        """Accepted hits (best first, at most ``limit``), nearest titles, and why none answers.

        The answerability model decides whether the first candidate answers; when it doesn't,
        the reason is what that candidate lacks of what the query asserts (``why_not``).
        """
        scored, scorer = self._scored(query, parsed, flt, limit, matcher)
        if not scored:
            return [], [], ""
        matcher, intent = scorer.matcher, parsed.intent
        hits = []  # excerpts are built only for what is shown: they scan whole bodies
        judged: tuple[bool, dict[str, float]] | None = None  # answers?, the evidence
        if intent is not None:
            scored, judged = self._by_answerability(query, scored, parsed)
        for n, item in enumerate(scored[:limit]):
            article, score = item.article, item.score
            # The model decides whether the query is answered at all; below the first hit the
            # list goes on while the others match as well as an answer must.
            if n or judged is None:
                if score < CONFIDENT:
                    if n < RERANK:  # the reordered head is not in score order: look on
                        continue
                    break
            elif not judged[0]:
                assert intent is not None
                closest = [i.article for i in scored[:3]]
                outlets = [a.outlet.name for a in closest]
                reason = why_not(intent, judged[1], article, outlets)
                return [], [a.title for a in closest], reason
            excerpt, marks = best_window(article, matcher)
            # A title holding every word found anywhere is the field that explains the match
            # (the title wins ties): no need to scan the body again (a third of search hits).
            field = "title" if item.covered <= item.in_title else matched_field(article, matcher)
            hits.append(Hit(article, round(min(score, 100.0), 1), field, excerpt, marks))
        return hits, [item.article.title for item in scored[:3]], ""

    def explain(self, query: str, limit: int = 5) -> list[tuple[Article, float, dict[str, float]]]:
        """The leading candidates with their scores and answerability features, undecided.

        What ``bench/answerability/fit.py`` learns from, and what a reviewer reads to see why
        an answer was given or refused.
        """
        parsed = self._query_terms(query)
        scored, _ = self._scored(query, parsed, None, limit)
        scored, told = self._with_sentences(scored, parsed)
        closeness = self._closeness(query, parsed)
        shown = scored[:limit]
        more = (told or [])[: len(shown)]
        more += [{}] * (len(shown) - len(more))  # none for those after the leading five
        return [
            (item.article, item.score, {**self._evidence(scored, n, parsed, closeness), **extra})
            for n, (item, extra) in enumerate(zip(shown, more, strict=True))
        ]

    def _word_table(self) -> WordVectors | None:
        """The word table when it is loaded.

        Read once per query (``QueryTerms.word_table``), so that its typo corrections and all
        its candidates' features agree on it.
        """
        words = self.word_vectors
        return words if words is not None and words.ready() else None

    def _closeness(self, query: str, parsed: QueryTerms) -> Closeness | None:
        """The query against the corpus in meaning, when the word table is there to read it.

        None, too, for a corpus smaller than the sample: there a story's own articles are a
        large share of the corpus (the seeds tell one story three times), nothing can stand
        out from it, and the model fitted without ``meaning_z`` answers.
        """
        words, intent = parsed.word_table, parsed.intent
        articles = self._snapshot.articles
        if words is None or len(articles) < SAMPLE:
            return None
        meaning = opening_vectors(self._meanings, words)
        # What the query is about, not how it asks nor whom: "what did the verge say about" is
        # as close to every article, and the outlet and the period are features of their own.
        about = " ".join(intent.subject_words) if intent is not None else ""
        return self._sample.closeness(about or query, articles, words, meaning)

    def _with_sentences(
        self, scored: list[Rated], parsed: QueryTerms
    ) -> tuple[list[Rated], list[dict[str, float]] | None]:
        """The leading ``RERANK`` chosen with the sentence model, and their features by it.

        The ranking's first ``FUSED`` are fused by reciprocal rank with their order by the
        question's cosine with each opening: a question retold in other words ranks its
        article 6th to 10th by words and first by meaning. On the labelled dev questions this
        put a right article among the five the answerability model weighs for 997 of 1,033
        answerable ones, against 986 by words alone (fusing 20 or 40: no more). The rest keep
        the ranking's order, which the lists below the five rely on. Each of the five then gets
        ``sentence_features``. Unchanged, and no features (None), until the model is loaded or
        while a candidate's vector is not there yet (``_sentence_vectors``).
        """
        pool = scored[:FUSED]
        vectors = self._sentence_vectors(parsed, [item.article for item in pool])
        if vectors is None:
            return scored, None
        asked, rows = vectors
        cosines = [float(row @ asked) for row in rows]
        by_meaning = sorted(range(len(pool)), key=lambda n: -cosines[n])
        meaning_rank = {n: rank for rank, n in enumerate(by_meaning)}
        fused = sorted(
            range(len(pool)),
            key=lambda n: -(1 / (FUSION_K + n) + 1 / (FUSION_K + meaning_rank[n])),
        )[:RERANK]  # stable: a tie keeps the ranking's order
        chosen = set(fused)
        scored = [pool[n] for n in fused] + [i for n, i in enumerate(scored) if n not in chosen]
        return scored, sentence_features(asked, [rows[n] for n in fused], RERANK)

    def _sentence_vectors(
        self, parsed: QueryTerms, articles: list[Article]
    ) -> tuple[Any, list[Any]] | None:
        """The question's sentence vector and the articles'; None when they cannot be read.

        None until the model is loaded, and without the word table (the models fitted with the
        sentence features assume the table's too: ``_query_terms`` begins the question's vector
        only beside it), and while a kept vector is on its way (``Meanings.vectors_now``).
        """
        model, asked = self.sentences, parsed.sentence
        if model is None or asked is None or not articles:  # asked only beside the table
            return None
        kept = self._sentence_meanings
        try:
            if kept is not None and kept.words is model:
                rows = kept.vectors_now(articles, self._snapshot)
                if rows is None:
                    return None
            else:
                vector = opening_vectors(kept, model)
                rows = [vector(a) for a in articles]  # meanwhile, the question's is computed
            return asked.result(), rows
        except Exception:  # a failing vector costs the question its sentence features only
            log.exception("a sentence vector failed")
            return None

    def meanings_in_background(self) -> Callable[[], None]:
        """Work for a thread: the corpus sample, then every article's opening vector.

        The vectors are kept beside the database. Until they are done (and for articles changed
        since), a query computes its candidates' through the word table, and reads the sentence
        model's as they arrive (``_sentence_vectors``); the sample is drawn here so that the
        first answer does not.
        """
        kept = self._meanings
        for store in self._vector_stores:
            store.will_fill()  # answers read what is kept meanwhile, and compute none

        def work() -> None:
            articles = self._snapshot.articles
            if kept is not None and kept.words.join() and len(articles) >= SAMPLE:
                self._sample.draw(articles, kept.words, kept.vector)  # not on the first answer
            # Answers read the sentence model only beside the word table (``_query_terms``):
            # without one, its fill would take both cores for minutes (at 100,000 articles)
            # for vectors nothing reads.
            table = self.word_vectors is not None and self.word_vectors.join()
            for store in self._vector_stores:  # the table's first: 60 times faster to fill
                if store is self._sentence_meanings and not table:
                    continue
                store.fill(lambda: self._snapshot, self._meanings_catch_up)

        return work

    def save_meanings(self) -> None:
        """Keep the opening vectors computed since they were last kept (at a stop)."""
        for kept in self._vector_stores:
            kept.save()

    @property
    def meanings_state(self) -> str:
        """How the articles' opening vectors stand, for an operator (/corpus stats)."""
        return _kept_state(self._meanings, self.word_vectors is not None, self._snapshot)

    @property
    def sentences_state(self) -> str:
        """How the sentence model and the articles' vectors through it stand (/corpus stats)."""
        model = self.sentences
        if model is None:
            return "off (no word table)" if self.word_vectors is None else "off"
        if self.word_vectors is None or self.word_vectors.failed:
            return f"{model.state}; not read: answers read it only beside the word table"
        kept = _kept_state(self._sentence_meanings, True, self._snapshot)
        return f"{model.state}; vectors: {kept}"

    def _by_answerability(
        self, query: str, scored: list[Rated], parsed: QueryTerms
    ) -> tuple[list[Rated], tuple[bool, dict[str, float]]]:
        """The leading candidates by the model's probability; whether the first answers, why.

        The ranking finds the subject; among its first few, the one holding what the query
        asserts (the amount asked for, the event, the named outlet) is the answer. Features
        are read in the ranking's order, as ``explain`` (and so the fitting) reads them.
        """
        scored, told = self._with_sentences(scored, parsed)
        head = scored[:RERANK]
        closeness = self._closeness(query, parsed)
        features = [self._evidence(scored, n, parsed, closeness) for n in range(len(head))]
        model = default_model(
            parsed.word_table is not None, meaning=closeness is not None, sentences=bool(told)
        )
        if told:
            features = [{**f, **more} for f, more in zip(features, told, strict=True)]
        chance = [model.probability(f) for f in features]
        order = sorted(range(len(head)), key=lambda n: -chance[n])
        best = order[0]  # ``_rank`` asks only with candidates to order
        answers = chance[best] >= model.threshold  # the threshold of the model that judged
        return [head[n] for n in order] + scored[RERANK:], (answers, features[best])

    @staticmethod
    def _evidence(
        scored: list[Rated], n: int, parsed: QueryTerms, closeness: Closeness | None
    ) -> dict[str, float]:
        # The lead over the best other candidate (for the first, the runner-up; for the
        # others a deficit), so no candidate gains from merely being last in a short list.
        others = [item.score for i, item in enumerate(scored[:RERANK]) if i != n]
        runner = max(others) if others else None
        assert parsed.intent is not None
        return evidence(
            parsed.intent,
            _candidate(scored[n], parsed),
            runner,
            parsed.weights,
            parsed.word_table,
            closeness,
        )

    def _scored(
        self,
        query: str,
        parsed: QueryTerms,
        flt: IndexFilter | None,
        limit: int,
        matcher: QueryMatcher | None = None,
    ) -> tuple[list[Rated], Scorer]:
        """Candidates in answer order: BM25's, each rated, a named outlet's first."""
        vocabulary, snapshot = self.vocabulary, self._snapshot
        scorer = Scorer(query, parsed, vocabulary.__contains__, matcher, self._long_form)
        terms = list(parsed.weights)
        if not terms:
            return [], scorer
        wanted = max(CANDIDATES, limit)
        intent = parsed.intent
        # An outlet the caller filtered on (/search outlet:, a digest's filter) is the rule; one
        # named in the query only reorders within it.
        named_here = not (flt is not None and flt.outlet_terms)
        preferred = intent.outlet_matches if intent and named_here else frozenset()
        period = intent.period if intent is not None else None
        if period is not None and period.start is None and period.end is None:
            period = None  # bounded on neither side: it prefers nothing

        def rated(candidates: list[tuple[str, float]]) -> list[Rated]:
            held = articles_of(snapshot.articles, (aid for aid, _ in candidates))
            found = ((held.get(aid), bm25) for aid, bm25 in candidates)
            scored = scorer.rate_all((a, bm25) for a, bm25 in found if a is not None)
            if preferred or period is not None:
                # A named outlet or period is a strong preference: its articles go first
                # whenever the answerability model would still answer with them.
                bonus = [
                    OUTLET_PREFERENCE * (i.article.outlet.name in preferred)
                    + PERIOD_PREFERENCE * (period is not None and published_in(i.article, period))
                    for i in scored
                ]
                scored = [i._replace(key=i.key + b) for i, b in zip(scored, bonus, strict=True)]
                scored.sort(key=best_first)
            return scored

        # The preferred articles' filters, searched beside the plain query whatever its words.
        outlets = {tuple(index_terms(outlet)) for outlet in preferred}  # aliases alike
        narrowed = [replace(flt or IndexFilter(), outlet_terms=terms) for terms in sorted(outlets)]
        if period is not None:  # within the caller's own dates, when it set some
            base = flt or IndexFilter()
            since = max((d for d in (base.since, period.start) if d is not None), default=None)
            until = min((d for d in (base.until, period.end) if d is not None), default=None)
            if since is None or until is None or since < until:
                narrowed.append(replace(base, since=since, until=until))

        def search(words: list[str], titles_only: bool = False) -> list[tuple[str, float]]:
            found = self.index.search(words, wanted, flt, titles_only=titles_only)
            for only in narrowed:  # the preferred articles, however BM25 ranks them
                seen = {aid for aid, _ in found}
                more = self.index.search(words, wanted, only, titles_only=titles_only)
                found += [c for c in more if c[0] not in seen]
            return found

        # Words in a large share of the corpus barely change which articles rank first, but
        # their long posting lists were most of the index's p99 at a million articles; they
        # still count in the score. A word is common with all its forms: a rare form of a
        # common word ("ferrying") must not pick the candidates alone.
        common = max(vocabulary.documents * COMMON_SHARE, COMMON_MIN_ARTICLES)
        if self.index.size <= COMMON_MIN_ARTICLES:
            # No posting list is long in an index this small, whatever the vocabulary (a
            # digest run's index of new articles borrows the whole corpus's).
            common = float("inf")
        df = vocabulary.df
        # Each word with the corpus's other forms of it, looked up once (a family is sorted by
        # frequency on every lookup).
        families = [dict.fromkeys((t, *vocabulary.forms(t))) for t in terms]
        selective = [
            form
            for t, family in zip(terms, families, strict=True)
            if df.get(t, 0) <= common
            for form in family
            if df.get(form, 0) <= common
        ]
        if selective:
            return rated(search(selective)), scorer
        # Only common words: titles first, whose posting lists are far shorter (p99 at
        # 1M: 6.8 -> 2.2 ms), then the full text when no title answers the query.
        every = list(dict.fromkeys(form for family in families for form in family))
        scored = rated(search(every, titles_only=True))
        if not any(item.score >= CONFIDENT for item in scored):
            seen = {item.article.id for item in scored}
            more = [c for c in search(every) if c[0] not in seen]
            scored = sorted([*scored, *rated(more)], key=best_first)
        return scored, scorer

    def _not_found(
        self, query: str, nearest: list[str], corrected: str | None, reason: str = ""
    ) -> NotFound:
        # Nothing shares a word with the query when ``nearest`` is empty: no honest suggestion.
        suggestions = tuple(dict.fromkeys(nearest))
        first, last = self.date_range()
        return NotFound(query, suggestions, first, last, corrected, reason)

    def _best(self, query: str) -> Hit | NotFound:
        result = self.search(query, limit=1)
        if result.not_found is not None:
            return result.not_found
        return result.hits[0]

    # ----------------------------------------------------------------- commands
    def summary(self, query: str) -> SummaryAnswer | NotFound:
        """The best article and a short extractive summary of it.

        Choosing the sentences has ``TEXT_BUDGET`` seconds: past it the summary is the
        article's plain excerpt, so a file built to be slow costs this answer only.
        """
        hit = self._best(query)
        if isinstance(hit, NotFound):
            return hit
        lead = hit.article._replace(body=_lead(hit.article.body))
        try:
            summary = summarize(lead, query=query, deadline=Deadline(TEXT_BUDGET))
        except OverBudget:
            _log_over_budget("summary", hit.article)
            summary = (plain_excerpt(hit.article, MAX_SUMMARY_CHARS),)
        return SummaryAnswer(query, hit, summary)

    def source(self, query: str) -> SourceAnswer | NotFound:
        """Who published the best article, when, where, and who else covered its story."""
        parsed = self._query_terms(query)  # read once: the search and the outlet rule share it
        result = self._search(query, parsed, None, 1)
        if result.not_found is not None:
            return result.not_found
        hit = result.hits[0]
        named = parsed.intent.outlet_matches if parsed.intent else frozenset()
        if named and hit.article.outlet.name not in named:
            # A named outlet decides /source: another outlet's article is not its source. Its
            # own article on the same story is; failing that, say so and show who covered it.
            story = self.story_of(hit.article)
            own = next((a for a in story.articles if a.outlet.name in named), None)
            if own is not None:
                hit = Hit(own, hit.score, "story", own.excerpt[:EXCERPT_CHARS])
                return SourceAnswer(query, hit, story)
            who = [f"{a.title} — {a.outlet.name}" for a in story.articles][:5]
            said = " or ".join(parsed.intent.outlet_names if parsed.intent else ())
            reason = f"{said} has no article on this in the coverage. Who did:"
            first, last = self.date_range()
            return NotFound(query, tuple(who), first, last, None, reason)
        return SourceAnswer(query, hit, self.story_of(hit.article))

    def coverage(self, query: str) -> CoverageAnswer | NotFound:
        """The story around the best article: outlets, first report, timeline."""
        hit = self._best(query)
        if isinstance(hit, NotFound):
            return hit
        return CoverageAnswer(query, hit, self.story_of(hit.article))

    def ask(self, question: str) -> AskAnswer | NotFound:
        """The passage that best answers a question, quoted from one of the best articles.

        Choosing paragraphs and sentences has ``TEXT_BUDGET`` seconds: past it the answer is
        the best article's plain excerpt, so a file built to be slow costs this answer only.
        """
        parsed = self._query_terms(question)
        matcher = QueryMatcher(parsed.weights)  # the search's, then the paragraphs'
        result = self._search(question, parsed, None, PASSAGE_CANDIDATES, matcher)
        if result.not_found is not None:
            return result.not_found
        deadline = Deadline(TEXT_BUDGET)
        try:
            # Only paragraphs holding most of the question are worth splitting into sentences:
            # doing it for whole bodies was most of an ask's time. Paragraphs keep their
            # sentences' context.
            articles = [
                _paragraphs_matching(question, h.article, matcher, parsed.weights, deadline)
                for h in result.hits
            ]
            passage = best_passage(question, articles, idf=self.vocabulary.idf, deadline=deadline)
        except OverBudget:
            _log_over_budget("ask", *(h.article for h in result.hits))
            passage = None
        if passage is None:
            return AskAnswer(question, result.hits[0], _fallback_passage(result.hits[0]))
        hit = next(h for h in result.hits if h.article.id == passage.article.id)
        return AskAnswer(question, hit, replace(passage, article=hit.article))

    @property
    def stories_state(self) -> str:
        """How the stories stand, for an operator (/corpus stats)."""
        if self._with_stories:
            return "grouped"
        if self._resting is not None and not self._resume:
            return "grouped (kept on disk until the corpus changes)"
        if self._saved is not None:
            return "answering from the groups kept; the whole grouping is loading"
        if self._grouping:
            return "grouping (answers show stories of one meanwhile)"
        return "grouped when an answer needs them" if self._on_demand else "not grouped"

    @property
    def word_table_state(self) -> str:
        """How the word table stands, for an operator (/corpus stats)."""
        words = self.word_vectors
        return "off (answers use words alone)" if words is None else words.state

    @property
    def stories_ready(self) -> bool:
        """Whether stories are grouped (an engine built with ``stories="later"`` isn't yet).

        A grouping resting on disk is, until a change touches an article.
        """
        return self._with_stories or (self._resting is not None and not self._resume)

    def cluster(self) -> None:
        """Group the stories of an engine built with ``stories="later"``; it answers meanwhile.

        A large corpus takes minutes to cluster (227 s at a million articles) and everything
        else is ready long before. Changes applied meanwhile are recorded and the finished
        stories follow them (as ``apply`` would have) before they are put in place, so a
        corpus that keeps changing never makes the grouping start over.
        """
        with self._lock:
            self._clustering = True
        try:
            while True:
                with self._lock:
                    snapshot = self._snapshot
                    self._unstoried = set()
                    resume = None
                    if self._resting is not None and self._resume:  # loaded for the changes
                        resume = (self._resting, self._resume)
                    self._resting, self._resume, self._loading = None, set(), resume
                kept = self._kept_grouping(snapshot, resume)
                stories = kept or StoryIndex.build(snapshot.articles)
                with self._lock:
                    touched, self._unstoried = self._unstoried, None
                    if touched is None:
                        continue  # a rebuild replaced the snapshot wholesale: start over
                    if touched:
                        old, new = snapshot.articles, self._snapshot.articles
                        stories.update(
                            new,
                            {i for i in touched if i in new and i not in old},
                            {i for i in touched if i in new and i in old},
                            {i for i in touched if i not in new and i in old},
                        )
                    self.stories, self._with_stories = stories, True
                    self._saved, self._loading = None, None
                    # Under the lock: a rebuild must not see a grouping that is already over.
                    self._grouping = self._clustering = False
                break
            # A one-shot command reads what is kept, never writes; a grouping loaded as kept
            # and not changed since needs no writing either (``save_stories`` sees that).
            if not self._on_demand:
                self.save_stories()
        except BaseException:
            with self._lock:
                loading, touched = self._loading, self._unstoried
                if loading is not None and touched is not None:
                    # A failed load rests again, all it was to catch up with kept: the next
                    # change tries again, and the changed articles claim no story meanwhile.
                    self._resting, self._resume = loading[0], loading[1] | touched
                self._grouping = self._clustering = False
                self._unstoried, self._loading = None, None
            raise

    def story_of(self, article: Article) -> Story:
        """The article's story; a story of one when the stories don't hold it.

        That happens while stories are still being grouped (then ``grouped=False`` and no
        "first"), for an answer found just before a change removing its article was applied
        (stories follow a change before the snapshot does), and without stories.
        """
        saved = self._saved
        if self._on_demand and not self._with_stories and saved is None:
            self._group_on_demand()
        try:
            return self.stories.story_of(article.id)
        except KeyError:
            if saved is not None:
                with contextlib.suppress(KeyError):  # changed or added since: not in them
                    return saved.story_of(article.id, self._snapshot.articles)
                if self._on_demand and not self._with_stories:
                    # Changed since the groups were kept: only a grouping knows its story (a
                    # load of the kept one, caught up, where there is one).
                    self._group_on_demand()
                    with contextlib.suppress(KeyError):
                        return self.stories.story_of(article.id)
            if self._grouping or self._resume:  # others may well have covered it: no claim
                return Story(article.id, (article,), None, grouped=False)
            first = article if article.published is not None else None
            return Story(article.id, (article,), first)

    def _group_on_demand(self) -> None:
        with self._demand_lock:  # one grouping, however many threads ask at once
            if not self._with_stories:
                self.cluster()

    def related(self, query: str, limit: int = 10) -> RelatedAnswer | NotFound:
        """What to read next: ``related:`` entries, the rest of the story, similar coverage.

        Order, each item once under the first reason that finds it: the article's own
        ``related:`` links (either way), then the entries of the story's other articles' lists
        (earliest report first, each list in its order) naming whose list, then the rest of the
        story, then similar coverage. A story's articles often come from different feeds with
        different lists: without the others' lists, an article known only as someone's related
        entry (most of a story's) showed none of the related reading its story has. A story
        mate found through a list says "same story" too.
        """
        hit = self._best(query)
        if isinstance(hit, NotFound):
            return hit
        article = hit.article
        articles = self._snapshot.articles
        story = self.story_of(article).articles
        mates = {a.id for a in story if a.id != article.id}
        items: dict[str, RelatedItem] = {}

        def add(other: Article | None, reason: str, score: float) -> None:
            if other is None or other.id == article.id or other.id in items:
                return
            if other.id in mates:
                reason += "; same story"
            items[other.id] = RelatedItem(other, reason, score)

        listed = articles_of(articles, article.related)  # one query for the list
        for other_id in article.related:
            add(listed.get(other_id), "listed as related", 100.0)
        # Each step only adds after the last, so once ``limit`` are found the rest is not read:
        # a big story's lists (and a popular entry's long provenance) cost nothing unshown.
        for member in story:
            if len(items) >= limit:
                break
            if member.id == article.id:
                continue
            whose = f"in {possessive(member.outlet.name or member.outlet.domain)} related list"
            for other in _listed_by(member, articles):
                add(other, whose, 95.0)
        for other in story:
            if other.id not in items and other.id != article.id:
                items[other.id] = RelatedItem(other, "same story", 90.0)
        if len(items) < limit:
            for other, reason, score in sorted(self._similar(article, limit), key=lambda s: -s[2]):
                add(other, reason, score)
        return RelatedAnswer(query, hit, tuple(items.values())[:limit])

    def _similar(self, article: Article, limit: int) -> Iterable[tuple[Article, str, float]]:
        """Articles sharing the rarest title and excerpt words or topics with ``article``."""
        own = [t for t in index_terms(f"{article.title} {article.excerpt}") if t not in STOPWORDS]
        rare = sorted(set(own), key=self.vocabulary.idf, reverse=True)[:8]
        own_topics = {t.casefold() for t in article.topics}
        matcher = QueryMatcher(rare)
        hits = self.index.search(rare, limit * 2)
        found = articles_of(self._snapshot.articles, [i for i, _ in hits])  # one query
        for other_id, _ in hits:
            other = found.get(other_id)
            if other is None or other.id == article.id:
                continue
            shared_terms = sorted(matcher.found_in((other.title, other.excerpt)), key=rare.index)
            shared_topics = [t for t in other.topics if t.casefold() in own_topics]
            if len(shared_terms) < 2:
                continue
            reason = "shared terms: " + ", ".join(shared_terms[:4])
            if shared_topics:
                reason += "; topics: " + ", ".join(shared_topics[:3])
            score = (
                100
                * fsum(map(self.vocabulary.idf, shared_terms))
                / (fsum(map(self.vocabulary.idf, rare)) or 1)
            )
            yield other, reason, round(score, 1)

    def latest(self, topic: str | None = None, limit: int = 10) -> list[Article]:
        """Newest dated articles, optionally of one topic."""
        flt = IndexFilter(topic=(self.resolve_topic(topic) or topic).casefold() if topic else None)
        ids = self.index.filtered_all(limit, flt)
        held = articles_of(self._snapshot.articles, ids)
        return [held[i] for i in ids if i in held]

    def titles_in_background(self) -> Callable[[], None]:
        """Hand the autocomplete title table's build to the caller, to run in its own thread.

        The table is every title, sorted: a pass over every row's titles (saved articles are
        not decoded for it, but it is still seconds at a million), and the answers' thread
        must not wait for it. Completions offer the index's titles meanwhile. Returns the build.
        """
        self._titles_building = True
        return self._build_titles

    def _build_titles(self) -> None:
        try:
            for _ in range(TITLE_TRIES):
                if self._titles is not None:
                    return
                snapshot = self._snapshot
                table = TitleTable.build(every_title(snapshot.articles))
                with self._lock:  # a change applied meanwhile: built again from the new one
                    if self._snapshot is snapshot and self._titles is None:
                        self._titles = table
        finally:  # given up, or dropped by a rebuild later: a completion builds it then
            self._titles_building = False

    def ids_published_since(self, when: datetime) -> list[str]:
        """Ids of the articles the index dates at or after ``when``'s second, newest first.

        A superset (the index keeps whole seconds): callers compare the exact times, on the
        snapshot they read. Found by the index, not a pass: saved articles are read from the
        database as asked for, and a digest run's few new ones cost seconds at a million so.
        """
        return self.index.filtered_all(max(self.index.size, 1), IndexFilter(since=when))

    def date_range(self) -> tuple[datetime | None, datetime | None]:
        """First and last publication times in the corpus."""
        return self._census.first, self._census.last

    # ----------------------------------------------------------------- autocomplete
    def suggest(self, prefix: str, limit: int = SUGGEST_LIMIT) -> list[Suggestion]:
        """Completions for what a user is typing: outlets and topics first, then titles."""
        text = prefix.strip()
        out: dict[str, Suggestion] = {}
        # One snapshot throughout: ``apply`` may swap it (and the name tables) meanwhile, and
        # a title table newer than the snapshot names articles it doesn't hold yet.
        articles, titles = self._snapshot.articles, self._titles
        if titles is None and not self._titles_building:
            # The first completion builds the table, outside the lock (seconds at a million),
            # and reads it with the snapshot it is of.
            self._build_titles()
            with self._lock:
                articles, titles = self._snapshot.articles, self._titles
        if not text:
            for article in self.latest(limit=limit):
                _put(out, article.title, "title")
            return list(out.values())[:limit]
        folded = text.casefold()
        keys = self._name_keys
        start = bisect.bisect_left(keys, (folded,))
        named = []
        for key, rank, name, kind in keys[start : start + 50]:
            if not key.startswith(folded):
                break
            named.append((rank, name, kind))
        for _, name, kind in sorted(named)[:5]:
            _put(out, name, kind)
        # Titles that begin with what is typed come first; for one or two letters they are all
        # there is to offer, and they spare the index a query of the commonest words ("the ").
        begun = folded + " " if prefix[-1:].isspace() else folded  # a space ends a word
        begin = titles.starting(begun, limit) if titles is not None else []
        _put_titles(out, articles, begin)
        tokens = index_terms(text)
        if len(folded) < 3 or not tokens or len(out) >= limit:
            return list(out.values())[:limit]
        partial = "" if prefix[-1:].isspace() else tokens[-1]
        complete = tokens if not partial else tokens[:-1]
        # Stop words narrow nothing down and have the longest posting lists.
        complete = [t for t in complete if t not in STOPWORDS] or complete
        complete = [
            t if t in self.vocabulary else (self.vocabulary.correct(t) or t) for t in complete
        ]
        ids: list[str] = []
        every = False  # whether ``ids`` were picked from all the titles with the complete words
        if complete and 0 < len(partial) <= SHORT_PARTIAL:
            # A letter or two starts thousands of words, whose union was most of autocomplete's
            # p99 at 1M articles (14 ms); the titles holding the complete words are few, so
            # the best of them are checked for the partial word here instead.
            pool = self.index.prefix(complete, "", SHORT_PARTIAL_POOL)
            every = len(pool) < SHORT_PARTIAL_POOL
            held = titles_of(articles, pool)
            ids = [i for i in pool if _has_word_starting(held.get(i, ()), partial)]
        if not ids and not every:  # when every such title was checked, the index finds no more
            ids = self.index.prefix(complete, partial, limit)
        ids = ids[:limit]
        if not ids and partial and len(partial) >= 4:
            fixed = self.vocabulary.correct(partial)
            if fixed:
                ids = self.index.prefix([*complete, fixed], "", limit)
        _put_titles(out, articles, ids)
        return list(out.values())[:limit]


_NO_CATCH_UP: tuple[str | None, ChangeSet] = (None, ChangeSet())  # nothing to catch up from


def _with_pending(
    kept: KeptStories | None,
    snapshot: CorpusSnapshot,
    catch_up: tuple[str | None, ChangeSet] | None,
) -> tuple[str | None, ChangeSet] | None:
    """``catch_up`` for the stories, reaching back to a grouping that rested at the last stop.

    The loader's catch-up runs from the corpus it last saved (``upto``); a record of the
    articles changed while the grouping rested, up to that corpus (``save_pending``), reaches
    from the grouping's own generation. Together: everything the kept grouping misses.
    """
    base = (catch_up or _NO_CATCH_UP)[0]
    if kept is None or base is None:
        return catch_up
    found = load_pending(kept.pending, base)
    if found is None or state_generation(kept.state) != found[0]:
        return catch_up  # none, or of a grouping no longer the one kept
    generation, touched = found
    changes = (catch_up or _NO_CATCH_UP)[1]
    touched |= changes.touched
    return generation, _as_change(touched, snapshot.articles)


def _as_change(touched: AbstractSet[str], articles: Mapping[str, Article]) -> ChangeSet:
    """The change of ``touched`` articles, as far as their ids tell.

    Those still in ``articles`` are added or changed alike (``StoryIndex.update`` sorts them out
    by what it holds), the rest removed.
    """
    present = frozenset(i for i in touched if i in articles)
    return ChangeSet(present, removed=frozenset(touched - present))


def _kept_state(kept: Meanings | None, table: bool, snapshot: CorpusSnapshot) -> str:
    """How a store of articles' vectors stands, for an operator (``table``: the table is on)."""
    if kept is not None:
        return kept.state(len(snapshot.articles))
    if not table:
        return "off (no word table)"
    return "computed when asked (none kept: no database)"


def _changes_to(
    generation: str, catch_up: tuple[str | None, ChangeSet] | None
) -> dict[str, ChangeSet]:
    """What changed to reach the corpus of ``generation``, by the generation it changed from."""
    if not generation:  # not read by a loader: no store can be known to be of it
        return {}
    found = {generation: ChangeSet()}
    base, changes = catch_up or _NO_CATCH_UP
    if base and base != generation:
        found[base] = changes
    return found


def _listed_by(member: Article, articles: Mapping[str, Article]) -> Iterator[Article]:
    """The articles ``member``'s own ``related:`` list names, in its order.

    ``member.related`` links both ways; an entry read from its list records the member as
    ``via`` in its provenance, which tells the member's picks from the articles that listed it.
    """
    listed = articles_of(articles, member.related)  # one query for the list
    for other_id in member.related:
        other = listed.get(other_id)
        if other is not None and any(
            p.via == member.id and p.kind == "related" for p in other.provenance
        ):
            yield other


def _candidate(item: Rated, parsed: QueryTerms) -> Candidate:
    total = sum(parsed.present.values()) or 1.0
    return Candidate(
        article=item.article,
        coverage=fsum(parsed.present[t] for t in item.covered) / total,
        title_share=fsum(parsed.present[t] for t in item.in_title) / total,
        score=item.score,
        missing=frozenset(set(parsed.weights) - item.covered),
        unknown_words=parsed.unknown,
        typed=parsed.typed,
    )


def _proper_nouns(query: str) -> tuple[set[str], set[str]]:
    """Capitalised words after the first; the same with a first word that starts a name.

    "San Diego" and "Elon Musk" are names from their first word. But a query's first word is
    capitalised either way ("Recent Tesla recalls", "Democrats propose…"), so it never counts
    as a name an answer must hold, only as part of a name rather than of the subject.
    """
    words = query.split()
    names = {t for w in words[1:] if w[:1].isupper() for t in index_terms(w)}
    leading = set()
    if len(words) > 1 and words[0][:1].isupper() and words[1][:1].isupper():
        leading = set(index_terms(words[0]))
    return names, names | leading


def _plausible_typo(word: str, fixed: str, words: WordVectors | None) -> bool:
    """Whether ``word`` is a typo of ``fixed``, not another word a letter or two away.

    Short words differing by one letter are usually other words ("boats"/"beats"); the word
    table, when loaded, tells any word in common use from a misspelling ("breathing" is not
    "breaking", "behaviour" is "behavior").
    """
    if words is not None and not words.same_word(word, fixed):
        return False
    if len(word) > 5 or len(word) != len(fixed):
        return True
    return sorted(word) == sorted(fixed)  # a transposition: "form" for "from"


def _has_word_starting(titles: tuple[str, ...], partial: str) -> bool:
    """Whether a word of an article's titles (``titles_of``) starts with ``partial``."""
    return any(t.startswith(partial) for title in titles for t in index_terms(title))


def _put_titles(
    out: dict[str, Suggestion], articles: Mapping[str, Article], ids: list[str]
) -> None:
    """Offer the titles of ``ids`` in order (read together, not decoded)."""
    shown = titles_of(articles, ids)
    for article_id in ids:
        if article_id in shown:
            _put(out, shown[article_id][0], "title")


def _put(out: dict[str, Suggestion], name: str, kind: str) -> None:
    short = _shorten(name, CHOICE_LENGTH)
    out.setdefault(short.casefold(), Suggestion(short, short, kind))


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _closest(name: str, known: Mapping[str, int]) -> str | None:
    folded = name.casefold().strip()
    for candidate in known:
        if candidate.casefold() == folded:
            return candidate
    match = process.extractOne(
        folded, list(known), scorer=fuzz.WRatio, processor=str.casefold, score_cutoff=85
    )
    return match[0] if match else None


def _all_text(article: Article) -> str:
    return " \n ".join(
        (
            article.title,
            *article.alt_titles,
            article.outlet.name,
            article.outlet.domain,
            " ".join(article.topics),
            article.excerpt,
            *article.body,
        )
    )


def _lead(body: tuple[str, ...]) -> tuple[str, ...]:
    kept, size = [], 0
    for paragraph in body:
        if size >= SUMMARY_CHARS:
            break
        kept.append(paragraph)
        size += len(paragraph)
    return tuple(kept)


def _paragraphs_matching(
    question: str,
    article: Article,
    matcher: QueryMatcher,
    weights: Mapping[str, float],
    deadline: Deadline,
) -> Article:
    """``article`` with only the paragraphs likeliest to answer ``question``.

    Only the body's first ``MAX_TEXT_CHARS`` are weighed (``bounded``): a body of a hundred
    thousand paragraphs must not cost a hundred thousand scans.
    """
    body = bounded(article.body)
    if len(body) <= PASSAGE_PARAGRAPHS:
        return article if body == article.body else article._replace(body=body)
    held = []
    for paragraph in body:
        deadline.check()
        held.append(sum(weights[t] for t in matcher.found(paragraph)))
    kept = likely_paragraphs(question, body, held, PASSAGE_PARAGRAPHS, deadline)
    return article._replace(body=kept or body[:PASSAGE_PARAGRAPHS])


def _fallback_passage(hit: Hit) -> Passage:
    """The best article's plain excerpt, for a question no sentence answers (or none in time)."""
    return Passage(plain_excerpt(hit.article, MAX_SUMMARY_CHARS), hit.article, hit.score)


def _log_over_budget(command: str, *articles: Article) -> None:
    """Name the articles an answer gave up on, so whoever runs the bot can look at them."""
    log.warning(
        "%s: text work over its %.0f ms budget; answered with the plain excerpt (articles %s)",
        command,
        TEXT_BUDGET * 1000,
        ", ".join(a.id for a in articles),
    )
