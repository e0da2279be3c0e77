"""First answer after a restart: `coverage-bot ask` from process start to answer, nothing changed.

    .venv/bin/python bench/restart.py --docs 100000 [--folder DIR]

Writes N synthetic front-matter documents (``synthetic_docs``; or reuses ``--folder``), runs
one cold `coverage-bot ask` (parsing every file and building the index kept on disk), then
times warm runs, each a fresh process, as a script calling the command pays it. The raw
baseline, in the same run: a fresh Python process that opens the same tantivy index on disk and
runs one query, the least any answer from it can cost. Targets (issue 14): ≤ 0.5 s at 100,000
articles, ≤ 1.5 s at a million.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synthetic_docs import write_corpus  # noqa: E402

TARGETS = {100_000: 0.5, 1_000_000: 1.5}
QUESTION = "how much did the agency pay for the contract?"
RAW = """
import sys, tantivy
index = tantivy.Index.open(sys.argv[1])
searcher = index.searcher()
query = index.parse_query("agency contract", ["title", "text", "outlet"])
print(len(searcher.search(query, 10).hits))
"""


def timed(argv: list[str]) -> float:
    """Wall seconds of one process, from start to exit."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Cold run, warm runs, raw baseline; a verdict where the issue sets a target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="documents to reuse (written when empty)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "docs"
        if not folder.exists() or not any(folder.iterdir()):
            written = write_corpus(folder, args.docs)
            print(f"wrote {args.docs} documents ({written / 1e6:.0f} MB) to {folder}")
        database = Path(tmp) / "coverage.db"
        command = [
            str(Path(sys.executable).with_name("coverage-bot")),
            "ask",
            QUESTION,
            "--corpus",
            str(folder),
            "--db",
            str(database),
            "--json",
        ]
        cold = timed(command)
        warm = [timed(command) for _ in range(args.runs)]
        index = f"{database}.index"
        raw = [timed([sys.executable, "-c", RAW, index]) for _ in range(args.runs)]
    print(f"cold run (parse every file, build the index): {cold:.2f} s")
    print(
        f"warm `coverage-bot ask`: median {statistics.median(warm):.2f} s, "
        f"best {min(warm):.2f} s over {args.runs} runs"
    )
    print(
        f"raw baseline (python + tantivy opening the index, one query): median "
        f"{statistics.median(raw):.2f} s"
    )
    target = TARGETS.get(args.docs)
    if target is not None:
        got = statistics.median(warm)
        print(f"{'PASS' if got <= target else 'MISS'}  first answer after a restart ≤ {target} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
