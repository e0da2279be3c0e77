"""Calls into onnxruntime that the process must not exit in the middle of.

Once the atexit callbacks have run, CPython (before 3.14) ends a daemon thread that takes the
interpreter lock back with ``pthread_exit``. One returning from onnxruntime is then inside its
pybind11 code, which may not unwind, and the process aborts ("terminate called without an
active exception", SIGABRT, exit status 134): most exits measured in the middle of a fill's
run, and a `coverage-bot sync` that exited while the sentence model was being built. So every
such call goes through ``GATE.call()``, and the exit (``atexit``: after the non-daemon threads
are joined, while daemon threads still run) waits for the calls under way.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
# The longest call waited for: building the int8 graph takes ~4 s; a fill's call ~4 ms.
EXIT_WAIT = 60.0


class Stopping(RuntimeError):
    """The process is exiting: no new call into onnxruntime is begun."""


class NativeGate:
    """Counts the calls under way, so that the exit can wait for them (``settle``)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self._closing = False

    @contextmanager
    def call(self) -> Iterator[None]:
        """Hold the process's exit until the block is done; ``Stopping`` once it is exiting."""
        with self._changed:
            if self._closing:
                raise Stopping("the process is exiting")
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def settle(self, timeout: float = EXIT_WAIT) -> bool:
        """Wait for the calls under way; whether none is left.

        New ones are refused meanwhile, so the rest of a fill's batch does not hold the exit
        up: it waits for one text's run, not for the batch.
        """
        with self._changed:
            self._closing = True
            settled = self._changed.wait_for(lambda: self._active == 0, timeout)
        if not settled:
            log.warning("exiting with a model call still under way after %.0f s", timeout)
        return settled


GATE = NativeGate()
atexit.register(GATE.settle)
