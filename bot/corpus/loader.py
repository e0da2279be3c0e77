"""Folders on disk to a corpus snapshot, re-parsing only files whose size or mtime changed.

Synchronous on purpose: the async ``Corpus`` runs it in a worker thread, and the CLI calls it
directly. One lock serialises loads so the merger and the cache see one writer.

The first load resumes from the merged state saved for these roots (see ``cache``) and applies
only the differences between that state's file stamps and the disk, so a restart with nothing
changed parses and merges nothing. Its ``ChangeSet`` is what changed while nobody was watching.

Every file is stat'ed on every load: a file rewritten in place changes no folder's mtime, so
only its own size and mtime can say it changed.

The folders are untrusted (see ``safe_read``). The walk never enters a symlinked folder: one
inside the roots is walked under its own path anyway, and one outside is not the corpus, so
neither a link loop nor a folder linked twice can make it walk forever or count a file twice.
A symlinked file is listed when it points inside the roots at a file not already listed under
its own name, and when it points outside or nowhere, so that the reader reports it; what lies
outside is never stat'ed. Non-regular files (FIFOs, devices) are listed for the same reason
and never opened.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from bot import store
from bot.corpus.articles import damaged
from bot.corpus.cache import ParseCache, SavedState, Stamp, paused_gc
from bot.corpus.formats import DEFAULT_MAX_BYTES, FileResult
from bot.corpus.generation import Generation
from bot.corpus.merge import (
    ChangeSet,
    CorpusSnapshot,
    Merger,
    with_articles,
    with_generation,
    with_merge_problems,
)
from bot.corpus.model import Problem
from bot.corpus.parallel import parse_many
from bot.corpus.records import shared_strings
from bot.corpus.safe_read import inside, real_roots

Progress = Callable[[int, int], None]
"""Called with (files parsed so far, files to parse)."""
_STORE_BATCH = 500  # parsed files per cache transaction: bounded memory for encoded rows
_SAVE_AFTER_FILES = 1_000  # save the merged state when more files than this changed
_NAME = attrgetter("name")
# Listing a folder through its descriptor lets each stat resolve one name, not the whole path.
_BY_FD = os.scandir in os.supports_fd and os.stat in os.supports_dir_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


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
        read_only: bool = False,
        pinned: bool = False,
    ) -> None:
        """``read_only``: another process writes ``db_path``; read its cache, never write it.

        ``pinned``: the saved articles handed out are read as of their save even when another
        process saves later (``ParseCache``): for a command, which may hold the writer's lock
        only while it loads.
        """
        self.roots = [str(r) for r in roots]
        self.db_path = str(db_path)
        self.max_bytes = max_bytes
        self._bases = [os.path.abspath(r) for r in self.roots]
        self._base_set = frozenset(self._bases)
        self._roots_key = json.dumps(sorted(set(self._bases)))
        self._lock = threading.Lock()
        self._read_only = read_only
        if read_only:
            self._conn = store.connect_read_only(self.db_path)
        else:
            self._conn = store.connect(self.db_path, check_same_thread=False)
            # A WAL the last writer could not fold back (a command's own reader, pinned before
            # it wrote, holds it at close) is copied again by every later close: 0.27 s a
            # command at 100,000 documents. Folded here, before this process reads anything.
            if store.wal_bytes(self.db_path) > store.WAL_KEPT_BYTES:
                store.checkpoint(self._conn)
        self._cache = ParseCache(self._conn, self.db_path, writable=not read_only, pinned=pinned)
        self._merger: Merger | None = None
        self._stamps: dict[str, Stamp] = {}
        self._by_display: dict[str, str] | None = None
        self._dirty = False  # the merger has moved on from the saved state
        self._unsaved = 0  # files changed or removed since then
        self._never_saved = False
        # The corpus's generation (bot.corpus.generation), following ``_stamps``; and the one
        # the first load started from (the saved state's), which derived stores built before
        # the restart may still match: None when nothing was saved.
        self._generation = Generation(self._generation_salt())
        self.started_from: str | None = None
        self._ignored = {
            os.path.abspath(self.db_path + suffix)
            for suffix in ("", *store.SIDE_FILES, *store.DERIVED_FILES)
        }

    def close(self) -> None:
        """Save the merged state if it moved on since the last save, and release the database."""
        with self._lock:
            merger = self._merger
            if merger is not None and (self._dirty or damaged(merger.articles)):
                self._save(merger)
            if not self._read_only:
                store.checkpoint(self._conn)
            self._conn.close()

    # -- finding files -------------------------------------------------------------------

    def scan(self) -> dict[str, Stamp]:
        """Every corpus file under the roots: absolute path -> (display path, size, mtime_ns).

        Hidden files and folders are skipped (editors and git keep their state there). The
        display path is the root as given plus the file's path inside it.
        """
        found: dict[str, Stamp] = {}
        reals = real_roots(self._bases)
        for root, base in zip(self.roots, self._bases, strict=True):
            if os.path.isdir(base):
                self._walk(found, base, root if root.endswith(os.sep) else root + os.sep, reals)
            elif os.path.isfile(base):
                self._add(found, base, root, reals)
        return found

    def _walk(
        self, found: dict[str, Stamp], folder: str, display: str, reals: tuple[str, ...]
    ) -> None:
        # The warm-restart floor: one stat per file (~2 µs of it in the kernel), so the loop
        # does little else. A display path equal to the path is the same string object.
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        same = display == prefix
        fd = -1
        try:
            if _BY_FD:
                fd = os.open(folder, _DIR_FLAGS)
            with os.scandir(fd if fd >= 0 else folder) as listing:
                entries = sorted(listing, key=_NAME)
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        self._walk(found, prefix + name, display + name + os.sep, reals)
                        continue
                    path = prefix + name
                    if path in self._ignored or path in found:
                        continue
                    if entry.is_symlink():  # from the listing's file type: no system call
                        link = self._link_stat(path, reals)
                        if link is None:
                            continue
                        st = link
                    else:
                        st = entry.stat()  # fstatat(fd, name)
                except OSError:  # vanished between listing and stat: the watcher will say so
                    continue
                found[path] = (path if same else display + name, st.st_size, st.st_mtime_ns)
        except OSError:
            return
        finally:
            if fd >= 0:
                os.close(fd)

    def _add(
        self, found: dict[str, Stamp], full: str, display: str, reals: tuple[str, ...]
    ) -> None:
        if full in self._ignored or full in found:
            return
        try:
            if full in self._base_set:  # a root the configuration names is trusted as given
                st: os.stat_result | None = os.stat(full)
            elif os.path.islink(full):
                st = self._link_stat(full, reals)
            else:
                st = os.lstat(full)
        except OSError:
            return
        if st is not None:
            found[full] = (display, st.st_size, st.st_mtime_ns)

    def _link_stat(self, path: str, reals: tuple[str, ...]) -> os.stat_result | None:
        """The stamp source for the symlink ``path``, or None when it is not listed at all.

        A link out of the roots, dangling or looping is listed under its own ``lstat`` so the
        reader reports it: its target is never stat'ed, let alone opened. A link to a folder
        inside is not listed (the folder is walked under its own path), nor one to a file the
        walk lists under its own name; any other link inside is listed with its target's stat,
        so an edit to the target is seen as a change.
        """
        try:
            real = os.path.realpath(path, strict=True)
        except OSError:
            return os.lstat(path)
        if not inside(real, reals):
            return os.lstat(path)
        st = os.stat(real)
        if stat.S_ISDIR(st.st_mode) or self._listed_as_itself(real, reals):
            return None
        return st

    def _listed_as_itself(self, real: str, reals: tuple[str, ...]) -> bool:
        """Whether the walk already decides about the file at resolved path ``real`` by name.

        The walk follows no folder link, so what it reaches under a root is the root's resolved
        path plus the path inside it: ``real`` is listed iff it is a file root or lies under a
        root with no hidden part on the way. The bot's own database counts too: it is left out
        on purpose, and a link must not bring it back.
        """
        if real in self._ignored:
            return True
        for root in reals:
            if real == root:
                return True
            prefix = root.rstrip(os.sep) + os.sep
            if real.startswith(prefix) and not any(
                part.startswith(".") for part in real[len(prefix) :].split(os.sep)
            ):
                return True
        return False

    def _display(self, full: str, reals: tuple[str, ...]) -> str | None:
        """The display path of ``full`` if it is a corpus file's path.

        That is: under a root, not hidden, and not reached through a symlinked folder (a
        watcher may report paths inside one; the walk never enters them).
        """
        for root, base, real in zip(self.roots, self._bases, reals, strict=True):
            if full == base:
                return root
            prefix = base.rstrip(os.sep) + os.sep
            if full.startswith(prefix):
                rel = full[len(prefix) :]
                if any(part.startswith(".") for part in rel.split(os.sep)):
                    return None
                folder = os.path.dirname(rel)
                if folder and os.path.realpath(prefix + folder) != os.path.join(real, folder):
                    return None
                return (root if root.endswith(os.sep) else root + os.sep) + rel
        return None

    # -- loading -------------------------------------------------------------------------

    def load(
        self, progress: Progress | None = None, scanned: dict[str, Stamp] | None = None
    ) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        """Bring the snapshot up to date with every file under the roots.

        ``scanned``: what ``scan`` just returned (a caller counting files for a progress bar),
        so the folders are not walked twice.
        """
        return self._sync(self.scan() if scanned is None else scanned, None, progress)

    def refresh(
        self, paths: Iterable[str], progress: Progress | None = None
    ) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        """Re-check only ``paths`` (files or folders, as a file watcher reports them)."""
        current: dict[str, Stamp] = {}
        scope: set[str] = set()
        reals = real_roots(self._bases)
        for path in {os.path.abspath(p) for p in paths}:
            display = self._display(path, reals)
            if display is None or path in self._ignored:
                continue
            scope.add(path)
            try:  # lstat: a symlinked folder is not walked, here as in a full scan
                mode = (os.stat if path in self._base_set else os.lstat)(path).st_mode
            except OSError:
                mode = None
            if mode is not None and stat.S_ISDIR(mode):
                self._walk(current, path, display.rstrip(os.sep) + os.sep, reals)
            elif mode is not None:  # a file, a link, a FIFO...: listed as the walk lists it
                self._add(current, path, display, reals)
            if mode is None or not stat.S_ISREG(mode):  # a folder added, moved or deleted
                prefix = path.rstrip(os.sep) + os.sep
                scope.update(p for p in self._stamps if p.startswith(prefix))
        scope.update(current)
        return self._sync(current, scope, progress)

    def _sync(
        self, current: dict[str, Stamp], scope: set[str] | None, progress: Progress | None
    ) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
        with self._lock, paused_gc():
            first = self._merger is None
            merger = self._merger or self._resume(current if scope is None else None)
            known = self._stamps
            if first and known is current:  # a restart with nothing changed
                snapshot = self._with_missing_roots(merger.snapshot())
                snapshot = with_generation(snapshot, self._generation.value)
                return snapshot, ChangeSet(), LoadStats(len(known), 0, len(known), 0)
            in_scope = known.keys() if scope is None else scope & known.keys()
            removed = sorted(p for p in in_scope if p not in current)
            changed = sorted(p for p, stamp in current.items() if known.get(p) != stamp)

            # Rows cached by an earlier run (or under another display path) save a parse.
            reused = self._cache.results({p: current[p] for p in changed})
            to_parse = [p for p in changed if p not in reused]
            results = list(reused.values()) + self._parse(to_parse, current, progress)
            if removed:
                self._cache.store((), removed)
            # A file seen under a new display path leaves under its old one.
            outgoing = [known[p][0] for p in removed]
            outgoing += [
                known[p][0] for p in changed if p in known and known[p][0] != current[p][0]
            ]
            snapshot, changes = merger.apply(results, outgoing)
            del results, reused

            self._generation.update(known, removed, current, changed)
            self._follow_displays(removed, changed, current)
            for p in removed:
                del known[p]
            known.update(current)
            self._dirty |= bool(changed or removed)
            self._unsaved += len(changed) + len(removed)
            if self._dirty and self._worth_saving():
                # From now on the articles are read from the database, not held: the snapshot
                # handed out is of the saved ones (the same articles). While the bot runs, this
                # is also what keeps the changes held in memory (and replayed by every count of
                # them) to a bounded share of the corpus.
                if self._save(merger):
                    snapshot = with_articles(snapshot, merger.articles)
                self._never_saved = False
            if scope is None:
                snapshot = self._with_missing_roots(snapshot)
            snapshot = with_generation(snapshot, self._generation.value)
            stats = LoadStats(
                files=len(known),
                parsed=len(to_parse),
                cached=len(current) - len(to_parse),
                removed=len(removed),
            )
            return snapshot, changes, stats

    def _follow_displays(
        self, removed: list[str], changed: list[str], current: dict[str, Stamp]
    ) -> None:
        """Keep ``_fetch``'s display-path table up to date (before ``_stamps`` moves on).

        Built again for every change, it cost 0.5 s a change at a million files.
        """
        by_display, known = self._by_display, self._stamps
        if by_display is None:
            return
        for path in removed:
            if by_display.get(known[path][0]) == path:
                del by_display[known[path][0]]
        for path in changed:
            old = known.get(path)
            if old is not None and old[0] != current[path][0] and by_display.get(old[0]) == path:
                del by_display[old[0]]
            by_display[current[path][0]] = path

    def _save(self, merger: Merger) -> bool:
        """Save the merged state; the merger goes on from the saved articles. True if saved."""
        saved = self._cache.save_state(
            self._roots_key, self._stamps, merger.state(), self._generation.total
        )
        self._dirty, self._unsaved = False, 0
        if saved is None:
            return False
        merger.rebase(saved)
        return True

    def _worth_saving(self) -> bool:
        """Save the whole state now only when a restart would redo much work.

        Saving costs about as much as reading it back (seconds at 10^5 files), while catching
        up a few changed files from their cached rows costs milliseconds; small differences
        wait for ``close``. The same measure holds at start-up and while the bot runs: each
        save is paid for by 5 % of the files (at least 1,000) changed since the last one.
        """
        return self._never_saved or self._unsaved > max(_SAVE_AFTER_FILES, len(self._stamps) // 20)

    def _resume(self, current: dict[str, Stamp] | None) -> Merger:
        """Start from the state saved for these roots, or from nothing.

        When the saved stamps equal ``current`` (a full scan), ``current`` itself becomes the
        known stamps: the caller can tell nothing changed by identity, without a diff.
        """
        saved: SavedState | None = self._cache.load_state(self._roots_key)
        if saved is None:
            self._stamps = {}
            self._merger = Merger(self._fetch)
            self._dirty = True  # nothing saved yet: save even if the folders are empty
            self._never_saved = True
        else:
            if current is not None and saved.matches(current):
                self._stamps = current
            else:
                self._stamps = saved.stamps()
            self._merger = Merger(self._fetch, saved.state)
        total = None if saved is None else saved.stamp_total
        self._generation = Generation(self._generation_salt(), self._stamps, total)
        self.started_from = None if saved is None else self._generation.value
        return self._merger

    def _generation_salt(self) -> str:
        return f"{self._roots_key}\0{self.max_bytes}"

    def _parse(
        self, paths: list[str], current: dict[str, Stamp], progress: Progress | None
    ) -> list[FileResult]:
        """Parse ``paths`` and cache each result, a batch per transaction."""
        out: list[FileResult] = []
        reals = real_roots(self._bases)
        jobs = [(path, current[path][0]) for path in paths]
        with shared_strings(), closing(parse_many(jobs, self.max_bytes, reals)) as parsed:
            for start in range(0, len(paths), _STORE_BATCH):
                batch = [
                    (path, current[path], *next(parsed))
                    for path in paths[start : start + _STORE_BATCH]
                ]
                self._cache.store(batch, ())
                out.extend(result for _, _, result, _ in batch)
                if progress is not None:
                    progress(len(out), len(paths))
        return out

    def _fetch(self, displays: Collection[str]) -> dict[str, FileResult]:
        """The merger's source of unchanged files' records: the cache, else the file itself."""
        if self._by_display is None:
            self._by_display = {stamp[0]: path for path, stamp in self._stamps.items()}
        wanted = {
            self._by_display[d]: self._stamps[self._by_display[d]]
            for d in displays
            if d in self._by_display
        }
        found = self._cache.results(wanted)
        missing = [p for p in wanted if p not in found]
        if missing:  # evicted by another folder's run, say: parse again, cache again
            found.update(zip(missing, self._parse(missing, wanted, None), strict=True))
        return {result.path: result for result in found.values()}

    def _with_missing_roots(self, snapshot: CorpusSnapshot) -> CorpusSnapshot:
        missing = tuple(
            Problem(root, None, "no such file or folder")
            for root, base in zip(self.roots, self._bases, strict=True)
            if not os.path.exists(base)
        )
        if not missing:
            return snapshot
        return with_merge_problems(snapshot, missing)
