"""Many files parsed in worker processes: the same corpus, the same reports, nothing lost."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.corpus import parallel
from bot.corpus.formats import parse_file
from bot.corpus.loader import LoadStats
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.safe_read import real_roots
from tests.corpus_fixtures import SEEDS, write_article
from tests.test_corpus_cache import load

FILES = 40  # with the bound below: two workers, twenty files each


def _folder(tmp_path: Path) -> Path:
    """The seeds, many small articles, and the bad input a corpus folder may hold."""
    root = tmp_path / "corpus"
    shutil.copytree(SEEDS, root / "seeds")
    live = root / "live"
    live.mkdir()
    for n in range(FILES):
        write_article(live, f"story-{n:02d}", f"Harbour story number {n}", f"Told {n} times.")
    (live / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (live / "latin1.txt").write_bytes("Caf\xe9 opens\n\nA caf\xe9 opened.".encode("latin-1"))
    (live / "empty.json").write_text("", encoding="utf-8")
    (live / "huge.md").write_text("---\ntitle: Big\n---\n" + "word " * 4_000, encoding="utf-8")
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: Secret\n---\nnot the corpus\n", encoding="utf-8")
    os.symlink(outside, live / "link-out.md")
    return root


def _load(root: Path | str, database: Path) -> tuple[CorpusSnapshot, LoadStats]:
    return load([str(root)], database, max_bytes=10_000)


def _assert_same(one: CorpusSnapshot, other: CorpusSnapshot) -> None:
    """The same articles and the same reports, in the same order."""
    assert dict(one.articles) == dict(other.articles)
    assert [str(p) for p in one.problems] == [str(p) for p in other.problems]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Workers used from a few files on, two of them; every worker started, as started."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 4)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    workers: list[subprocess.Popen[bytes]] = []
    start = parallel._start

    def counted() -> subprocess.Popen[bytes]:
        workers.append(start())
        return workers[-1]

    monkeypatch.setattr(parallel, "_start", counted)
    return workers


def _here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10**9)


def test_a_folder_parsed_by_workers_is_the_folder_parsed_here(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    by_workers, stats = _load(root, tmp_path / "workers.db")
    assert len(started) == 2
    assert stats.parsed > FILES
    _here(monkeypatch)
    here, _ = _load(root, tmp_path / "here.db")
    _assert_same(by_workers, here)
    reasons = " | ".join(str(p) for p in here.problems)
    for expected in ("broken.md", "empty file", "huge.md", "link-out.md"):
        assert expected in reasons  # each bad file reported, whoever parsed it


def test_a_worker_that_cannot_run_costs_no_file(
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = _folder(tmp_path)
    monkeypatch.setattr(parallel, "WORKER", "bot.corpus.no_such_worker")  # exits at once
    with caplog.at_level(logging.WARNING, logger="bot.corpus.parallel"):
        fallen_back, _ = _load(root, tmp_path / "fallback.db")
    assert started  # they were tried
    assert "parsing in worker processes failed" in caplog.text
    _here(monkeypatch)
    _assert_same(fallen_back, _load(root, tmp_path / "here.db")[0])


def test_what_workers_stored_reads_back_as_the_files_parsed_here(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    _load(root, tmp_path / "workers.db")
    assert started
    _here(monkeypatch)
    monkeypatch.chdir(tmp_path)  # the same files under another display path: read, relabelled
    from_cache, stats = _load("corpus", tmp_path / "workers.db")
    assert stats.parsed == 0
    _assert_same(from_cache, _load("corpus", tmp_path / "here.db")[0])


def test_a_worker_that_dies_in_mid_batch_costs_no_file_and_repeats_none(
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = _folder(tmp_path)
    files = sorted(str(p) for p in (root / "live").glob("story-*.json"))
    jobs, roots = [(f, f) for f in files], real_roots([str(root)])
    monkeypatch.setattr(parallel, "WORKER", "tests.dying_parse_worker")  # three, then dies
    with caplog.at_level(logging.WARNING, logger="bot.corpus.parallel"):
        results = [result for result, _ in parallel.parse_many(jobs, 10_000, roots)]
    assert "parsing in worker processes failed" in caplog.text
    assert [r.articles for r in results] == [
        parse_file(Path(f), f, 10_000, roots).articles for f in files
    ]


def test_a_caller_that_stops_early_leaves_no_worker_running(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    live = tmp_path / "many"
    live.mkdir()
    for n in range(1_200):  # more than the pipes hold: the workers wait on them when stopped
        write_article(live, f"story-{n:04d}", f"Harbour story number {n}", "Told. " * 40)
    files = sorted(str(p) for p in live.iterdir())
    parsed = parallel.parse_many([(f, f) for f in files], 10_000, real_roots([str(tmp_path)]))
    first, encoded = next(parsed)
    assert first.articles[0].title == "Harbour story number 0"
    assert encoded  # as the worker encoded it, for the cache
    parsed.close()
    assert len(started) == 2
    assert all(worker.poll() is not None for worker in started)


def test_a_worker_runs_no_module_from_the_folder_it_starts_in(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    marker = tmp_path / "ran"
    # The bot may run from inside its (untrusted) corpus folder.
    (root / "yaml.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    monkeypatch.chdir(root)
    by_workers, _ = _load(root, tmp_path / "workers.db")
    assert started
    assert not marker.exists()
    assert any(a.title == "Harbour story number 7" for a in by_workers.articles.values())
