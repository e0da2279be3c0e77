"""The running corpus: one current snapshot, swapped whole, and change events for subscribers.

Parsing happens in a worker thread; the swap and the publishing happen on the event loop, so a
reader always sees either the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import watchfiles

from bot.corpus.loader import CorpusLoader, LoadStats, Progress
from bot.corpus.merge import ChangeSet, CorpusSnapshot

log = logging.getLogger(__name__)
Loaded = tuple[CorpusSnapshot, ChangeSet, LoadStats]
READY_TIMEOUT_MS = 250


@dataclass(frozen=True, slots=True)
class CorpusChange:
    """Published after each swap: the new snapshot and which article ids changed."""

    snapshot: CorpusSnapshot
    changes: ChangeSet
    stats: LoadStats


class Corpus:
    """Owns the current snapshot; digests and the search index subscribe to its changes."""

    def __init__(self, loader: CorpusLoader) -> None:
        self.loader = loader
        self._snapshot: CorpusSnapshot | None = None
        self._subscribers: set[asyncio.Queue[CorpusChange]] = set()
        self.last_stats: LoadStats | None = None
        self.watching = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> CorpusSnapshot:
        """The current snapshot; ``open`` must have run."""
        if self._snapshot is None:
            raise RuntimeError("Corpus.open() has not run yet")
        return self._snapshot

    async def open(self, progress: Progress | None = None) -> CorpusChange:
        """Load every file (from the cache where unchanged)."""
        return await self._run(self.loader.load, progress)

    async def reload(self) -> CorpusChange:
        """Re-scan every folder now, as ``/corpus reload`` asks."""
        return await self._run(self.loader.load)

    async def refresh(self, paths: Iterable[str]) -> CorpusChange:
        """Re-check the given files, e.g. those a watcher saw change."""
        return await self._run(self.loader.refresh, list(paths))

    async def _run(self, fn: Callable[..., Loaded], *args: Any) -> CorpusChange:
        # One at a time, load and swap together: two loads finishing in the other order
        # must not swap an older snapshot in over a newer one.
        async with self._lock:
            return self._publish(*await asyncio.to_thread(fn, *args))

    def _publish(
        self, snapshot: CorpusSnapshot, changes: ChangeSet, stats: LoadStats
    ) -> CorpusChange:
        self._snapshot = snapshot
        self.last_stats = stats
        event = CorpusChange(snapshot, changes, stats)
        if changes:
            for queue in self._subscribers:
                queue.put_nowait(event)
        return event

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[CorpusChange]]:
        """A queue receiving every change from now on, for the life of the ``with`` block."""
        queue: asyncio.Queue[CorpusChange] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def watch(self, *, debounce_ms: int = 200, stop: asyncio.Event | None = None) -> None:
        """Apply file changes under the roots as they happen, until cancelled or ``stop`` is set.

        ``watching`` is set once the watcher is live and a catch-up scan has applied whatever
        changed between ``open`` and then, so no change can fall between the two.
        """
        roots = [r for r in self.loader.roots if os.path.exists(r)]
        if not roots:
            log.warning("no corpus folder exists to watch: %s", ", ".join(self.loader.roots))
            return
        try:
            async for batch in watchfiles.awatch(
                *roots,
                debounce=debounce_ms,
                step=50,
                stop_event=stop,
                recursive=True,
                # An empty batch after this long without changes is the only sign from
                # watchfiles that its watcher is in place.
                yield_on_timeout=True,
                rust_timeout=READY_TIMEOUT_MS,
            ):
                if not self.watching.is_set():
                    await self._catch_up()
                    continue
                if batch:
                    await self._apply_batch({path for _, path in batch})
        finally:
            self.watching.clear()

    async def _catch_up(self) -> None:
        try:
            await self.reload()
        except Exception:  # the watcher still runs; the next change retries
            log.exception("could not re-scan the corpus when the watcher started")
        self.watching.set()

    async def _apply_batch(self, paths: set[str]) -> None:
        try:
            event = await self.refresh(paths)
        except Exception:  # a watcher that dies silently is worse than one bad batch
            log.exception("could not apply corpus changes for %d files", len(paths))
            return
        if event.changes:
            c = event.changes
            log.info(
                "corpus updated: %d added, %d changed, %d removed",
                len(c.added),
                len(c.changed),
                len(c.removed),
            )
