"""A parsing worker (``python -m bot.corpus.parse_worker``), started by ``corpus.parallel``.

Reads, from standard input, the files it is to parse (path and display path), the byte bound,
the corpus roots and its parent's process id, all at once, before writing anything: the parent
hands every worker its share before it reads a result, so neither side waits on a full pipe.
Then writes, in the same order, each file's result as the parse cache encodes it, behind its
length; a length of 0 says the parse raised, and the parent parses that file again itself.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path

from bot.corpus.cache import encode
from bot.corpus.formats import parse_file
from bot.corpus.parallel import FILE_NAMES, send_result

ORPHAN_CHECK = 64  # files between two looks at whether the parent is still there
NICER = 10  # steps below the parent's priority (the kernel caps it at the lowest)


def main() -> int:
    """Parse what standard input lists; write the results to standard output.

    Stops, quietly, once nobody reads them: the parent closed its end or was killed (a worker
    no longer its child's is an orphan: one check every ``ORPHAN_CHECK`` files), or Ctrl+C
    reached the whole process group.
    """
    try:
        jobs, max_bytes, roots, parent, names = marshal.load(sys.stdin.buffer)
        if names != FILE_NAMES:  # this interpreter's, computed as the parent computed its own
            return 1  # it would open other files than the parent's paths name
        if hasattr(os, "nice"):
            os.nice(NICER)  # the bot's answers first, when a live change is parsed
        out = sys.stdout.buffer
        for n, (path, display) in enumerate(jobs):
            if n % ORPHAN_CHECK == 0 and os.getppid() != parent:
                return 1
            try:
                blob = encode(parse_file(Path(path), display, max_bytes, roots))
            except Exception:  # parsed again by the parent, whose error it then is to raise
                blob = b""
            send_result(out, blob)
        out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
