"""The bot after a restart: engine ready, stories ready, steady memory, then a change of N files.

    .venv/bin/python bench/bot_restart.py --docs 100000 [--folder DIR] [--database DB]

Does what the bot's ``setup_hook`` does, in this process: the loader (the writer), the engine
on the index kept on disk with its stories grouped "later", then ``Engine.cluster`` unless the
kept groups are of these files (then the whole grouping rests on disk), the autocomplete title
table and the articles' meanings (the bot runs those in threads beside its answers; the RSS is
measured once all are done). Run twice on one database: the first run builds what is missing
(parse, index, first grouping, every article's meaning; the sentence model's with stand-in
vectors, as ``bench/query.py`` explains: computing them takes ~450 articles a second), the
second is the restart the targets are about, and is what it prints. Then it changes
``--change`` files (a word added to each title) and times the loader's refresh and
``Engine.apply``, the watcher's path to answers, then the loading of the resting grouping that
change asks for, and the RSS while it is loaded and once it rests again. A folder it did not
write itself is only changed with ``--edit``. Printed beside them, from the same run: the raw
baseline, a fresh Python process that opens the same tantivy index and runs one query. Targets
(issue 14) at a million documents (1.77 million articles): ready ≤ 3 s, steady RSS ≤ 1.2 GB,
1,000 files to answers ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from quality import VECTOR_CACHE  # noqa: E402
from query import StandInSentences  # noqa: E402
from restart import RAW, timed  # noqa: E402
from rss import mapped_file_bytes, rss_bytes  # noqa: E402
from synthetic_docs import ensure_corpus  # noqa: E402

from bot.corpus.loader import CorpusLoader  # noqa: E402
from bot.engine.engine import Engine  # noqa: E402
from bot.engine.index import index_path  # noqa: E402
from bot.engine.memory import give_back  # noqa: E402
from bot.engine.vectors import Embedder, semantic_available  # noqa: E402

TARGETS = {1_000_000: (3.0, 1_200.0, 2.0)}  # ready s, steady RSS MB, a 1,000-file change s


def start(folder: Path, database: Path) -> tuple[CorpusLoader, Engine, dict[str, float]]:
    """A start as the bot's; the seconds to each stage and the RSS once stories are ready."""
    began = time.perf_counter()
    loader = CorpusLoader([folder], database)
    snapshot, changes, _ = loader.load()
    # Read in a thread beside the engine's build, as the bot's ``Engine.beside`` starts it
    # (``SentenceModel.beside``); its first fill gets stand-in vectors.
    sentences = None
    if semantic_available():
        sentences = StandInSentences(Embedder(VECTOR_CACHE, backend="int8"))
        sentences.start()
    engine = Engine.beside(
        database,
        snapshot,
        stories="later",
        catch_up=(loader.started_from, changes),
        sentences=sentences,
    )
    ready = time.perf_counter() - began
    if not engine.stories_ready:  # as the bot: none when the kept groups are of these files
        engine.cluster()  # loads the kept grouping when there is one
    stories = time.perf_counter() - began - ready
    # What the bot then runs in threads of their own beside the answers: the autocomplete
    # title table, and the articles' meanings (the corpus sample, then every opening vector
    # the kept file lacks). Here one after the other, each timed.
    mark = time.perf_counter()
    engine.titles_in_background()()
    titles = time.perf_counter() - mark
    mark = time.perf_counter()
    if sentences is not None and not sentences.join():  # loaded meanwhile, as in the bot
        raise SystemExit(f"the sentence model cannot be read: {sentences.state}")
    engine.meanings_in_background()()
    meanings = time.perf_counter() - mark
    return (
        loader,
        engine,
        {
            "ready": ready,
            "stories": stories,
            "titles": titles,
            "meanings": meanings,
            "rss": rss_bytes() / 2**20,
            "mapped": mapped_file_bytes() / 2**20,
        },
    )


def edit(folder: Path, count: int) -> list[str]:
    """Add a word to the title of ``count`` files; their paths."""
    paths = []
    for path in sorted(folder.rglob("*.md"))[:count]:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('title: "', 'title: "Edited ', 1), encoding="utf-8")
        paths.append(str(path))
    return paths


def phase(name: str, folder: Path, database: Path, change: int) -> dict[str, object]:
    """One start in this process (and, on the restart, the change): what it measured."""
    loader, engine, took = start(folder, database)
    out: dict[str, object] = {**took, "index": engine.index_state}
    if name == "first":
        engine.save_stories()
        engine.save_meanings()
    elif change:
        paths = edit(folder, change)
        began = time.perf_counter()
        snapshot, changes, _ = loader.refresh(paths)
        out["refresh"] = time.perf_counter() - began
        load = engine.apply(snapshot, changes)
        out["changed"] = time.perf_counter() - began
        out["files"] = len(paths)
        out["applied_rss"] = rss_bytes() / 2**20
        if load:  # the grouping rested on disk: the bot loads it beside the answers
            mark = time.perf_counter()
            engine.cluster()  # and keeps it caught up (``save_stories``)
            out["woke"] = time.perf_counter() - mark
            out["woke_rss"] = rss_bytes() / 2**20
            engine.save_stories()
            mark = time.perf_counter()
            engine.rest_stories()  # after ``rest_stories_after_s`` without a change
            give_back()  # and the bot gives the pages back (``AnswerService``)
            out["rest"] = time.perf_counter() - mark
            out["rest_rss"] = rss_bytes() / 2**20
    engine.release_index()
    loader.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Two starts, each a fresh process, then a change; a verdict where the issue sets one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="documents to reuse (written when empty)")
    parser.add_argument("--database", type=Path, help="database to reuse (default: a new one)")
    parser.add_argument("--change", type=int, default=1_000, help="files to change at the end")
    parser.add_argument("--edit", action="store_true", help="allow changing files in --folder")
    parser.add_argument("--phase", choices=("first", "restart"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:  # a child of the run below
        print(json.dumps(phase(args.phase, args.folder, args.database, args.change)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "docs"
        ours = ensure_corpus(folder, args.docs)
        database = args.database or Path(tmp) / "coverage.db"
        change = args.change if ours or args.edit else 0
        results = {}
        for name, label in (
            ("first", "first start (builds what is missing)"),
            ("restart", "restart"),
        ):
            child = [sys.executable, __file__, "--phase", name, "--folder", str(folder)]
            child += ["--database", str(database), "--change", str(change)]
            done = subprocess.run(child, check=True, capture_output=True, text=True)
            took = results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{label}: engine ready {took['ready']:.2f} s (index {took['index']}), "
                f"stories +{took['stories']:.2f} s, titles +{took['titles']:.2f} s, "
                f"meanings +{took['meanings']:.2f} s; RSS {took['rss']:.0f} MB, of which "
                f"{took['mapped']:.0f} MB of mapped files (database, kept meanings, libraries)"
            )
        took = results["restart"]
        if "changed" in took:
            print(
                f"{took['files']} files changed: loader.refresh {took['refresh']:.2f} s, "
                f"Engine.apply {took['changed'] - took['refresh']:.2f} s, "
                f"to answers {took['changed']:.2f} s"
            )
        if "woke" in took:
            print(
                f"  RSS {took['applied_rss']:.0f} MB; stories loaded and caught up beside the "
                f"answers in {took['woke']:.2f} s "
                f"(RSS {took['woke_rss']:.0f} MB); kept and rested again: RSS "
                f"{took['rest_rss']:.0f} MB"
            )
        raw = timed([sys.executable, "-c", RAW, str(index_path(database))])
        print(f"raw baseline (python + tantivy opening the index, one query): {raw:.2f} s")
    target = TARGETS.get(args.docs)
    if target is not None:
        ready, memory, limit = target
        print(f"{'PASS' if took['ready'] <= ready else 'MISS'}  engine ready ≤ {ready} s")
        print(f"{'PASS' if took['rss'] <= memory else 'MISS'}  steady RSS ≤ {memory:.0f} MB")
        if took.get("files") == 1_000:
            verdict = "PASS" if took["changed"] <= limit else "MISS"
            print(f"{verdict}  1,000 files to answers ≤ {limit} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
