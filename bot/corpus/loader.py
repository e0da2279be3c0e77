"""Folders on disk to a corpus snapshot, re-parsing only files whose size or mtime changed.

Synchronous on purpose: the async ``Corpus`` runs it in a worker thread, and the CLI calls it
directly. One lock serialises loads so the merger and the cache see one writer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot import store
from bot.corpus.cache import ParseCache
from bot.corpus.formats import DEFAULT_MAX_BYTES, FileResult, parse_file
from bot.corpus.merge import ChangeSet, CorpusSnapshot, Merger

Progress = Callable[[int, int], None]
"""Called with (files parsed so far, files to parse)."""
Stamp = tuple[str, int, int]  # display path, size, mtime_ns


@dataclass(frozen=True, slots=True)
class LoadStats:
    """What one load or refresh did; ``parsed`` is the count a warm restart keeps at zero."""

    files: int
    parsed: int
    cached: int
    removed: int


class CorpusLoader:
    """Scans the corpus folders, keeps the parse cache, and merges files into snapshots."""

    def __init__(
        self,
        roots: Sequence[str | Path],
        db_path: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.roots = [str(r) for r in roots]
        self.db_path = str(db_path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._conn = store.connect(self.db_path, check_same_thread=False)
        self._cache = ParseCache(self._conn)
        self._merger = Merger()
        self._stamps: dict[str, Stamp] | None = None
        self._ignored = {
            os.path.abspath(self.db_path + suffix) for suffix in ("", "-wal", "-shm", "-journal")
        }

    def close(self) -> None:
        """Release the database connection."""
        with self._lock:
            self._conn.close()

    def scan(self) -> dict[str, Stamp]:
        """Every corpus file under the roots: absolute path -> (display path, size, mtime_ns).

        Hidden files and folders are skipped (editors and git keep their state there).
        """
        found: dict[str, Stamp] = {}
        for root in self.roots:
            if os.path.isfile(root):
                self._add(found, os.path.abspath(root), root)
                continue
            base = os.path.abspath(root)
            for folder, dirs, files in os.walk(base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    full = os.path.join(folder, name)
                    self._add(found, full, os.path.join(root, os.path.relpath(full, base)))
        return found

    def _under_roots(self, path: str) -> bool:
        for root in self.roots:
            base = os.path.abspath(root)
            if path == base or path.startswith(base.rstrip(os.sep) + os.sep):
                return True
        return False

    def _add(self, found: dict[str, Stamp], full: str, display: str) -> None:
        if full in self._ignored or full in found:
            return
        try:
            st = os.stat(full)
        except OSError:
            return
        found[full] = (display, st.st_size, st.st_mtime_ns)

    def load(self, progress: Progress | None = None) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        """Bring the snapshot up to date with every file under the roots."""
        return self._sync(self.scan(), None, progress)

    def refresh(
        self, paths: Iterable[str], progress: Progress | None = None
    ) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        """Re-check only ``paths`` (absolute), as reported by a file watcher."""
        wanted = {os.path.abspath(p) for p in paths}
        current = {p: s for p, s in self.scan().items() if p in wanted}
        return self._sync(current, wanted, progress)

    def _sync(
        self, current: dict[str, Stamp], only: set[str] | None, progress: Progress | None
    ) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        with self._lock:
            first = self._stamps is None
            known = self._cache.stamps() if first else dict(self._stamps or {})
            if first:  # the database may also cache other folders' files: leave those be
                known = {p: s for p, s in known.items() if self._under_roots(p)}
            scope = known if only is None else {p: s for p, s in known.items() if p in only}
            removed = [p for p in scope if p not in current]
            unchanged = [p for p, stamp in current.items() if known.get(p) == stamp]
            changed = [p for p in current if known.get(p) != current[p]]

            results: list[FileResult] = []
            if first:
                cached = self._cache.load(unchanged)
                changed += [p for p in unchanged if p not in cached]
                results.extend(cached[p] for p in unchanged if p in cached)
            parsed: list[tuple[str, str, int, int, FileResult]] = []
            for done, path in enumerate(changed, start=1):
                display, size, mtime = current[path]
                parsed.append(
                    (path, display, size, mtime, parse_file(Path(path), display, self.max_bytes))
                )
                if progress is not None:
                    progress(done, len(changed))
            self._cache.store(parsed, removed)
            results.extend(row[4] for row in parsed)
            removed_displays = [known[p][0] for p in removed]
            snapshot, changes = self._merger.apply(results, removed_displays)

            stamps = {} if first else dict(self._stamps or {})
            for p in removed:
                stamps.pop(p, None)
            stamps.update(current)
            self._stamps = stamps
            stats = LoadStats(
                files=len(stamps),
                parsed=len(parsed),
                cached=len(results) - len(parsed),
                removed=len(removed),
            )
            return snapshot, changes, stats
