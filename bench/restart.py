"""First answer after a restart: `coverage-bot ask` from process start to answer, nothing changed.

    .venv/bin/python bench/restart.py --docs 100000 [--folder DIR]

Writes N synthetic front-matter documents (``synthetic_docs``; or reuses ``--folder``), runs
one cold `coverage-bot ask` (parsing every file and building the index kept on disk), then
times warm runs, each a fresh process, as a script calling the command pays it. The raw
baseline, in the same run: a fresh Python process that opens the same tantivy index on disk and
runs one query, the least any answer from it can cost. Targets (issue 14): ≤ 0.5 s at 100,000
documents (176,262 articles), ≤ 1.5 s at a million documents.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synthetic_docs import ensure_corpus  # noqa: E402

from bot.engine.index import index_path  # noqa: E402

TARGETS = {100_000: 0.5, 1_000_000: 1.5}
QUESTION = "how much did the agency pay for the contract?"
RAW = """
import sys, tantivy
index = tantivy.Index.open(sys.argv[1])
searcher = index.searcher()
query = index.parse_query("agency contract", ["title", "text", "outlet"])
print(len(searcher.search(query, 10).hits))
"""


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds of one process, from start to exit, and its peak RSS in MB.

    With Python's bytecode cache on, as an installed package runs: where the environment turns
    it off (``PYTHONDONTWRITEBYTECODE``), every run would compile every module first.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, argv)
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def timed(argv: list[str]) -> float:
    """Wall seconds of one process (``run``)."""
    return run(argv)[0]


def main(argv: list[str] | None = None) -> int:
    """Cold run, warm runs, raw baseline; a verdict where the issue sets a target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="documents to reuse (written when empty)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "docs"
        ensure_corpus(folder, args.docs)
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
        cold, cold_peak = run(command)
        warm_runs = [run(command) for _ in range(args.runs)]
        warm = [seconds for seconds, _ in warm_runs]
        index = str(index_path(database))
        raw = [timed([sys.executable, "-c", RAW, index]) for _ in range(args.runs)]
    print(
        f"cold run (parse every file, build the index): {cold:.2f} s, peak RSS {cold_peak:.0f} MB"
    )
    print(f"warm runs' peak RSS: {max(peak for _, peak in warm_runs):.0f} MB")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(a child's peak is at least this script's own, {own:.0f} MB: Linux carries it over)")
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
