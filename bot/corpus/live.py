"""The running corpus: one current snapshot, swapped whole, and change events for subscribers.

Parsing happens in a worker thread; the swap and the publishing happen on the event loop, so a
reader always sees either the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import watchfiles

from bot.corpus.loader import CorpusLoader, LoadStats, Progress
from bot.corpus.merge import ChangeSet, CorpusSnapshot

log = logging.getLogger(__name__)


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

    @property
    def snapshot(self) -> CorpusSnapshot:
        """The current snapshot; ``open`` must have run."""
        if self._snapshot is None:
            raise RuntimeError("Corpus.open() has not run yet")
        return self._snapshot

    async def open(self, progress: Progress | None = None) -> CorpusChange:
        """Load every file (from the cache where unchanged)."""
        return self._publish(*await asyncio.to_thread(self.loader.load, progress))

    async def reload(self) -> CorpusChange:
        """Re-scan every folder now, as ``/corpus reload`` asks."""
        return self._publish(*await asyncio.to_thread(self.loader.load))

    async def refresh(self, paths: Iterable[str]) -> CorpusChange:
        """Re-check the given files, e.g. those a watcher saw change."""
        return self._publish(*await asyncio.to_thread(self.loader.refresh, list(paths)))

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
    def subscribe(self) -> Iterable[asyncio.Queue[CorpusChange]]:
        """A queue receiving every change from now on, for the life of the ``with`` block."""
        queue: asyncio.Queue[CorpusChange] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def watch(self, *, debounce_ms: int = 200, stop: asyncio.Event | None = None) -> None:
        """Apply file changes under the roots as they happen, until cancelled or ``stop`` is set."""
        roots = [r for r in self.loader.roots if os.path.exists(r)]
        if not roots:
            log.warning("no corpus folder exists to watch: %s", ", ".join(self.loader.roots))
            return
        async for batch in watchfiles.awatch(
            *roots, debounce=debounce_ms, step=50, stop_event=stop, recursive=True
        ):
            paths = {path for _, path in batch}
            try:
                event = await self.refresh(paths)
            except Exception:  # a watcher that dies silently is worse than one bad batch
                log.exception("could not apply corpus changes for %d files", len(paths))
                continue
            if event.changes:
                c = event.changes
                log.info(
                    "corpus updated: %d added, %d changed, %d removed",
                    len(c.added),
                    len(c.changed),
                    len(c.removed),
                )

    async def changes(self) -> AsyncIterator[CorpusChange]:
        """Iterate over changes as they are published (a convenience over ``subscribe``)."""
        with self.subscribe() as queue:
            while True:
                yield await queue.get()
