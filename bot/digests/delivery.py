"""Delivering digests exactly once: compute, write to the outbox, send with a nonce, record.

The order is what makes "exactly once" hold across crashes:

1. the digest (cards, article ids, cut-off) is written to the outbox with a nonce derived from
   its row id, before anything is sent;
2. it is sent with that nonce and ``enforce_nonce``, so Discord answers a repeat within its
   dedup window with the message it already created instead of posting again;
3. the outbox row, the delivery log and the subscription's cut-off are updated in one
   transaction.

A crash between 2 and 3 leaves a pending row; every run (the first one at start) sends pending
rows again with the same nonce before anything new, and gets the original message back. A row
older than the nonce window is first looked for in the target's history by the marker in its
footer (``Sender.find_sent``).

The Discord side is one injected ``Sender``; nothing here imports ``discord``. Failures are
typed: a gone channel, a missing permission or closed DMs fail the subscription (five in a row
pause it); anything else is retried on the next tick, a few times, then counted the same way.
No exception escapes a run, so a bad subscription can't crash-loop the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from bot.corpus.articles import id_difference
from bot.corpus.live import CorpusChange
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.digests.cards import cards_from_json, cards_to_json, digest_message
from bot.digests.models import Digest, DigestError, StillGrouping, Subscription, Target
from bot.digests.selection import MAX_LOOKBACK, DigestRequest, NewCoverage, oldest_since
from bot.digests.store import DigestStore, OutboxRow, digest_marker
from bot.engine.engine import Engine
from bot.render import Card

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Offload = Callable[..., Awaitable[Any]]
"""Runs ``fn(*args)`` off the event loop, like ``asyncio.to_thread`` (the default)."""

# Discord dedups a nonce for "a few minutes"; past this age a pending digest is looked for in
# the target's history before it is sent again.
NONCE_WINDOW = timedelta(minutes=4)
MAX_ATTEMPTS = 5  # sends of one digest that failed for a reason that might pass
INSTANT_WINDOW = 5.0  # seconds of corpus changes gathered into one instant alert


def utc_now() -> datetime:
    """The real clock (tests inject their own or use time-machine)."""
    return datetime.now(UTC)


# ------------------------------------------------------------------------------ the Discord side
class DeliveryError(DigestError):
    """A send that failed; ``reason`` is what ``/digest list`` shows."""

    permanent = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TargetGone(DeliveryError):
    """The channel was deleted or the bot can no longer see it; the user is unknown."""

    def __init__(self, reason: str = "the channel no longer exists") -> None:
        super().__init__(reason)


class MissingPermission(DeliveryError):
    """The bot lacks a permission in the channel; ``permission`` is its name as Discord shows it."""

    def __init__(self, permission: str, where: str = "in this channel") -> None:
        super().__init__(f"the bot is missing the {permission} permission {where}")
        self.permission = permission


class DMsClosed(DeliveryError):
    """The user doesn't accept DMs from the bot (Discord 50007)."""

    def __init__(self, reason: str = "the user's DMs are closed to the bot") -> None:
        super().__init__(reason)


class TransientError(DeliveryError):
    """A failure that may pass: a Discord 5xx, a network error. Retried on the next tick."""

    permanent = False


# What posting a digest in a channel needs: discord.py ``Permissions`` attribute, and the name
# Discord's UI shows (what the user is told is missing). Checked in this order, so the answer
# names the first thing to fix. Read Message History is not required; without it a digest
# left pending past the nonce window can't be looked up (``find_sent``) and is sent again.
CHANNEL_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    # Without it a digest whose post outlived Discord's nonce window can't be found again after
    # a crash, and exactly-once would become at-least-once.
    ("read_message_history", "Read Message History"),
)


def missing_permission(granted: Callable[[str], bool]) -> str | None:
    """The first permission a digest needs that ``granted(attribute)`` says the bot lacks."""
    for attribute, shown in CHANNEL_PERMISSIONS:
        if not granted(attribute):
            return shown
    return None


class Sender(Protocol):
    """What the Discord cog implements; every method may raise a ``DeliveryError``."""

    async def send(self, target: Target, cards: Sequence[Card], nonce: str) -> int:
        """Post ``cards`` as one message with ``nonce`` and ``enforce_nonce``; the message id.

        A repeat of an earlier nonce returns the earlier message's id (Discord's dedup).
        """
        ...

    async def check(self, target: Target) -> None:
        """Raise ``MissingPermission``/``TargetGone`` if a digest couldn't be posted there."""
        ...

    async def find_sent(self, target: Target, marker: str, after: datetime) -> int | None:
        """The id of the bot's message after ``after`` whose footer holds ``marker``, if any."""
        ...


# ------------------------------------------------------------------------------ outcomes
Status = Literal["sent", "nothing-new", "failed", "retrying"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one subscription's digest in a run."""

    subscription_id: int
    status: Status
    articles: int = 0
    message_id: int | None = None
    reason: str | None = None
    paused: bool = False
    recovered: bool = False  # sent from the outbox: left pending by a crash or a failed try


# ------------------------------------------------------------------------------ delivery
class Delivery:
    """Runs due digests, instant alerts and the outbox; one run at a time."""

    def __init__(
        self,
        store: DigestStore,
        engine: Engine,
        sender: Sender,
        *,
        clock: Clock = utc_now,
        offload: Offload = asyncio.to_thread,
        nonce_window: timedelta = NONCE_WINDOW,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.store = store
        self.engine = engine
        self.sender = sender
        self.clock = clock
        self.offload = offload
        self.nonce_window = nonce_window
        self.max_attempts = max_attempts
        self.behind = False  # the last run saw coverage the engine hadn't applied yet
        self._lock = asyncio.Lock()
        self._noting = asyncio.Lock()
        self._noted: CorpusSnapshot | None = None  # whose articles all have a first-seen time

    # -------------------------------------------------------------------- start-up
    async def start(self) -> list[Outcome]:
        """On start: note the corpus, reconcile the outbox, then catch up once.

        Every scheduled slot missed while the bot was down collapses into one digest, and
        instant subscriptions get one for whatever arrived meanwhile.
        """
        now = self.clock()
        await self.note_snapshot(now)
        await self.store.prune(now)
        return await self.run_due(now, instant=True)  # reconciles the outbox first

    async def note_snapshot(self, now: datetime | None = None) -> None:
        """Record first-seen times for the engine's articles, e.g. files added while down.

        Recently seen ids no longer in the corpus are forgotten: left in, they would look
        like coverage the engine hasn't applied yet and hold every cut-off back.
        """
        now = now or self.clock()
        async with self._noting:
            snapshot = self.engine.snapshot
            # Every id once, off the event loop: saved articles are rows (a second a million).
            ids = await asyncio.to_thread(frozenset, snapshot.articles)
            await self.store.note_seen(ids, now)
            recent = await self.store.seen_after(now - MAX_LOOKBACK - timedelta(days=1))
            await self.store.forget_seen([i for i in recent if i not in ids])
            self._noted = snapshot

    async def new_from(self) -> datetime:
        """The moment a subscription made now counts coverage from: nothing before it is new.

        Every article the engine holds gets a first-seen time first (if it has none, this
        moment), so "new" means "not in the corpus when the subscription was made", whenever
        that is: right after connecting, before the start-up below has noted the corpus (it
        waits for ``on_ready`` and story grouping), and a digest added then must not take
        the whole existing corpus for new. Noting is done once per engine snapshot.
        """
        async with self._noting:
            snapshot, noted = self.engine.snapshot, self._noted
            # After the snapshot is read: what the engine applies from now on is newer.
            now = self.clock()
            if noted is snapshot:
                return now
            if noted is not None:  # only what changed since
                # Two set differences over every id (0.22 s at a million, measured in review):
                # off the event loop.
                added, gone = await asyncio.to_thread(
                    id_difference, noted.articles, snapshot.articles
                )
                await self.store.note_seen(added, now)
                await self.store.forget_seen(gone)
                self._noted = snapshot
                return now
        await self.note_snapshot(now)  # a first note: every article the engine holds
        return now

    async def note_changes(self, changes: ChangeSet, now: datetime | None = None) -> None:
        """Record a corpus change: added articles are first seen now, removed ones forgotten."""
        now = now or self.clock()
        if changes.added:
            await self.store.note_seen(changes.added, now)
        if changes.removed:
            await self.store.forget_seen(changes.removed)

    # -------------------------------------------------------------------- runs
    async def run_due(self, now: datetime | None = None, *, instant: bool = False) -> list[Outcome]:
        """Deliver every subscription with a slot due at ``now``, pending digests first.

        One digest each, however many slots passed; ``instant`` adds every instant
        subscription (start-up).
        """
        async with self._lock:
            now = now or self.clock()
            outcomes = await self._retry_pending()
            subs = await self.store.active()
            due = [
                s
                for s in subs
                if (instant and s.schedule.instant)
                or (not s.schedule.instant and s.schedule.due_slot(s.last_run_at, now))
            ]
            return outcomes + await self._deliver(due, now, post_empty=True)

    async def run_instant(self) -> list[Outcome]:
        """Deliver instant subscriptions' new coverage (what ``InstantBatcher`` calls)."""
        async with self._lock:
            now = self.clock()
            subs = [s for s in await self.store.active() if s.schedule.instant]
            return await self._deliver(subs, now, post_empty=False)

    async def send_now(self, sub: Subscription) -> Outcome:
        """Deliver one subscription's digest now, whatever its schedule (``/digest send-now``)."""
        async with self._lock:
            outcomes = await self._deliver([sub], self.clock(), post_empty=True)
        if not outcomes:  # stories regrouping since the command was allowed (``_deliver``)
            raise StillGrouping
        return outcomes[0]

    @contextlib.asynccontextmanager
    async def between_runs(self) -> AsyncIterator[None]:
        """Hold runs off meanwhile: for deleting subscriptions and their rows.

        A run half-way through a digest would otherwise write its outbox row and delivery log
        back after they were deleted.
        """
        async with self._lock:
            yield

    async def preview(self, sub: Subscription) -> Digest:
        """What the next digest would hold now, without sending or recording anything."""
        now = self.clock()
        coverage, excluded = await self._coverage([sub], now)
        request = DigestRequest(sub, excluded.get(sub.target.key, set()))
        digests = await self.offload(_digests_grouped, self.engine, coverage, [request], now)
        if digests is None:  # stories regrouping since the command was allowed
            raise StillGrouping
        [digest] = digests
        if isinstance(digest, BaseException):
            raise digest
        return digest

    # -------------------------------------------------------------------- internals
    async def _coverage(
        self, subs: Sequence[Subscription], now: datetime
    ) -> tuple[NewCoverage, dict[str, set[str]]]:
        oldest = oldest_since(subs, now)
        first_seen = await self.store.seen_after(oldest)
        coverage: NewCoverage = await self.offload(
            NewCoverage, self.engine, first_seen, oldest, now
        )
        targets = {s.target.key for s in subs}
        excluded = await self.store.delivered(targets, coverage.newness.keys())
        for target, ids in (await self.store.pending_articles()).items():
            if target in excluded:
                excluded[target] |= ids
        return coverage, excluded

    async def _deliver(
        self, subs: Sequence[Subscription], now: datetime, *, post_empty: bool
    ) -> list[Outcome]:
        # Each run says afresh whether it saw lagging coverage: a flag left by another run
        # would make the instant batcher wake again and again with nothing to serve.
        self.behind = False
        if not subs:
            return []
        try:
            coverage, excluded = await self._coverage(subs, now)
            requests = [DigestRequest(s, excluded.get(s.target.key, set())) for s in subs]
            digests = await self.offload(_digests_grouped, self.engine, coverage, requests, now)
        except Exception:  # a bug must cost one slot, not retry every minute
            log.exception("could not compute digests for %d subscriptions", len(subs))
            await self.store.mark_ran([s.id for s in subs], now)
            return [Outcome(s.id, "failed", reason="internal error") for s in subs]
        if digests is None:  # stories regrouping since this run looked: it runs again after
            self.behind = True
            return []
        self.behind = coverage.lagging > 0
        outcomes: list[Outcome] = []
        quiet: list[int] = []
        claimed: dict[str, set[str]] = {}
        for sub, digest in zip(subs, digests, strict=True):
            if isinstance(digest, BaseException):
                log.error("digest #%d failed", sub.id, exc_info=digest)
                quiet.append(sub.id)
                outcomes.append(Outcome(sub.id, "failed", reason="internal error"))
                continue
            # Two subscriptions of one channel must not both carry the same article.
            taken = claimed.setdefault(sub.target.key, set())
            digest = digest.without(taken)
            taken.update(digest.article_ids)
            if digest.empty and (sub.quiet or sub.schedule.instant or not post_empty):
                quiet.append(sub.id)
                outcomes.append(Outcome(sub.id, "nothing-new"))
                continue
            try:
                outcomes.append(await self._enqueue_and_send(sub, digest, now))
            except Exception:  # e.g. the database: the slot counts as run, or it repeats
                log.exception("could not deliver digest #%d", sub.id)
                quiet.append(sub.id)
                outcomes.append(Outcome(sub.id, "failed", reason="internal error"))
        await self.store.mark_ran(quiet, now)
        return outcomes

    async def _enqueue_and_send(self, sub: Subscription, digest: Digest, now: datetime) -> Outcome:
        marker = digest_marker(sub.id, digest.cutoff, digest.article_ids)
        message = digest_message(digest, marker=marker, schedule=sub.schedule.describe())
        shown = message.digest.article_ids  # what the cards show is what gets logged
        payload = cards_to_json(message.cards)
        row = await self.store.enqueue(sub, digest.cutoff, shown, payload, marker, now)
        return await self._send(row)

    async def _retry_pending(self) -> list[Outcome]:
        outcomes = []
        for row in await self.store.pending():
            try:
                outcomes.append(await self._send(row, recovering=True))
            except Exception:
                log.exception("could not reconcile outbox row %d", row.id)
        return outcomes

    async def _send(self, row: OutboxRow, *, recovering: bool = False) -> Outcome:
        articles = len(row.article_ids)
        try:
            message_id: int | None = None
            if self.clock() - row.created_at > self.nonce_window:
                message_id = await self._find_sent(row)
            if message_id is None:
                message_id = await self.sender.send(
                    row.target, cards_from_json(row.payload), row.nonce
                )
        except DeliveryError as error:
            if error.permanent:
                return await self._failed(row, error.reason)
            return await self._transient(row, error.reason)
        except Exception as error:  # anything unexpected might pass: retry a few times
            log.warning("digest %s to %s failed: %r", row.nonce, row.target.key, error)
            return await self._transient(row, f"unexpected error: {type(error).__name__}")
        await self.store.record_delivery(row.id, message_id, self.clock())
        return Outcome(row.subscription_id, "sent", articles, message_id, recovered=recovering)

    async def _find_sent(self, row: OutboxRow) -> int | None:
        try:
            return await self.sender.find_sent(
                row.target, row.marker, row.created_at - timedelta(minutes=1)
            )
        except NotImplementedError:
            log.warning("digest %s is past the nonce window and can't be looked up", row.nonce)
            return None

    async def _failed(self, row: OutboxRow, reason: str) -> Outcome:
        sub = await self.store.record_failure(row.id, reason, self.clock())
        paused = sub is not None and sub.paused
        log.info("digest #%d failed: %s%s", row.subscription_id, reason, " (paused)" * paused)
        return Outcome(row.subscription_id, "failed", reason=reason, paused=paused)

    async def _transient(self, row: OutboxRow, reason: str) -> Outcome:
        attempts = await self.store.record_attempt(row.id, reason)
        if attempts >= self.max_attempts:
            return await self._failed(row, f"Discord kept failing ({reason})")
        return Outcome(row.subscription_id, "retrying", reason=reason)


def _digests_grouped(
    engine: Engine, coverage: NewCoverage, requests: Sequence[DigestRequest], now: datetime
) -> list[Digest | BaseException] | None:
    """``_digests``, or None while the engine's stories are being grouped.

    Checked in the thread that computes them. A run checks that stories are ready before it
    starts, but a change that wakes a grouping resting on disk can land between that check and
    this step: the changed articles would be stories of one, and their digests would call each
    a new story.
    """
    if not engine.stories_ready and engine.grouping_under_way:
        return None
    return _digests(coverage, requests, now)


def _digests(
    coverage: NewCoverage, requests: Sequence[DigestRequest], now: datetime
) -> list[Digest | BaseException]:
    """Each request's digest, or the exception computing it raised.

    One bad query must not cost the other subscriptions their digests.
    """
    out: list[Digest | BaseException] = []
    for request in requests:
        try:
            out.append(coverage.digest(request, now))
        except Exception as error:
            out.append(error)
    return out


# ------------------------------------------------------------------------------ instant alerts
class InstantBatcher:
    """Turns a burst of corpus changes into one instant alert per subscription.

    The first change wakes it; it records first-seen times at once (scheduled digests need
    them too), waits ``window`` seconds for the rest of the burst, then delivers. ``wait`` is
    injectable so tests release the window with an event instead of sleeping. ``ready`` is
    awaited before delivering: alerts group their items by story, and stories may be being
    grouped again (after a rebuild); the alert is late then, not ungrouped.
    """

    def __init__(
        self,
        delivery: Delivery,
        *,
        window: float = INSTANT_WINDOW,
        wait: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        ready: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.delivery = delivery
        self.window = window
        self._wait = wait
        self._ready = ready
        self._buffer: list[ChangeSet] = []
        self._wake = asyncio.Event()
        self._added = False
        self.flushes = 0

    def submit(self, change: CorpusChange | ChangeSet) -> None:
        """Take one change (non-blocking; safe to call from the corpus follower)."""
        self._buffer.append(change.changes if isinstance(change, CorpusChange) else change)
        self._wake.set()

    async def run(self) -> None:
        """Batch what ``submit`` receives and deliver it, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._note()
                await self._wait(self.window)
                if self._ready is not None:
                    await self._ready()
                await self.flush()
            except Exception:  # the batcher must outlive one bad batch
                log.exception("instant digests failed")

    async def _note(self) -> None:
        batch, self._buffer = self._buffer, []
        # In the order they happened: an article removed, then added back within one burst,
        # is new again (merged into one set each, it was noted and then forgotten).
        for change in batch:
            await self.delivery.note_changes(change)
            self._added = self._added or bool(change.added)

    async def flush(self) -> list[Outcome]:
        """Record what arrived and deliver instant subscriptions now, if anything was added."""
        await self._note()
        if not self._added:
            return []
        self._added = False
        self.flushes += 1
        outcomes = await self.delivery.run_instant()
        if self.delivery.behind:  # the engine hadn't applied everything: look again soon
            self._added = True
            self._wake.set()
        return outcomes
