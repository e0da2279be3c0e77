"""A model loaded once in a thread, which answers use when it is there and never wait long for.

The word table and the sentence model are each read from beside the corpus database in a
fraction of a second, or built there the first time in seconds to a minute. Answers must not
wait for a build, and a one-shot command should not answer without a model that a moment's
wait would have given it: the first asker waits up to ``LOAD_WAIT``, later ones not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# How long an answer waits for a model on first need: reading one takes ~0.3-0.5 s, so a
# one-shot command waits for that; building one takes seconds to a minute, and nothing waits.
LOAD_WAIT = 2.0


class BackgroundLoad:
    """Runs ``load`` once in a daemon thread; says whether it succeeded, and why not.

    ``load`` raises to say it failed; its message is kept for an operator (``error``).
    Thread-safe: answers are read from several threads, and the first to ask starts it.
    """

    def __init__(self, name: str, load: Callable[[], None], wait: float = LOAD_WAIT) -> None:
        self._name = name
        self._load = load
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wait = wait
        self.usable = False
        self.failed = False
        self.error = ""

    @property
    def started(self) -> bool:
        """Whether loading has begun."""
        return self._thread is not None

    @property
    def running(self) -> bool:
        """Whether loading is under way now."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Begin loading in a thread, unless that has begun.

        A daemon: nothing waits for it at exit; a one-shot command that began a build says so
        and waits for it once its answer is out (``finish``), so the next command reads it.
        """
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._load()
        except Exception as exc:  # any failure leaves answers without it, said in ``error``
            self.error = str(exc)
            self.failed = True
            return
        self.usable = True

    def ready(self) -> bool:
        """Whether it is loaded; the first asker waits up to the ``wait`` given for it.

        Only the first: while a model is built, no later answer waits at all.
        """
        if self.usable:
            return True
        if self.failed:
            return False
        self.start()
        with self._lock:
            wait, self._wait = self._wait, 0.0
        assert self._thread is not None
        if wait:
            self._thread.join(wait)
        return self.usable

    def join(self) -> bool:
        """Wait until it is loaded or has failed to; whether answers can use it."""
        self.start()
        assert self._thread is not None
        self._thread.join()
        return self.usable

    def finish(self, notice: Callable[[str], None], why: str) -> None:
        """Wait for a load under way, saying ``why`` first (a one-shot command's exit)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        notice(why)
        thread.join()
