"""Calls into onnxruntime that the process must not exit in the middle of.

onnxruntime's C++ objects are torn down as the process exits. A daemon thread still inside one
of its calls then ends the process with "terminate called without an active exception"
(SIGABRT, exit status 134): 2 of 5 exits measured in the middle of a fill's batch, and a
`coverage-bot sync` that exited while the sentence model was being built. So every such call
goes through ``GATE.call()``, and at exit (``atexit``: before the libraries are torn down, while
daemon threads still run) new calls are refused and the ones under way are waited for.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The longest call waited for: building the int8 graph takes ~4 s; a fill's call ~4 ms.
EXIT_WAIT = 60.0


class Stopping(RuntimeError):
    """The process is exiting: no new call into onnxruntime is begun."""


class NativeGate:
    """Counts the calls under way; ``settle`` refuses new ones and waits for those."""

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
        """Refuse new calls and wait for those under way; whether none is left."""
        with self._changed:
            self._closing = True
            return self._changed.wait_for(lambda: self._active == 0, timeout)


GATE = NativeGate()
atexit.register(GATE.settle)
