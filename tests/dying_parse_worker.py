"""A parse worker that sends its first three results and dies: a crash in mid-batch.

Run as ``python -m tests.dying_parse_worker`` by ``tests/test_corpus_parallel.py`` in place of
``bot.corpus.parse_worker``, with the same input.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path

from bot.corpus.cache import encode
from bot.corpus.formats import parse_file
from bot.corpus.parallel import send_result

SENT = 3

if __name__ == "__main__":
    jobs, max_bytes, roots, _, _ = marshal.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    for path, display in jobs[:SENT]:
        blob = encode(parse_file(Path(path), display, max_bytes, roots))
        send_result(out, blob)
    out.flush()
    os._exit(1)
