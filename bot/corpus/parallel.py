"""Many files parsed on every core: a first start, or a large change, is bound by the parser.

One file takes ~0.75 ms to read and parse (YAML through libyaml's C loader, then the records'
checks), all of it holding the GIL, so threads cannot share it. Worker processes can
(``bot.corpus.parse_worker``): each gets every n-th file and sends back its result encoded as
the parse cache stores it (``cache.encode``), and this process decodes it (~40 µs).

Plain child processes, not ``multiprocessing``: its workers import the parent's main script
again, which an embedding program without a ``__main__`` guard does not survive, and forking
the bot itself would copy its threads' locks mid-use.

The workers run the same ``parse_file`` on the same paths with the same bounds as this process
would, so the untrusted folder is read exactly as before, and results are identical (a test
compares them). Anything the workers cannot do is done here instead: a file whose parse raised
in a worker is parsed again here (so a bug surfaces as it would have), and if a worker cannot
start or dies, the files not yet read back are parsed here, which loses nothing.
"""

from __future__ import annotations

import logging
import marshal
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from bot.corpus.cache import decode
from bot.corpus.formats import FileResult, parse_file
from bot.corpus.records import shared

log = logging.getLogger(__name__)

# Below this many files, starting workers (~0.2 s: an interpreter and the parser's modules)
# costs about what they save.
PARALLEL_MIN_FILES = 500
LENGTH_BYTES = 8  # each result's length ahead of it; 0 says "parse this one yourself"
WORKER = "bot.corpus.parse_worker"


def worker_count() -> int:
    """The cores this process may run on (its affinity where the system says, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_many(
    jobs: Sequence[tuple[str, str]], max_bytes: int, roots: Sequence[str]
) -> Iterator[tuple[FileResult, bytes | None]]:
    """Each (path, display path) of ``jobs`` parsed, in order, on every core when worth it.

    With each result, its encoding when a worker sent it (the cache stores it as it is), else
    None. Results are shared as ``records.shared_strings`` shares a parse's (each string once),
    so a cold load holds no more than it did parsed in one process.
    """

    def here(start: int) -> Iterator[tuple[FileResult, None]]:
        for path, display in jobs[start:]:
            yield parse_file(Path(path), display, max_bytes, roots), None

    count = min(worker_count(), len(jobs) // (PARALLEL_MIN_FILES // 2) or 1)
    if len(jobs) < PARALLEL_MIN_FILES or count < 2:
        yield from here(0)
        return
    workers: list[subprocess.Popen[bytes]] = []
    done = 0
    try:
        try:
            workers = [_start() for _ in range(count)]
            for n, worker in enumerate(workers):  # every job handed over before any is read
                assert worker.stdin is not None
                marshal.dump((list(jobs[n::count]), max_bytes, tuple(roots)), worker.stdin)
                worker.stdin.close()
            for path, display in jobs:
                worker = workers[done % count]
                assert worker.stdout is not None
                blob = _next_result(worker.stdout)
                if blob:
                    result = decode(display, blob)
                    result.articles = [shared(a) for a in result.articles]
                    yield result, blob
                else:  # raised in the worker: here, it raises as it always did
                    yield parse_file(Path(path), display, max_bytes, roots), None
                done += 1
        except (OSError, EOFError, ValueError) as exc:  # none could start, or one died
            log.warning(
                "parsing in worker processes failed (%s); parsing the %d files left here",
                exc,
                len(jobs) - done,
            )
            yield from here(done)
    finally:  # a caller that stops early leaves no worker parsing for nothing
        for worker in workers:
            worker.kill()
            worker.wait()
            for pipe in (worker.stdin, worker.stdout):
                if pipe is not None:
                    pipe.close()


def _start() -> subprocess.Popen[bytes]:
    """A worker, reading the modules this process reads (its import path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-m", WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _next_result(stream: IO[bytes]) -> bytes:
    """The next result a worker sent; EOFError when it stopped before sending it whole."""
    head = stream.read(LENGTH_BYTES)
    if len(head) < LENGTH_BYTES:
        raise EOFError("a worker stopped before sending every result")
    size = int.from_bytes(head, "little")
    blob = stream.read(size)
    if len(blob) < size:
        raise EOFError("a worker stopped in the middle of a result")
    return blob
