"""The SQLite cache: a restart re-parses only what changed, and forgets what was deleted."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot import store
from bot.corpus import cache
from bot.corpus.loader import CorpusLoader, LoadStats
from bot.corpus.merge import CorpusSnapshot


def write_corpus(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.md").write_text(
        "---\n"
        "title: Main story\n"
        "webUrl: https://example.com/main\n"
        "related:\n"
        "  - title: Side story\n"
        "    webUrl: https://example.com/side\n"
        "  - title: Shared story\n"
        "    webUrl: https://www.example.com/amp/shared\n"
        "---\n",
        encoding="utf-8",
    )
    (root / "shared.md").write_text(
        "---\ntitle: Shared story\nwebUrl: https://example.com/shared\n---\nIts body.\n",
        encoding="utf-8",
    )
    (root / "dupes.jsonl").write_text(
        json.dumps({"title": "Shared story", "url": "https://example.com/shared?utm_source=x"})
        + "\n"
        + json.dumps({"title": "Lonely story", "url": "https://example.com/lonely"})
        + "\n",
        encoding="utf-8",
    )
    (root / "broken.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    sub = root / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "scrape.txt").write_text("The Outlet\n\nA scraped paragraph.\n", encoding="utf-8")


def load(roots: list[str], db: Path, **kwargs: int) -> tuple[CorpusSnapshot, LoadStats]:
    loader = CorpusLoader(roots, db, **kwargs)
    try:
        snapshot, _, stats = loader.load()
    finally:
        loader.close()
    return snapshot, stats


def same_corpus(a: CorpusSnapshot, b: CorpusSnapshot) -> None:
    assert a.articles == b.articles
    assert a.problems == b.problems
    assert (a.related_merged, a.duplicates_merged) == (b.related_merged, b.duplicates_merged)
    assert set(a.files) == set(b.files)


def bump(path: Path, text: str) -> None:
    """Rewrite a file so both its size and mtime change, whatever the clock resolution."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write_corpus(root)
    return root


def test_first_load_parses_every_file(corpus: Path, tmp_path: Path) -> None:
    snapshot, stats = load([str(corpus)], tmp_path / "db.sqlite")
    assert stats == LoadStats(files=5, parsed=5, cached=0, removed=0)
    assert len(snapshot.articles) == 5
    assert snapshot.duplicates_merged == 1
    assert snapshot.related_merged == 1
    assert len(snapshot.errors) == 1


def test_restart_without_changes_parses_nothing(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    first, _ = load([str(corpus)], db)
    second, stats = load([str(corpus)], db)
    assert stats == LoadStats(files=5, parsed=0, cached=5, removed=0)
    same_corpus(first, second)


def test_touching_one_file_reparses_exactly_that_file(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    load([str(corpus)], db)
    bump(corpus / "sub" / "scrape.txt", "The Outlet\n\nA rewritten paragraph.\n")
    snapshot, stats = load([str(corpus)], db)
    assert stats.parsed == 1
    assert stats.cached == 4
    titles = {a.title for a in snapshot.articles.values()}
    assert "A rewritten paragraph." in titles
    assert "A scraped paragraph." not in titles


def test_touching_mtime_alone_reparses(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    load([str(corpus)], db)
    st = (corpus / "shared.md").stat()
    os.utime(corpus / "shared.md", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, stats = load([str(corpus)], db)
    assert stats.parsed == 1


def test_deleted_file_disappears_after_restart(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    first, _ = load([str(corpus)], db)
    assert any(a.title == "Lonely story" for a in first.articles.values())
    (corpus / "dupes.jsonl").unlink()
    (corpus / "broken.md").unlink()
    snapshot, stats = load([str(corpus)], db)
    assert stats == LoadStats(files=3, parsed=0, cached=3, removed=2)
    assert all(a.title != "Lonely story" for a in snapshot.articles.values())
    assert snapshot.errors == []
    shared = next(a for a in snapshot.articles.values() if a.title == "Shared story")
    assert {Path(p.path).name for p in shared.provenance} == {"main.md", "shared.md"}
    assert snapshot.duplicates_merged == 0
    fresh, _ = load([str(corpus)], tmp_path / "fresh.sqlite")
    same_corpus(snapshot, fresh)


def test_counts_after_changes_equal_a_fresh_load(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    loader = CorpusLoader([str(corpus)], db)
    try:
        loader.load()
        bump(
            corpus / "dupes.jsonl",
            json.dumps({"title": "Main story", "url": "https://example.com/main#top"}) + "\n",
        )
        (corpus / "extra.md").write_text(
            "---\ntitle: Side story\nwebUrl: https://example.com/side/\n---\n", encoding="utf-8"
        )
        (corpus / "shared.md").unlink()
        incremental, _, stats = loader.refresh(
            [str(corpus / n) for n in ("dupes.jsonl", "extra.md", "shared.md")]
        )
    finally:
        loader.close()
    assert stats.parsed == 2
    assert stats.removed == 1
    fresh, _ = load([str(corpus)], tmp_path / "fresh.sqlite")
    same_corpus(incremental, fresh)
    assert fresh.duplicates_merged == 1  # Main story: main.md and dupes.jsonl
    assert fresh.related_merged == 1  # Side story: main.md's related entry and extra.md
    restarted, stats = load([str(corpus)], db)
    assert stats.parsed == 0
    same_corpus(restarted, fresh)


def test_changes_made_before_a_crash_are_applied_from_the_cache(
    corpus: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite"
    running = CorpusLoader([str(corpus)], db)
    running.load()
    bump(
        corpus / "shared.md",
        "---\ntitle: Shared story, updated\nwebUrl: https://example.com/shared\n---\n",
    )
    running.refresh([str(corpus / "shared.md")])
    # The process dies here: ``close`` never saves the merged state.
    snapshot, stats = load([str(corpus)], db)
    assert stats.parsed == 0
    shared = next(a for a in snapshot.articles.values() if a.url == "https://example.com/shared")
    assert "Shared story, updated" in (shared.title, *shared.alt_titles)
    fresh, _ = load([str(corpus)], tmp_path / "fresh.sqlite")
    same_corpus(snapshot, fresh)


def test_other_display_path_relabels_without_parsing(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db.sqlite"
    monkeypatch.chdir(tmp_path)
    relative, _ = load(["corpus"], db)
    assert all(p.path.startswith("corpus/") for p in relative.problems)
    absolute, stats = load([str(corpus)], db)
    assert stats.parsed == 0
    prefix = str(corpus) + os.sep
    for article in absolute.articles.values():
        assert all(p.path.startswith(prefix) for p in article.provenance)
    assert [p.path for p in absolute.problems] == [str(corpus / "broken.md")]
    assert len(absolute.articles) == len(relative.articles)
    fresh, _ = load([str(corpus)], tmp_path / "fresh.sqlite")
    same_corpus(absolute, fresh)


def test_parser_version_change_reparses_everything(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db.sqlite"
    load([str(corpus)], db)
    monkeypatch.setattr(cache, "PARSER_VERSION", cache.PARSER_VERSION + 1)
    _, stats = load([str(corpus)], db)
    assert stats.parsed == 5


def test_two_corpora_share_one_database(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    write_corpus(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "only.md").write_text("---\ntitle: Only in b\n---\n", encoding="utf-8")
    a1, _ = load([str(tmp_path / "a")], db)
    b1, _ = load([str(tmp_path / "b")], db)
    a2, stats_a = load([str(tmp_path / "a")], db)
    b2, stats_b = load([str(tmp_path / "b")], db)
    assert (stats_a.parsed, stats_b.parsed) == (0, 0)
    same_corpus(a1, a2)
    same_corpus(b1, b2)
    assert [a.title for a in b2.articles.values()] == ["Only in b"]


def test_database_file_inside_the_corpus_is_not_read(corpus: Path) -> None:
    snapshot, stats = load([str(corpus)], corpus / "coverage.db")
    assert stats.files == 5
    assert not any("coverage.db" in p.path for p in snapshot.problems)


def test_hidden_files_and_folders_are_skipped(corpus: Path, tmp_path: Path) -> None:
    (corpus / ".hidden.md").write_text("---\ntitle: Hidden\n---\n", encoding="utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "x.md").write_text("---\ntitle: In git\n---\n", encoding="utf-8")
    snapshot, stats = load([str(corpus)], tmp_path / "db.sqlite")
    assert stats.files == 5
    assert {"Hidden", "In git"}.isdisjoint(a.title for a in snapshot.articles.values())


def test_state_survives_an_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    db = tmp_path / "db.sqlite"
    first, _ = load([str(tmp_path / "empty")], db)
    second, stats = load([str(tmp_path / "empty")], db)
    assert first.articles == second.articles == {}
    assert stats == LoadStats(files=0, parsed=0, cached=0, removed=0)


def test_damaged_state_is_rebuilt_from_the_file_rows(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    first, _ = load([str(corpus)], db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE corpus_state SET data = x'00ff00' WHERE part = 1")
    second, stats = load([str(corpus)], db)
    assert stats.parsed == 0
    same_corpus(first, second)


def test_damaged_file_row_is_parsed_again(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    first, _ = load([str(corpus)], db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM corpus_state")
        conn.execute("UPDATE corpus_files SET parsed = x'00' WHERE path LIKE '%shared.md'")
    second, stats = load([str(corpus)], db)
    assert stats.parsed == 1
    same_corpus(first, second)


def test_a_writer_leaves_no_journal_for_the_next_start(corpus: Path, tmp_path: Path) -> None:
    """The first process to open a WAL database reads the whole WAL back; a build's is large.

    A one-shot command exits with its article reader's connection still open, so SQLite's own
    checkpoint on closing the last connection never runs: the loader empties the WAL itself.
    """
    db = tmp_path / "db.sqlite"
    for n in range(300):  # enough rows that the state's save spills pages into the WAL
        (corpus / f"extra{n}.md").write_text(
            f"---\ntitle: Story number {n}\nwebUrl: https://example.com/{n}\n---\n"
            + "Words. " * 200,
            encoding="utf-8",
        )
    reader = sqlite3.connect(db)  # a reader that stays open, as the answering side's does
    try:
        reader.execute("PRAGMA journal_mode=WAL")
        snapshot, _ = load([str(corpus)], db)
        assert len(snapshot.articles) > 300
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        reader.close()


def test_closing_a_loader_twice_is_harmless(corpus: Path, tmp_path: Path) -> None:
    """The bot's shutdown may close the loader after another path already did."""
    loader = CorpusLoader([str(corpus)], tmp_path / "db.sqlite")
    loader.load()
    loader.close()
    loader.close()


def test_closing_does_not_wait_for_another_process_reading(corpus: Path, tmp_path: Path) -> None:
    """A reader inside a transaction leaves the journal for later; the close does not block."""
    db = tmp_path / "db.sqlite"
    load([str(corpus)], db)
    bump(
        corpus / "shared.md",
        "---\ntitle: Shared story, updated\nwebUrl: https://example.com/shared\n---\n",
    )
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # holds a read snapshot
        loader = CorpusLoader([str(corpus)], db)
        loader.load()
        started = time.perf_counter()
        loader.close()
        assert time.perf_counter() - started < 2.0  # the busy timeout is 5 s
        reader.execute("COMMIT")
    finally:
        reader.close()
    _, stats = load([str(corpus)], db)
    assert stats.parsed == 0  # nothing the closing loader saved was lost


def test_a_long_writer_s_journal_is_cut_back_after_a_checkpoint(tmp_path: Path) -> None:
    """The bot writes for days: its WAL shrinks back once a checkpoint has copied it over.

    SQLite cuts the file when the next write starts the log over from its beginning.
    """
    conn = store.connect(tmp_path / "db.sqlite")
    try:
        conn.execute("CREATE TABLE blobs (data BLOB)")
        conn.execute("BEGIN")
        for _ in range(40):
            conn.execute("INSERT INTO blobs VALUES (?)", (os.urandom(256 * 1024),))
        conn.execute("COMMIT")
        wal = tmp_path / "db.sqlite-wal"
        assert wal.stat().st_size > store.WAL_KEPT_BYTES  # one transaction of 10 MB
        conn.execute("PRAGMA wal_checkpoint")
        conn.execute("INSERT INTO blobs VALUES (x'00')")  # the next write starts the WAL over
        assert wal.stat().st_size <= store.WAL_KEPT_BYTES
    finally:
        conn.close()


def test_what_the_engine_keeps_beside_a_database_inside_the_corpus_is_not_coverage(
    corpus: Path,
) -> None:
    db = corpus / "coverage.db"
    first, _ = load([str(corpus)], db)
    for suffix in (".stories.json", ".stories.pending.json"):  # JSON, as coverage may be
        Path(f"{db}{suffix}").write_text(
            json.dumps({"title": "Kept groups", "webUrl": "https://example.com/kept"}), "utf-8"
        )
    snapshot, _ = load([str(corpus)], db)
    assert len(snapshot.articles) == len(first.articles)
    assert not [p for p in snapshot.problems if ".stories." in p.path]
