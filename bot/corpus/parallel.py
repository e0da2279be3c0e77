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
# costs about what they save: a change of 1,000 files at 100,000 reached answers in 1.92-2.48 s
# with them against 2.16 s without (the bot's path, `bench/bot_restart.py`), 3,000 files
# loaded in 1.73 s against 2.39 s.
PARALLEL_MIN_FILES = 1_000
MAX_WORKERS = 4  # ~70 MB each; past four, the cache's writes in this process are the bound
LENGTH_BYTES = 8  # each result's length ahead of it; 0 says "parse this one yourself"
WORKER = "bot.corpus.parse_worker"
# How file names become bytes in this interpreter: a worker whose own differ stops at once, and
# its files are parsed here (``parse_worker``).
FILE_NAMES = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
_SYSTEM_VARIABLES = frozenset(
    {"PATH", "LANG", "LANGUAGE", "HOME", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "COMSPEC"}
)


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system says, else all).

    Also how many threads share a batch of the sentence model's texts (``minilm_int8``).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def planned_workers(files: int) -> int:
    """How many workers ``parse_many`` starts for ``files`` files (0: it parses them here)."""
    count = min(usable_cores(), MAX_WORKERS, files // (PARALLEL_MIN_FILES // 2) or 1)
    return count if files >= PARALLEL_MIN_FILES and count >= 2 and _can_start() else 0


def parse_many(
    jobs: Sequence[tuple[str, str]], max_bytes: int, roots: Sequence[str]
) -> Iterator[tuple[FileResult, bytes | None]]:
    """Each (path, display path) of ``jobs`` parsed, in order, on every core when worth it.

    With each result, its encoding when a worker sent it (the cache stores it as it is), else
    None. Results are shared as ``records.shared_strings`` shares a parse's (each string once),
    so a cold load holds no more than it did parsed in one process.
    """

    def parse(path: str, display: str) -> tuple[FileResult, None]:
        return parse_file(Path(path), display, max_bytes, roots), None

    def here(start: int) -> Iterator[tuple[FileResult, None]]:
        return (parse(path, display) for path, display in jobs[start:])

    count = planned_workers(len(jobs))
    if not count:
        yield from here(0)
        return
    workers: list[subprocess.Popen[bytes]] = []
    done = 0
    try:
        try:
            for n in range(count):  # every job handed over before any result is read
                workers.append(_start())
                stdin = workers[-1].stdin
                assert stdin is not None
                share = (list(jobs[n::count]), max_bytes, tuple(roots), os.getpid(), FILE_NAMES)
                marshal.dump(share, stdin)
                stdin.close()
        except Exception as exc:  # whatever stops a start (none may be allowed): parse here
            _gave_up(exc, len(jobs))
            yield from here(0)
            return
        for path, display in jobs:
            stdout = workers[done % count].stdout
            assert stdout is not None
            try:
                blob = _next_result(stdout)
            except (OSError, EOFError) as exc:  # a worker died: every file left is parsed here
                _gave_up(exc, len(jobs) - done)
                yield from here(done)
                return
            if blob:
                result = decode(display, blob)
                result.articles = shared(result.articles)
                yield result, blob
            else:  # raised in the worker: here, it raises as it always did
                yield parse(path, display)
            done += 1
    finally:  # a caller that stops early leaves no worker parsing for nothing
        for worker in workers:
            worker.kill()
            worker.wait()
            for pipe in (worker.stdin, worker.stdout):
                if pipe is not None:
                    pipe.close()


def _can_start() -> bool:
    """Whether this interpreter can start another of itself (not embedded, not frozen)."""
    return bool(sys.executable) and not getattr(sys, "frozen", False)


def _gave_up(why: BaseException, left: int) -> None:
    log.warning(
        "parsing in worker processes failed (%s); parsing the %d files left here",
        why or type(why).__name__,
        left,
    )


def _start() -> subprocess.Popen[bytes]:
    """A worker reading the modules this process reads, and nothing from where it runs.

    ``-P``: the current folder (which may be the untrusted corpus) is not on its import path;
    its own is this process's. Its environment holds what Python and the system need, not the
    bot's secrets. Ten steps nicer than this process, so answers go first (``parse_worker``).
    """
    env = {k: v for k, v in os.environ.items() if _inherited(k)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.Popen(
        [sys.executable, "-P", "-m", WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _inherited(name: str) -> bool:
    """Whether a worker gets this environment variable: the locale, Python's and the system's."""
    upper = name.upper()
    return upper in _SYSTEM_VARIABLES or upper.startswith(("LC_", "PYTHON"))


def send_result(stream: IO[bytes], blob: bytes) -> None:
    """What a worker writes for one file (``_next_result`` reads it): its length, then it."""
    stream.write(len(blob).to_bytes(LENGTH_BYTES, "little"))
    stream.write(blob)


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
