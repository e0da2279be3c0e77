"""A process exits cleanly while the sentence model computes in a daemon thread.

Exiting in the middle of an onnxruntime call ended the process with SIGABRT ("terminate called
without an active exception"): a bot stopped during a fill of article vectors, a `coverage-bot
sync` while the model was being built. ``bot.engine.native`` holds the exit for the calls
under way and refuses new ones.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bot.engine.native import NativeGate, Stopping
from bot.engine.sentences import SentenceModel
from tests.word_table import CACHE

ROOT = Path(__file__).resolve().parent.parent


def test_settling_waits_for_the_call_under_way_then_refuses_new_ones() -> None:
    gate = NativeGate()
    inside, release = threading.Event(), threading.Event()

    def call() -> None:
        with gate.call():
            inside.set()
            release.wait()

    caller = threading.Thread(target=call)
    caller.start()
    inside.wait()
    settled: list[bool] = []
    settling = threading.Thread(target=lambda: settled.append(gate.settle()))
    settling.start()
    assert settled == []  # the call is under way: settling cannot have ended
    release.set()
    settling.join()
    caller.join()
    assert settled == [True]
    with pytest.raises(Stopping), gate.call():
        pass


def test_a_call_that_raises_still_lets_the_exit_go() -> None:
    gate = NativeGate()
    with pytest.raises(ValueError), gate.call():
        raise ValueError("a failed run")
    assert gate.settle(timeout=0)


# A daemon thread computes openings' vectors, as a fill does; the process exits as soon as
# the first is under way, the thread then most likely inside the model's run.
CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from bot.engine.vectors import Embedder

    model = Embedder(Path(sys.argv[1]), backend="int8")
    model.load()
    session = model._model._session
    running = threading.Event()

    class Watched:  # says when the first run is under way
        def run(self, *args, **kwargs):
            running.set()
            return session.run(*args, **kwargs)

    model._model._session = Watched()
    texts = ["the council voted to ban police use of facial recognition " * 5] * 5000
    threading.Thread(target=model.embed_documents, args=(texts,), daemon=True).start()
    running.wait()
    print("exiting", flush=True)
    """
)


def test_exiting_while_a_fill_runs_the_model_is_a_clean_exit(
    sentence_model: SentenceModel,
) -> None:
    assert sentence_model.loaded  # the graph is kept in CACHE, read by each child
    for _ in range(3):  # before the gate, 2 of 5 such exits aborted
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(CACHE)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.stdout == "exiting\n"
        assert "terminate called" not in child.stderr
        assert child.returncode == 0, child.stderr
