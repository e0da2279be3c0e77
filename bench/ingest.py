"""Ingest benchmark: cold parse vs the raw YAML parser, warm restart, peak memory, cache size.

    .venv/bin/python bench/ingest.py --docs 100000

Writes N deterministic synthetic front-matter documents (see ``synthetic_docs``) to a temporary
folder, then measures, each in a fresh process so one pass's memory never counts against
another: the raw ``yaml.load(front_matter, Loader=CSafeLoader)`` rate on the same files, a cold
ingest into an empty cache, and a warm restart with nothing changed. A warm restart leaves its
articles in the database (read when asked for), so the time of a full read of them is printed
beside it: what a first build of the index or the stories costs on top of the load; a restart
whose index and stories are kept never pays it.

Rates and their ratio use CPU seconds as well as wall seconds: on a shared machine other
processes stretch wall time unevenly between passes, while the work done is what the targets
are about. The cold ingest's CPU seconds include its parsing workers' (``bot.corpus.parallel``:
one process a core), so its CPU ratio is the work's, and its wall rate what a user waits for;
the raw parser runs on one core. The warm restart's verdict uses wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rss import peak_rss_bytes  # noqa: E402

COLD_RATIO_TARGET = 0.70
WARM_SECONDS_TARGET_PER_100K = 1.0
RSS_TARGET_FACTOR = 2.0


def _files(folder: str) -> list[str]:
    out = []
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        out += [os.path.join(base, n) for n in sorted(names) if n.endswith(".md")]
    return out


def child_raw(folder: str) -> dict[str, float]:
    """The floor: read each file, cut out its front matter, and hand it to libyaml."""
    import yaml

    files = _files(folder)
    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        end = text.find("\n---", 3)
        yaml.load(text[4:end], Loader=yaml.CSafeLoader)
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "files": len(files),
    }


def child_load(folder: str, db: str) -> dict[str, float]:
    """One ``CorpusLoader.load`` in a fresh process: cold when the cache is empty, else warm."""
    from bot.corpus.loader import CorpusLoader
    from bot.corpus.parallel import planned_workers

    rss_before = peak_rss_bytes()
    start, cpu = time.perf_counter(), _cpu_with_workers()
    loader = CorpusLoader([folder], db)
    snapshot, _, stats = loader.load()
    seconds, cpu = time.perf_counter() - start, _cpu_with_workers() - cpu
    # A warm restart leaves the articles as rows; each is decoded when something reads it (a
    # first build of the index or the stories reads them all). Time that full read too.
    start, read_cpu = time.perf_counter(), time.process_time()
    for article in snapshot.articles.values():
        article.provenance[-1:]  # (touch one nested field of each, as any reader would)
    read_seconds, read_cpu = time.perf_counter() - start, time.process_time() - read_cpu
    loader.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "read_seconds": read_seconds,
        "read_cpu": read_cpu,
        "parsed": stats.parsed,
        "cached": stats.cached,
        "articles": len(snapshot.articles),
        "related_merged": snapshot.related_merged,
        "duplicates_merged": snapshot.duplicates_merged,
        "problems": len(snapshot.problems),
        "rss_start": rss_before,
        "rss_peak": peak_rss_bytes(),
        # The parsing workers' (``bot.corpus.parallel``), each a process of its own: the
        # largest one's peak, and how many ran at once.
        "worker_rss_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "workers": planned_workers(stats.parsed),
    }


def _cpu_with_workers() -> float:
    """CPU seconds of this process and of its finished children (the parsing workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _run_child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main() -> int:
    """Generate, measure, print one line per figure with its target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents to generate")
    parser.add_argument("--seed", type=int, default=20200814)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_raw(*rest) if kind == "raw" else child_load(*rest)
        print(json.dumps(result))
        return 0

    from bench.synthetic_docs import write_corpus

    with tempfile.TemporaryDirectory(prefix="coverage-bench-") as tmp:
        folder = os.path.join(tmp, "corpus")
        db = os.path.join(tmp, "coverage.db")
        start = time.perf_counter()
        corpus_bytes = write_corpus(Path(folder), args.docs, args.seed)
        print(
            f"generated {args.docs:,} documents, {_mib(corpus_bytes)}, "
            f"in {time.perf_counter() - start:.1f} s"
        )
        raw = _run_child("raw", folder)
        cold = _run_child("load", folder, db)
        warm = _run_child("load", folder, db)
        db_bytes = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))

    n = args.docs
    raw_rate, raw_cpu_rate = n / raw["seconds"], n / raw["cpu"]
    cold_rate, cold_cpu_rate = n / cold["seconds"], n / cold["cpu"]
    ratio = cold_cpu_rate / raw_cpu_rate
    warm_target = WARM_SECONDS_TARGET_PER_100K * max(n, 1) / 100_000
    rss_target = RSS_TARGET_FACTOR * corpus_bytes
    print(
        f"articles:      {cold['articles']:,} (related merged {cold['related_merged']:,}, "
        f"duplicates merged {cold['duplicates_merged']:,}, problems {cold['problems']})"
    )
    print(
        f"cold ingest:   {cold_cpu_rate:,.0f} docs/s CPU ({cold_rate:,.0f} wall; "
        f"{cold['cpu']:.1f} s CPU, {cold['parsed']:,} parsed) "
        f"vs raw CSafeLoader {raw_cpu_rate:,.0f} docs/s CPU "
        f"({raw_rate:,.0f} wall): ratio {ratio:.2f} (wall {cold_rate / raw_rate:.2f}; "
        f"target >= {COLD_RATIO_TARGET:.2f}) {_verdict(ratio >= COLD_RATIO_TARGET)}"
    )
    print(
        f"warm restart:  {warm['seconds']:.3f} s wall ({warm['cpu']:.3f} s CPU), "
        f"{warm['parsed']:,} files re-parsed (target <= {warm_target:.2f} s at {n:,} docs, "
        f"i.e. 1 s per 100,000) {_verdict(warm['seconds'] <= warm_target and warm['parsed'] == 0)}"
    )
    print(
        f"  + first read of every article: {warm['read_seconds']:.3f} s wall "
        f"({warm['read_cpu']:.3f} s CPU; read from the database when asked for, so paid only "
        f"by a first build of the index or stories: {warm['seconds'] + warm['read_seconds']:.3f}"
        " s in all then)"
    )
    peak = max(cold["rss_peak"], warm["rss_peak"])
    workers = cold["workers"] * cold["worker_rss_peak"]
    print(
        f"peak RSS:      {_mib(peak)} (cold {_mib(cold['rss_peak'])}, "
        f"warm {_mib(warm['rss_peak'])}; interpreter at start {_mib(cold['rss_start'])}) "
        f"vs corpus {_mib(corpus_bytes)}: "
        f"{peak / corpus_bytes:.2f}x (target <= {RSS_TARGET_FACTOR:.0f}x) "
        f"{_verdict(peak <= rss_target)}; with the cold ingest's {cold['workers']} parsing "
        f"workers (at most {_mib(cold['worker_rss_peak'])} each) at most {_mib(peak + workers)}, "
        f"{(peak + workers) / corpus_bytes:.2f}x"
    )
    print(f"database size: {_mib(db_bytes)} ({db_bytes / corpus_bytes:.2f}x the corpus)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
