"""A parsing worker (``python -m bot.corpus.parse_worker``), started by ``corpus.parallel``.

Reads, from standard input, the files it is to parse (path and display path), the byte bound
and the corpus roots, all at once, before writing anything: the parent hands every worker its
share before it reads a result, so neither side waits on a full pipe. Then writes, in the same
order, each file's result as the parse cache encodes it, behind its length; a length of 0 says
the parse raised, and the parent parses that file again itself.
"""

from __future__ import annotations

import marshal
import sys
from pathlib import Path

from bot.corpus.cache import encode
from bot.corpus.formats import parse_file
from bot.corpus.parallel import LENGTH_BYTES


def main() -> None:
    """Parse what standard input lists; write the results to standard output."""
    jobs, max_bytes, roots = marshal.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    for path, display in jobs:
        try:
            blob = encode(parse_file(Path(path), display, max_bytes, roots))
        except Exception:  # the parent parses it again, and its error is the parent's to raise
            blob = b""
        out.write(len(blob).to_bytes(LENGTH_BYTES, "little"))
        out.write(blob)
    out.flush()


if __name__ == "__main__":
    main()
