"""One writing process per database: the bot writes, CLI readers run beside it.

The digests' exactly-once delivery (outbox, delivery log, first-seen times) assumes one process
delivers: two bots on one database would both post every digest. So the bot holds an exclusive
``flock`` on ``<database>.writer`` for as long as it runs. The kernel drops it when the process
ends, even by SIGKILL, so a crash never leaves a stale lock to clear by hand. A one-shot command
or the console takes it only while it loads (to bring the parse cache up to date), and when the
bot holds it, reads the cache without writing it (``CorpusLoader(read_only=True)``).

Where ``fcntl`` is missing (Windows) nothing is locked; the README says so.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from bot.store import private_folder

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
# How long a starting bot waits for another bot to stop before saying why it can't start; a
# one-shot command bringing the cache up to date is waited for however long it takes.
START_WAIT = 30.0
_POLL = 0.1
BOT, COMMAND = "the bot", "a one-shot command"


class WriterBusy(RuntimeError):
    """Another process writes this database."""


class WriterLock:
    """The exclusive right to write ``database`` (and its derived stores) in this process."""

    def __init__(self, database: str | Path, role: str = COMMAND) -> None:
        """``role``: what this process is, for the message another writer gets."""
        self.database = str(database)
        # One lock whatever path leads to the database (a link, a relative path).
        real = self.database if self.database == ":memory:" else os.path.realpath(database)
        self.path = Path(real + ".writer")
        self.role = role
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds it."""
        return self._fd is not None

    @property
    def exclusive(self) -> bool:
        """Whether holding it shuts other writers out (not without ``fcntl``, on Windows)."""
        return fcntl is not None and self.database != ":memory:"

    def try_acquire(self) -> bool:
        """Take it if free; never waits. In-memory databases need no lock."""
        if self._fd is not None or not self.exclusive:
            return True
        private_folder(self.path.parent)  # beside the database, as private as it is
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        try:  # who holds it, for the message a second writer gets (read without the lock)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {self.role}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same
            pass
        self._fd = fd
        return True

    def acquire(self) -> WriterLock:
        """Take it, waiting up to ``START_WAIT`` seconds for another bot to let go.

        A one-shot command refreshing the cache holds it for as long as its load takes (minutes
        for a cold parse): that is waited out, logged once. ``WriterBusy`` names a holder that
        is another bot when the wait is over.
        """
        deadline = time.monotonic() + START_WAIT
        said = False
        while not self.try_acquire():
            holder = self.holder()
            if holder.endswith(COMMAND):  # a cold parse can take minutes: it ends by itself
                if not said:
                    log.info("waiting for %s to finish writing %s", holder, self.database)
                    said = True
                deadline = time.monotonic() + START_WAIT
            elif time.monotonic() >= deadline:
                raise WriterBusy(
                    f"another Coverage Bot process ({holder}) is writing "
                    f"{self.database}; only one process may write it. Stop that one first, "
                    "or give this one its own [corpus] database."
                )
            time.sleep(_POLL)
        return self

    def holder(self) -> str:
        """What the holder wrote of itself ("pid 1234, the bot"), or "unknown"."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                return handle.read(64).strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        """Give it up (closing the file drops the lock); idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
