"""The engine for an event loop: every call runs in one worker thread, never on the loop.

Engine calls take a millisecond or two, but a slow one (a huge corpus, a reload being applied)
must not stall the gateway heartbeat or other users' interactions. One thread, not a pool: the
engine's caches are built for one reader at a time, the GIL means a second thread adds no
throughput, and applying a corpus change in the same thread means a query never runs while the
index is half-updated. Nothing here imports ``discord``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.answers import name_choices
from bot.corpus.live import CorpusChange
from bot.corpus.merge import CorpusSnapshot
from bot.engine.engine import Engine
from bot.engine.results import Suggestion

T = TypeVar("T")


class AnswerService:
    """Async access to one ``Engine``: answers (``call``), autocomplete and corpus changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(engine, *args, **kwargs)`` in the engine thread.

        For work that belongs with the answer, like rendering 25 search hits into pages
        (escaping every excerpt costs about as much as the search), so the event loop only
        sends the result.
        """
        return await self._run(fn, self.engine, *args, **kwargs)

    def close(self) -> None:
        """Stop the worker thread; calls still queued are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def snapshot(self) -> CorpusSnapshot:
        """The snapshot answers currently come from."""
        return self.engine.snapshot

    # ------------------------------------------------------------------ autocomplete
    async def suggest(self, current: str) -> list[Suggestion]:
        """Completions for a query option (titles, outlets, topics)."""
        return await self._run(self.engine.suggest, current)

    async def outlet_choices(self, current: str) -> list[str]:
        """Outlet names for what is typed, most common first."""
        return await self._run(self._choices, current, 0)

    async def topic_choices(self, current: str) -> list[str]:
        """Topic names for what is typed, most common first."""
        return await self._run(self._choices, current, 1)

    def _choices(self, current: str, which: int) -> list[str]:
        # The engine keeps these tables current with each corpus change.
        names = self.engine.outlet_names if which == 0 else self.engine.topic_names
        return name_choices(names, current)

    # ------------------------------------------------------------------ corpus changes
    async def apply(self, change: CorpusChange) -> None:
        """Move the engine to a new snapshot (queued behind any running query).

        If applying the change fails part-way, the index may hold half of it and later changes
        would be applied on top: the engine is rebuilt from the snapshot instead, and the
        original error is raised for the caller to log.
        """
        try:
            await self._run(self.engine.apply, change.snapshot, change.changes)
        except Exception:
            await self._run(self.engine.rebuild, change.snapshot)
            raise
