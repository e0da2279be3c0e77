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
            release.wait(60)

    caller = threading.Thread(target=call)
    caller.start()
    assert inside.wait(60)
    settled: list[bool] = []
    settling = threading.Thread(target=lambda: settled.append(gate.settle(timeout=60)))
    settling.start()
    while True:  # until settling has begun: it refuses new calls from then on
        try:
            with gate.call():
                pass
        except Stopping:
            break
    assert settling.is_alive() and settled == []  # still waiting for the call under way
    release.set()
    settling.join(60)
    caller.join(60)
    assert settled == [True]


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
    from contextlib import suppress
    from pathlib import Path

    import onnxruntime

    from bot.engine.native import Stopping
    from bot.engine.vectors import Embedder

    model = Embedder(Path(sys.argv[1]), backend="int8")
    model.load()
    running = threading.Event()
    run = onnxruntime.InferenceSession.run

    def watched(session, *args, **kwargs):  # says when the first run is under way
        running.set()
        return run(session, *args, **kwargs)

    onnxruntime.InferenceSession.run = watched
    texts = ["the council voted to ban police use of facial recognition " * 5] * 5000

    def fill():
        with suppress(Stopping):  # the exit refuses the runs after the one under way
            model.embed_documents(texts)

    threading.Thread(target=fill, daemon=True).start()
    running.wait()
    print("exiting", flush=True)
    """
)


def test_exiting_while_a_fill_runs_the_model_is_a_clean_exit(
    sentence_model: SentenceModel,
) -> None:
    assert sentence_model.loaded  # the graph is kept in CACHE, read by each child
    for _ in range(3):  # without the gate, most such exits abort
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
