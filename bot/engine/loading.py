"""Models loaded once in a thread, which answers use when they are there and never wait long for.

The word table and the sentence model are each read from beside the corpus database in a
fraction of a second, or built there the first time in seconds to a minute. Answers must not
wait for a build, and a one-shot command should not answer without a model that a moment's
wait would have given it: the first asker waits up to ``LOAD_WAIT``, later ones not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from bot.engine.vectors import Embedder

CACHED_TEXTS = 4_096  # texts whose vectors a model keeps: one story's opening leads many queries
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


class BackgroundModel:
    """An embedder loaded in a thread: a text's vector once it is there (``ready``).

    What answers and a ``Meanings`` store read vectors from (``join``, ``ready``,
    ``text_vector(s)``, ``dims``, ``space``): the word table and the sentence model alike.
    A subclass names what building it costs and what answers do meanwhile (``state``).
    """

    name = "model"
    built = "built once"  # what a first build costs, for the operator
    meanwhile = "answers do without it"  # what answers do while it is not loaded

    def __init__(self, embedder: Embedder, load: Callable[[], None] | None = None) -> None:
        self._embedder = embedder
        self._loading = BackgroundLoad(self.name, load or embedder.load)
        # Openings of the articles answers read: one story leads many queries.
        self._text = lru_cache(maxsize=CACHED_TEXTS)(embedder.embed_query)

    def start(self) -> None:
        """Begin loading (or building) it in a thread, unless that has begun."""
        self._loading.start()

    @property
    def loaded(self) -> bool:
        """Whether it is loaded now (``ready`` may wait a moment for it; this never does)."""
        return self._loading.usable

    def ready(self) -> bool:
        """Whether it is loaded; the first asker waits a moment for it (``BackgroundLoad``)."""
        return self._loading.ready()

    def join(self) -> bool:
        """Wait until it is loaded or has failed to; whether answers can read it."""
        return self._loading.join()

    @property
    def failed(self) -> bool:
        """Whether its load has ended in failure (never waits)."""
        return self._loading.failed

    def finish(self, notice: Callable[[str], None]) -> None:
        """Wait for a build still under way, saying why first (a one-shot command's exit)."""
        self._loading.finish(
            notice,
            f"finishing the {self.name.replace('-', ' ')} for answers (kept beside the "
            f"database: {self.built}, and read by every later command)",
        )

    @property
    def state(self) -> str:
        """How it stands, for an operator (/corpus stats)."""
        loading = self._loading
        if loading.usable:
            return "ready"
        if loading.failed:
            return f"unavailable ({loading.error}); {self.meanwhile}"
        if not loading.started:
            return "loaded when an answer first needs it"
        return f"loading ({self.built}); {self.meanwhile} meanwhile"

    def text_vector(self, text: str) -> np.ndarray:
        """A text's vector (L2-normalised), kept a while."""
        return self._text(text)

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Many texts' vectors at once, none kept, shape (len(texts), dims)."""
        return self._embedder.embed_documents(texts)

    @property
    def folder(self) -> Path:
        """Where it is kept (beside the corpus database)."""
        return self._embedder.cache_dir

    @property
    def path(self) -> Path | None:
        """Its file, once loaded (named by the weights' hash and its version)."""
        return self._embedder.table_path

    @property
    def space(self) -> str:
        """Its vector space (``Embedder.space``): what kept vectors must be of."""
        return self._embedder.space

    @property
    def dims(self) -> int:
        """How many numbers a vector has."""
        return self._embedder.dims
