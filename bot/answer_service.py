"""The engine for an event loop: every call runs in one worker thread, never on the loop.

Engine calls take a millisecond or two, but a slow one (a huge corpus, a reload being applied)
must not stall the gateway heartbeat or other users' interactions. One thread, not a pool: the
engine's caches are built for one reader at a time, the GIL means a second thread adds no
throughput, and applying a corpus change in the same thread means a query never runs while the
index is half-updated. Nothing here imports ``discord``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bot.answers import COMMANDS, name_choices
from bot.corpus.live import CorpusChange
from bot.corpus.merge import CorpusSnapshot
from bot.engine.engine import Engine
from bot.engine.memory import give_back
from bot.engine.results import Suggestion

T = TypeVar("T")
log = logging.getLogger(__name__)

# Python's default switch interval is 5 ms: a grouping thread holding the GIL that long made
# answers beside it take 10.8 ms instead of 0.18 (p50, seeds, beside a 100k grouping); at
# 0.5 ms they took 1.9 ms, and the grouping itself was no slower (13.9 s vs 16.5 s).
GROUPING_SWITCH_INTERVAL = 0.0005
RETRY_REST_AFTER = 60.0  # seconds before a grouping that could not rest tries again
# Groupings under way in this process, and the switch interval before the first: the interval
# is the process's, and overlapping groupings must not leave it lowered. Changed only from an
# event loop's thread (``group_stories``), so no lock: one loop runs the bot.
_groupings = 0
_interval_before = 0.0  # set when the first grouping starts


class AnswerService:
    """Async access to one ``Engine``: answers (``call``), autocomplete and corpus changes."""

    def __init__(self, engine: Engine, *, rest_stories_after: float | None = None) -> None:
        """Serve ``engine`` from one worker thread.

        ``rest_stories_after``: seconds without a corpus change after which the whole story
        grouping is kept on disk only (``Engine.rest_stories``); None keeps it in memory.
        """
        self.engine = engine
        self._rest_after = rest_stories_after
        # Waits out a quiet spell, then lets the grouping rest; each change starts it over.
        self.resting: asyncio.Task[bool] | None = None
        self._retrying: asyncio.Task[None] | None = None  # a failed load, tried again
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="engine"
        )
        self._grouping: asyncio.Task[None] | None = None
        # Clear while a grouping started by ``start_grouping`` is pending: digests group their
        # items by story and wait for it, while answers go on with stories of one.
        self.stories_ready = asyncio.Event()
        if engine.stories_ready:
            self.stories_ready.set()

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(*args, **kwargs)`` in the engine thread (never beside an engine change)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def prepare(self, command: str, query: str) -> None:
        """Begin what an answer to ``query`` can compute before its turn (``Engine.prepare``).

        Only for the commands that read a question: ``latest`` reads its topic as a filter.
        """
        if command in COMMANDS:
            self.engine.prepare(query)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(engine, *args, **kwargs)`` in the engine thread.

        For work that belongs with the answer, like rendering 25 search hits into pages
        (escaping every excerpt costs about as much as the search), so the event loop only
        sends the result.
        """
        return await self.run(fn, self.engine, *args, **kwargs)

    async def close(self) -> None:
        """Stop the worker thread (calls still queued are cancelled) and any grouping's wait.

        The grouping thread itself can't be interrupted (a daemon, it dies with the process);
        its task is awaited so the switch interval it lowered is put back now.
        """
        for waiting in (self.resting, self._retrying):
            if waiting is not None:
                waiting.cancel()
        if self._grouping is not None:
            self._grouping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._grouping
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def group_stories(self) -> None:
        """Run ``Engine.cluster`` beside the answers; returns when it is done, raises its error.

        A daemon thread, not the engine's worker: answers must not queue behind minutes of
        grouping, which cannot be interrupted, and a bot stopped half-way must not wait for it
        on the way out.
        """
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        # Running: a cancelled wait then leaves it alone, and the thread can still settle it.
        done.set_running_or_notify_cancel()

        def group() -> None:
            try:
                self.engine.cluster()
            except BaseException as exc:  # handed to the event loop (if it still waits)
                done.set_exception(exc)
            else:
                done.set_result(None)

        global _groupings, _interval_before
        if _groupings == 0:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(GROUPING_SWITCH_INTERVAL)
        _groupings += 1
        try:
            threading.Thread(target=group, name="story-grouping", daemon=True).start()
            await asyncio.wrap_future(done)
        finally:
            _groupings -= 1
            if _groupings == 0:
                sys.setswitchinterval(_interval_before)

    def start_grouping(self) -> None:
        """Group the stories in the background (``group_stories``), logging how it went.

        At start-up for a large corpus, and again after a rebuild (``apply``).
        ``stories_ready`` is clear until it is over, failed or not.
        """
        self.stories_ready.clear()
        self._grouping = asyncio.create_task(self._group_logged(), name="story-grouping")

    async def _group_logged(self) -> None:
        started = time.perf_counter()
        try:
            await self.group_stories()
            log.info("stories grouped in %.1f s", time.perf_counter() - started)
        except Exception:
            log.exception("grouping stories failed; answers go on with stories of one")
            if self.engine.resting:  # a failed load rests again: tried again after a while
                self._retrying = asyncio.create_task(self._load_again(), name="stories-retry")
        if self._grouping is asyncio.current_task():  # not one a newer grouping replaced
            self.stories_ready.set()
            self._rest_when_quiet()

    async def _load_again(self) -> None:
        """Load a resting grouping again, a while after loading it failed (a change may first)."""
        await asyncio.sleep(RETRY_REST_AFTER)
        if await self.run(self.engine.claim_load):
            self.start_grouping()

    def _rest_when_quiet(self, least: float = 0.0) -> None:
        """(Re)start the wait after which the grouping rests on disk.

        ``rest_stories_after`` seconds, and at least ``least``.
        """
        if self._rest_after is None or not self.engine.rests_stories:
            return
        if self.resting is not None and self.resting is not asyncio.current_task():
            self.resting.cancel()  # not the wait asking again: cancelled, it would lose its result
        after = max(self._rest_after, least)
        self.resting = asyncio.create_task(self._rest(after), name="stories-rest")

    async def _rest(self, after: float) -> bool:
        """Keep the grouping, then drop it from memory if nothing changed meanwhile.

        The keeping (seconds at 100,000 articles) runs beside the answers; the swap runs where
        answers run, so none sees half of it. A change during the keeping makes the swap
        refuse, and that change started a new wait.
        """
        await asyncio.sleep(after)
        await self.stories_ready.wait()
        await asyncio.to_thread(self.engine.save_stories)
        rested = await self.run(self.engine.rest_stories)
        if rested:
            await asyncio.to_thread(give_back)
            log.info("stories kept on disk until the corpus changes (memory given back)")
        elif rested is None:  # the groups just kept could not be read back
            log.warning("the kept story groups are unreadable; grouping again")
            self.start_grouping()
        elif self.engine.stories_ready and not self.engine.resting:
            # Not kept (a full disk, say) or a grouping under way: try again after a while,
            # never in a tight loop, whatever ``rest_stories_after`` is.
            self._rest_when_quiet(least=RETRY_REST_AFTER)
        return bool(rested)

    @property
    def snapshot(self) -> CorpusSnapshot:
        """The snapshot answers currently come from."""
        return self.engine.snapshot

    # ------------------------------------------------------------------ autocomplete
    async def suggest(self, current: str) -> list[Suggestion]:
        """Completions for a query option (titles, outlets, topics)."""
        return await self.run(self.engine.suggest, current)

    # The engine keeps its name tables current with each corpus change.
    async def outlet_choices(self, current: str) -> list[str]:
        """Outlet names for what is typed, most common first."""
        return await self.run(lambda: name_choices(self.engine.outlet_names, current))

    async def topic_choices(self, current: str) -> list[str]:
        """Topic names for what is typed, most common first."""
        return await self.run(lambda: name_choices(self.engine.topic_names, current))

    # ------------------------------------------------------------------ corpus changes
    async def apply(self, change: CorpusChange) -> None:
        """Move the engine to a new snapshot (queued behind any running query).

        If applying the change fails part-way, the index may hold half of it and later changes
        would be applied on top: the engine is rebuilt from the snapshot instead, and the
        original error is raised for the caller to log. A large corpus's stories are then
        grouped again beside the answers, as at start-up (``Engine.rebuild``). A grouping
        resting on disk is loaded beside the answers and catches up (``Engine.apply``).
        """
        resting = self.engine.resting
        if resting:  # a run starting now must wait for the load this change may start
            self.stories_ready.clear()
        try:
            load = await self.run(self.engine.apply, change.snapshot, change.changes)
        except Exception:
            regroup = False
            try:
                regroup = await self.run(self.engine.rebuild, change.snapshot)
            finally:
                if regroup:
                    self.start_grouping()
                elif resting and not self.engine.grouping_under_way:
                    self.stories_ready.set()  # cleared above, and no grouping will set it
            raise
        if load:  # the grouping rested on disk: loaded and caught up beside the answers
            self.start_grouping()
        elif self.engine.stories_ready:
            if resting:
                self.stories_ready.set()
            self._rest_when_quiet()
