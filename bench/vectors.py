"""The semantic signal's cost: embedding, nearest neighbours, the static table, memory.

    .venv/bin/python bench/vectors.py                      # 100k vectors, table built fresh
    .venv/bin/python bench/vectors.py --cache data --quality

Prints, all measured in this run:
- query embedding latency (median / p99 over the question files' questions) for the static
  table, the full numpy forward pass and the same model as an int8 ONNX graph
  (``bot/engine/minilm_int8.py``), and the full pass of a query plus the three passages
  ``ask`` would re-score (the hybrid that was considered);
- documents per second for each (synthetic title + excerpt, ``bench/synthetic_articles.py``),
  the int8 graph on one worker thread (the baseline) and on the workers a fill uses;
- ``VectorStore.nearest`` top-100 over N random unit vectors, unfiltered and limited to 5,000
  allowed ids, beside the raw baseline of the same sizes: ``matrix @ query`` plus
  ``argpartition`` in plain numpy, at the store's dimensions and at the model's 384;
- the store's save and load at N, the one-time table build (or its load from ``--cache``),
  and RSS after each stage;
- with ``--quality``: over the paraphrase (and all answerable) questions of
  ``bench/questions.yaml``, ``heldout.yaml`` and ``heldout2.yaml``, the rank of the first right
  article among all articles of their corpus by cosine alone, static vs full vs int8: how
  much the static table and the quantisation give up.

Targets (issue 13): the semantic step of a command (embed the query, top-100 over 100k) within
what is left of a 10 ms p99 per command after the engine's own (<= 3.4 ms p99 at 100k with
bodies, bench/query.py); document vectors filled at >= 300 docs/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# One BLAS thread, as the bot runs it (bot/engine/vectors.py), set before numpy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synthetic_articles import Generator  # noqa: E402

from bot.engine.answerable import opening  # noqa: E402
from bot.engine.meaning import BATCH  # noqa: E402
from bot.engine.minilm_int8 import Int8MiniLM, batch_workers  # noqa: E402
from bot.engine.vectors import STATIC_DIMS, Embedder, VectorStore, model_dir  # noqa: E402

QUESTION_FILES = ("questions.yaml", "heldout.yaml", "heldout2.yaml")
ENGINE_P99_MS = 3.4  # the slowest command's p99 at 100k with bodies (README, bench/query.py)
COMMAND_P99_TARGET_MS = 10.0
DOCS_PER_S_TARGET = 300.0


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    return psutil.Process().memory_info().rss / 1e6


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and p99 (nearest rank) wall-clock ms of ``runs`` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(0.99 * len(times)))]


def timed_each(fn: Callable[[str], object], items: Sequence[str]) -> tuple[float, float]:
    """Median and p99 milliseconds of ``fn`` over ``items``, one call each, after a warm-up."""
    fn(items[0])
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(0.99 * len(times)))]


def raw_wide(rng: np.random.Generator, n: int) -> tuple[float, float]:
    """The raw top-100 at the full model's 384 dimensions, for the size chosen against."""
    wide = rng.standard_normal((n, 384), dtype=np.float32)
    probes = wide[:201].copy()
    it = iter(range(10**9))
    return timed(lambda: np.argpartition(wide @ probes[next(it) % 201], n - 100)[-100:], 200)


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def ready(embedder: Embedder, label: str) -> Embedder:
    """``embedder`` loaded, with how long it took and whether its kept file was built or read."""
    start = time.perf_counter()
    embedder.load()
    how = "built" if embedder.table_built else "read from cache"
    kept = f" {how} ({embedder.table_path})" if embedder.table_path else " loaded"
    print(f"{label}{kept} in {time.perf_counter() - start:.2f} s; RSS {rss_mb():.0f} MB")
    return embedder


def questions() -> list[str]:
    """Every question of the three question files (real query wording and lengths)."""
    import yaml

    out = []
    for name in QUESTION_FILES:
        data = yaml.safe_load((ROOT / "bench" / name).read_text(encoding="utf-8"))
        out += [str(item["question"]) for item in data["questions"]]
    return out


def docs_per_second(
    embed: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int
) -> float:
    """Documents embedded per second, in batches of ``batch`` as a background filler would."""
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        embed(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - start)


def int8_rates(int8: Embedder, texts: Sequence[str]) -> None:
    """The int8 graph's documents/s on one worker (the baseline) and on the fill's workers."""
    assert int8.table_path is not None
    alone = Int8MiniLM(model_dir(), int8.table_path, workers=1)
    a_rate = docs_per_second(alone.encode, texts, BATCH)
    print(f"  int8, 1 worker {a_rate:8,.0f} docs/s over {len(texts):,}  (the baseline)")
    i_rate = docs_per_second(int8.embed_documents, texts, BATCH)
    print(
        f"  int8, {batch_workers()} workers{i_rate:8,.0f} docs/s over {len(texts):,}  "
        f"(as the fill runs; 100k would take {100_000 / i_rate / 60:.0f} min)  "
        f"{verdict(i_rate >= DOCS_PER_S_TARGET)} >= {DOCS_PER_S_TARGET:.0f}"
    )


def real_openings() -> list[str]:
    """The openings the bot embeds, of the question files' corpus (``../shared``): none without."""
    from quality import load_corpus, load_questions

    _, named = load_questions(*(ROOT / "bench" / n for n in QUESTION_FILES))
    folders = [(ROOT / c).resolve() for c in named]
    if not all(folder.is_dir() for folder in folders):
        return []
    snapshot = load_corpus([str(folder) for folder in folders])
    return [opening(article) for article in snapshot.articles.values()]


def quality(static: Embedder, full: Embedder, int8: Embedder) -> None:
    """Cosine-only retrieval over the question files' corpus: static table, full pass, int8."""
    from quality import load_corpus, load_questions

    qs, named = load_questions(*(ROOT / "bench" / n for n in QUESTION_FILES))
    snapshot = load_corpus([str((ROOT / c).resolve()) for c in named])
    articles = list(snapshot.articles.values())
    texts = [f"{a.title}. {a.excerpt}" for a in articles]
    answerable = [q for q in qs if q.answerable]
    right = {q.number: np.array([q.is_right(a) for a in articles]) for q in answerable}
    print(f"\nquality: {len(articles)} articles (title + excerpt), cosine alone")
    for name, embedder in (("static", static), ("full", full), ("int8", int8)):
        docs = embedder.embed_documents(texts)
        for label, subset in (
            ("paraphrase", [q for q in answerable if q.kind == "paraphrase"]),
            ("answerable", answerable),
        ):
            scores = embedder.embed_documents([q.question for q in subset]) @ docs.T
            top1 = mrr = top10 = 0.0
            for row, q in zip(scores, subset, strict=True):
                hits = right[q.number][np.argsort(-row, kind="stable")]
                first = int(np.argmax(hits)) if hits.any() else len(hits)
                top1 += first == 0
                mrr += 1 / (first + 1)
                top10 += first < 10
            n = len(subset)
            print(
                f"  {name:6} {label:10} ({n:3}): top-1 {top1:.0f}/{n}  MRR {mrr / n:.3f}  "
                f"top-10 {top10:.0f}/{n}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement and print it with its baseline and target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=100_000, help="store size for search")
    parser.add_argument("--docs", type=int, default=100_000, help="documents for static docs/s")
    parser.add_argument("--full-docs", type=int, default=300, help="documents for full docs/s")
    parser.add_argument("--cache", type=Path, help="table cache folder (default: a fresh one)")
    parser.add_argument("--quality", action="store_true", help="cosine retrieval on questions")
    args = parser.parse_args(argv)

    base_rss = rss_mb()
    print(f"python RSS at start (numpy loaded): {base_rss:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        static = ready(Embedder(cache, backend="static"), f"static table {STATIC_DIMS} dims")
        full = ready(Embedder(cache, backend="full"), "full model")
        int8 = ready(Embedder(cache, backend="int8"), "int8 graph")

        queries = questions()
        print(f"\nquery embedding, {len(queries)} questions (median / p99 ms)")
        s_med, s_p99 = timed_each(static.embed_query, queries)
        print(f"  static table       {s_med:7.3f} / {s_p99:7.3f}")
        f_med, f_p99 = timed_each(full.embed_query, queries)
        print(f"  full forward       {f_med:7.3f} / {f_p99:7.3f}")
        i_med, i_p99 = timed_each(int8.embed_query, queries)
        print(f"  int8 graph         {i_med:7.3f} / {i_p99:7.3f}")
        passages = [
            "Immigration and Customs Enforcement signed a contract with Clearview AI worth "
            "$224,000 for clearview licenses, according to a purchase order.",
            "The deal, first reported by Tech Inquiry, comes as the company faces lawsuits over "
            "its database of billions of photos scraped from social media.",
            "Clearview AI has said it works only with law enforcement agencies in the US.",
        ]
        h_med, h_p99 = timed_each(lambda q: full.embed_documents([q, *passages]), queries[:60])
        print(f"  full query + 3 passages (ask re-scoring) {h_med:.2f} / {h_p99:.2f}")

        generator = Generator(seed=7)
        corpus = list(generator.corpus(args.docs).values())
        texts = [f"{a.title}. {a.excerpt}" for a in corpus]
        tokens = np.mean([len(t.split()) for t in texts[:1000]])
        print(f"\ndocuments/s (synthetic title + excerpt, ~{tokens:.0f} words)")
        s_rate = docs_per_second(static.embed_documents, texts, 1000)
        print(
            f"  static table  {s_rate:9,.0f} docs/s over {len(texts):,}  "
            f"({len(texts) / s_rate:.1f} s)  {verdict(s_rate >= DOCS_PER_S_TARGET)} "
            f">= {DOCS_PER_S_TARGET:.0f}"
        )
        f_rate = docs_per_second(full.embed_documents, texts[: args.full_docs], 16)
        print(
            f"  full forward  {f_rate:9,.0f} docs/s over {args.full_docs:,}  "
            f"(100k would take {100_000 / f_rate / 60:.0f} min)  "
            f"{verdict(f_rate >= DOCS_PER_S_TARGET)} >= {DOCS_PER_S_TARGET:.0f}"
        )
        int8_rates(int8, texts[: args.full_docs])
        del corpus
        real = real_openings()
        if real:  # what the bot reads: ~55 tokens an opening against the synthetic ~125
            print(f"\ndocuments/s (the question files' corpus: {len(real)} real openings)")
            int8_rates(int8, real)

        rng = np.random.default_rng(7)
        n = args.vectors
        print(f"\nnearest, top-100 of {n:,} (median / p99 ms), 200 queries each")
        ids = [f"{i:016x}" for i in range(n)]
        matrix = rng.standard_normal((n, static.dims), dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        before = rss_mb()
        store = VectorStore(static.dims, static.space)
        start = time.perf_counter()
        for i in range(0, n, 1000):
            store.add(ids[i : i + 1000], matrix[i : i + 1000])
        add_s = time.perf_counter() - start
        print(
            f"  store of {n:,} x {static.dims}: filled in {add_s:.2f} s, "
            f"RSS +{rss_mb() - before:.0f} MB"
        )
        probes = rng.standard_normal((201, static.dims), dtype=np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        it = iter(range(10**9))

        def probe() -> np.ndarray:
            return probes[next(it) % len(probes)]

        n_med, n_p99 = timed(lambda: store.nearest(probe(), 100), 200)
        print(f"  VectorStore.nearest            {n_med:6.2f} / {n_p99:6.2f}")
        raw = matrix

        def raw_top() -> np.ndarray:
            scores = raw @ probe()
            top = np.argpartition(scores, len(scores) - 100)[-100:]
            return top[np.argsort(-scores[top])]

        r_med, r_p99 = timed(raw_top, 200)
        print(f"  raw numpy matmul + top-100     {r_med:6.2f} / {r_p99:6.2f}  (baseline)")
        allowed = set(rng.choice(ids, 5000, replace=False).tolist())
        a_med, a_p99 = timed(lambda: store.nearest(probe(), 100, allowed=allowed), 200)
        print(f"  nearest, 5,000 allowed ids     {a_med:6.2f} / {a_p99:6.2f}")
        w_med, w_p99 = raw_wide(rng, n)
        print(f"  raw at 384 dims (full vectors) {w_med:6.2f} / {w_p99:6.2f}  (baseline)")

        path = Path(tmp) / "vectors.bin"
        start = time.perf_counter()
        store.save(path)
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = VectorStore.load(path, static.dims, static.space)
        load_s = time.perf_counter() - start
        assert len(loaded) == n
        written = path.stat().st_blocks * 512 / 1e6  # the room for more rows is a hole
        print(f"  save {save_s:.2f} s, load (mapped) {load_s:.2f} s, file {written:.0f} MB")

        step = s_p99 + n_p99
        budget = COMMAND_P99_TARGET_MS - ENGINE_P99_MS
        print(
            f"\nsemantic step p99: query {s_p99:.2f} + nearest {n_p99:.2f} = {step:.2f} ms; "
            f"with the engine's {ENGINE_P99_MS} ms p99 {step + ENGINE_P99_MS:.2f} ms  "
            f"{verdict(step <= budget)} <= {COMMAND_P99_TARGET_MS:.0f} ms per command"
        )
        print(
            f"full forward instead: {f_p99:.2f} + {n_p99:.2f} ms  "
            f"{verdict(f_p99 + n_p99 <= budget)}"
        )
        print(
            f"peak RSS {psutil.Process().memory_info().rss / 1e6:.0f} MB (start {base_rss:.0f} MB)"
        )
        if args.quality:
            quality(static, full, int8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
