"""The saved corpus state: a warm restart, offline edits, refreshes, concurrent first reads and a
damaged state (its parts or its article rows) all give what a fresh (cold) load of the same files
gives, in another database."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.corpus import articles as articles_module
from bot.corpus import cache
from bot.corpus import loader as loader_module
from bot.corpus.articles import ArticleTable, every_title, sorted_ids, title_keys
from bot.corpus.loader import CorpusLoader, LoadStats
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from tests.test_corpus_cache import load

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FILES = 8  # files write_corpus writes
ARTICLES = 11  # articles they merge into
PARTS = 3  # saved rows: header, file map, counts (articles are rows of their own)
_COLD = itertools.count()


def write_corpus(root: Path) -> None:
    """Every kind of thing the state holds: merges, a title conflict, errors, warnings, dates."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.md").write_text(
        "---\n"
        "title: Main story\n"
        "webUrl: https://example.com/main\n"
        "publishedDateTime: 2021-03-04T05:06:07.123456+02:00\n"
        "provider:\n  name: Example News\n  domain: www.example.com\n"
        "topics: [privacy, courts]\n"
        "images:\n  - url: https://img.example.com/a.jpg\n    width: 1200\n    height: 800\n"
        "quality: 7\nheat: 300\ntype: news\ncategory: tech\n"
        "related:\n"
        "  - title: Side story\n"
        "    webUrl: https://example.com/side\n"
        "  - title: Shared story\n"
        "    webUrl: https://www.example.com/amp/shared\n"
        "---\nThe main body.\n\nIts second paragraph.\n",
        encoding="utf-8",
    )
    (root / "shared.md").write_text(
        "---\ntitle: Shared story\nwebUrl: https://example.com/shared\ndate: 2019-12-31\n---\n"
        "Its body.\n",
        encoding="utf-8",
    )
    (root / "dupes.jsonl").write_text(
        json.dumps({"title": "Shared story", "url": "https://example.com/shared?utm_source=x"})
        + "\n"
        + json.dumps(
            {"title": "Lonely story", "url": "https://example.com/lonely", "published": 1.6e9}
        )
        + "\n"
        + json.dumps({"title": "Unrelated words entirely", "url": "https://example.com/main"})
        + "\n",
        encoding="utf-8",
    )
    (root / "odd.json").write_text(
        json.dumps([{"title": "Odd one", "url": "https://example.com/odd", "colour": "red"}]),
        encoding="utf-8",
    )
    (root / "broken.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "scrape.txt").write_text(
        "The Outlet\n\nA scraped paragraph.\n", encoding="utf-8"
    )
    (root / "seeds").mkdir(exist_ok=True)
    for seed in sorted(SEEDS.iterdir()):
        shutil.copyfile(seed, root / "seeds" / seed.name)


def cold(roots: list[str], tmp_path: Path) -> CorpusSnapshot:
    """A fresh load of the files as they are now, in a database of its own."""
    snapshot, stats = load(roots, tmp_path / f"cold-{next(_COLD)}.sqlite")
    assert stats.parsed == stats.files
    return snapshot


def assert_same(snapshot: CorpusSnapshot, expected: CorpusSnapshot) -> None:
    assert snapshot.problems == expected.problems
    assert dict(snapshot.articles) == dict(expected.articles)
    assert dict(snapshot.files) == dict(expected.files)
    assert snapshot.related_merged == expected.related_merged
    assert snapshot.duplicates_merged == expected.duplicates_merged
    assert span(snapshot) == span(expected)


def span(snapshot: CorpusSnapshot) -> tuple[object, object]:
    """First and last publication time, as the census keeps them."""
    census = snapshot.census()
    return census.first, census.last


def assert_warm_restart(roots: list[str], db: Path, expected: CorpusSnapshot) -> None:
    """The next start parses nothing, reads no article, and gives ``expected``."""
    again, stats = load(roots, db)
    assert stats.parsed == 0
    assert deferred(again)
    assert_same(again, expected)


def deferred(snapshot: CorpusSnapshot) -> bool:
    """True while the snapshot's articles are in the database and none has been read."""
    held = snapshot.articles
    return isinstance(held, ArticleTable) and held.rows.reads == 0


def titles(snapshot: CorpusSnapshot) -> set[str]:
    return {a.title for a in snapshot.articles.values()}


def later(path: Path, seconds: int = 5) -> None:
    """Move a file's mtime forward, whatever the clock's resolution (no sleeping)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def execute(db: Path, statement: str, *params: object) -> None:
    """One statement on the saved database, committed: how these tests damage it."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, params)


def state_parts(db: Path) -> list[int]:
    with closing(sqlite3.connect(db)) as conn:
        return [part for (part,) in conn.execute("SELECT part FROM corpus_state ORDER BY part")]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write_corpus(root)
    return root


@pytest.fixture
def saved(corpus: Path, tmp_path: Path) -> Path:
    """A database holding the state of a first (cold) load of ``corpus``."""
    db = tmp_path / "db.sqlite"
    snapshot, stats = load([str(corpus)], db)
    assert stats == LoadStats(files=FILES, parsed=FILES, cached=0, removed=0)
    assert len(snapshot.articles) == ARTICLES
    assert state_parts(db) == list(range(PARTS))
    return db


# -- 1. a warm restart -------------------------------------------------------------------------


def test_warm_restart_parses_nothing_and_equals_a_cold_load(corpus: Path, tmp_path: Path) -> None:
    roots = [str(corpus), str(tmp_path / "missing")]
    db = tmp_path / "db.sqlite"
    load(roots, db)
    loader = CorpusLoader(roots, db)
    try:
        snapshot, changes, stats = loader.load()
    finally:
        loader.close()
    assert stats == LoadStats(files=FILES, parsed=0, cached=FILES, removed=0)
    assert changes == ChangeSet()
    assert deferred(snapshot)
    expected = cold(roots, tmp_path)
    # Problems come from the saved header: reading them decodes no article.
    assert snapshot.problems == expected.problems
    assert deferred(snapshot)
    assert [str(p).split(": ", 1)[1][:16] for p in expected.problems] == [
        "malformed YAML: ",
        "record 1: unknow",
        "no such file or ",
        "one URL under 2 ",
    ]
    assert_same(snapshot, expected)
    assert (snapshot.related_merged, snapshot.duplicates_merged) == (1, 2)
    assert len(snapshot.articles) == ARTICLES
    assert "Main story" in titles(snapshot)


def test_a_warm_restart_of_a_warm_restart_still_parses_nothing(
    saved: Path, corpus: Path, tmp_path: Path
) -> None:
    load([str(corpus)], saved)
    snapshot, stats = load([str(corpus)], saved)
    assert stats.parsed == 0
    assert_same(snapshot, cold([str(corpus)], tmp_path))


# -- 2. edits while the bot was down ----------------------------------------------------------


def touch(root: Path) -> None:
    later(root / "odd.json")


def same_size(root: Path) -> None:
    path = root / "main.md"
    text = path.read_text(encoding="utf-8")
    new = text.replace("title: Main story", "title: Main storm")
    assert len(new.encode()) == len(text.encode())
    path.write_text(new, encoding="utf-8")
    later(path)


def resized(root: Path) -> None:
    path = root / "shared.md"
    st = path.stat()
    path.write_text(
        "---\ntitle: Shared story, updated\nwebUrl: https://example.com/shared\n---\n"
        "A longer body than before.\n",
        encoding="utf-8",
    )
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the size tells


def delete(root: Path) -> None:
    (root / "dupes.jsonl").unlink()


def add(root: Path) -> None:
    (root / "sub" / "new.md").write_text(
        "---\ntitle: Added story\nwebUrl: https://example.com/added\n---\n", encoding="utf-8"
    )


def rename(root: Path) -> None:
    os.replace(root / "sub" / "scrape.txt", root / "sub" / "renamed.txt")


def everything(root: Path) -> None:
    for edit in (touch, same_size, resized, delete, add, rename):
        edit(root)


@dataclass(frozen=True)
class Edit:
    apply: Callable[[Path], None]
    parsed: int
    removed: int
    files: int = FILES
    titles_in: frozenset[str] = frozenset()
    titles_out: frozenset[str] = frozenset()
    files_in: tuple[str, ...] = ()
    files_out: tuple[str, ...] = ()
    unchanged: bool = False


EDITS = {
    "touched": Edit(touch, parsed=1, removed=0, unchanged=True),
    "same-size": Edit(
        same_size,
        parsed=1,
        removed=0,
        titles_in=frozenset({"Main storm"}),
        titles_out=frozenset({"Main story"}),
    ),
    "resized": Edit(resized, parsed=1, removed=0, titles_in=frozenset({"Shared story, updated"})),
    "deleted": Edit(
        delete,
        parsed=0,
        removed=1,
        files=FILES - 1,
        titles_out=frozenset({"Lonely story"}),
        files_out=("dupes.jsonl",),
    ),
    "added": Edit(
        add,
        parsed=1,
        removed=0,
        files=FILES + 1,
        titles_in=frozenset({"Added story"}),
        files_in=("sub/new.md",),
    ),
    "renamed": Edit(
        rename,
        parsed=1,
        removed=1,
        titles_in=frozenset({"A scraped paragraph."}),
        files_in=("sub/renamed.txt",),
        files_out=("sub/scrape.txt",),
    ),
    "all at once": Edit(
        everything,
        parsed=5,
        removed=2,
        titles_in=frozenset({"Main storm", "Shared story, updated", "Added story"}),
        titles_out=frozenset({"Main story", "Lonely story"}),
        files_in=("sub/new.md", "sub/renamed.txt"),
        files_out=("dupes.jsonl", "sub/scrape.txt"),
    ),
}


@pytest.mark.parametrize("name", EDITS)
def test_offline_edits_are_picked_up_on_the_next_load(
    name: str, saved: Path, corpus: Path, tmp_path: Path
) -> None:
    roots = [str(corpus)]
    edit = EDITS[name]
    before = cold(roots, tmp_path)
    edit.apply(corpus)
    snapshot, stats = load(roots, saved)
    assert stats == LoadStats(
        files=edit.files,
        parsed=edit.parsed,
        cached=edit.files - edit.parsed,
        removed=edit.removed,
    )
    expected = cold(roots, tmp_path)
    assert_same(snapshot, expected)
    assert edit.titles_in <= titles(snapshot)
    assert edit.titles_out.isdisjoint(titles(snapshot))
    for rel in edit.files_in:
        assert f"{corpus}/{rel}" in snapshot.files
    for rel in edit.files_out:
        assert f"{corpus}/{rel}" not in snapshot.files
    if edit.unchanged:
        assert_same(snapshot, before)
    else:
        assert dict(snapshot.articles) != dict(before.articles)
    # ``close`` saved the state the edits led to: the next restart is warm again.
    again, stats = load(roots, saved)
    assert stats == LoadStats(files=edit.files, parsed=0, cached=edit.files, removed=0)
    assert deferred(again)
    assert_same(again, expected)


def test_a_renamed_file_keeps_its_article_under_the_new_path(
    saved: Path, corpus: Path, tmp_path: Path
) -> None:
    rename(corpus)
    snapshot, _ = load([str(corpus)], saved)
    [scraped] = [a for a in snapshot.articles.values() if a.title == "A scraped paragraph."]
    assert [p.path for p in scraped.provenance] == [f"{corpus}/sub/renamed.txt"]


# -- 3. a refresh after a lazy warm start -----------------------------------------------------


@pytest.mark.parametrize("read_first", [False, True], ids=["unread", "read"])
def test_refresh_after_a_lazy_warm_start_leaves_the_old_snapshot_alone(
    read_first: bool, saved: Path, corpus: Path, tmp_path: Path
) -> None:
    roots = [str(corpus)]
    before = cold(roots, tmp_path)
    loader = CorpusLoader(roots, saved)
    try:
        old, _, stats = loader.load()
        assert stats.parsed == 0
        assert deferred(old)
        if read_first:
            assert len(list(old.articles.values())) == ARTICLES  # every article read
        (corpus / "broken.md").write_text(
            "---\ntitle: Fixed story\nwebUrl: https://example.com/fixed\n---\n", encoding="utf-8"
        )
        later(corpus / "broken.md")
        resized(corpus)
        delete(corpus)
        new, changes, stats = loader.refresh(
            [str(corpus / n) for n in ("broken.md", "shared.md", "dupes.jsonl")]
        )
        # Readers holding the old snapshot still see the corpus as it was (until the loader
        # saves the new one at close: then its saved articles are the new ones).
        assert_same(old, before)
        assert "Lonely story" in titles(old)
        assert "Fixed story" not in titles(old)
        assert [p.severity for p in old.problems] == ["error", "warning", "warning"]
    finally:
        loader.close()
    # A refresh counts only the files it was given: two still there, both parsed.
    assert stats == LoadStats(files=FILES - 1, parsed=2, cached=0, removed=1)
    after = cold(roots, tmp_path)
    assert_same(new, after)
    assert {"Fixed story", "Shared story, updated"} <= titles(new)
    assert [p.severity for p in new.problems] == ["warning"]  # odd.json's unknown key
    old_ids, new_ids = set(before.articles), set(after.articles)
    assert changes.added == new_ids - old_ids
    assert changes.removed == old_ids - new_ids
    assert changes.changed == {
        i for i in old_ids & new_ids if before.articles[i] != after.articles[i]
    }
    assert changes.added and changes.removed and changes.changed
    restarted, stats = load(roots, saved)
    assert stats.parsed == 0
    assert_same(restarted, after)


def test_a_change_after_a_rename_merges_with_the_renamed_files_records(
    saved: Path, corpus: Path, tmp_path: Path
) -> None:
    roots = [str(corpus)]
    loader = CorpusLoader(roots, saved)
    try:
        loader.load()
        os.replace(corpus / "shared.md", corpus / "sub" / "moved.md")
        loader.refresh([str(corpus / "shared.md"), str(corpus / "sub" / "moved.md")])
        # main.md lists the shared story too: re-merging it needs the moved file's record.
        same_size(corpus)
        snapshot, _, stats = loader.refresh([str(corpus / "main.md")])
    finally:
        loader.close()
    assert stats.parsed == 1
    assert_same(snapshot, cold(roots, tmp_path))


# -- 4. concurrent first reads ----------------------------------------------------------------


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as possible, so first reads really do overlap."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_first_reads_of_every_field_agree(
    saved: Path, corpus: Path, tmp_path: Path
) -> None:
    expected = cold([str(corpus)], tmp_path)
    snapshot, _ = load([str(corpus)], saved)
    assert deferred(snapshot)
    readers: list[Callable[[], object]] = [
        lambda: dict(snapshot.articles),
        lambda: dict(snapshot.files),
        lambda: snapshot.problems,
        lambda: span(snapshot),
    ] * 3
    start = threading.Barrier(len(readers), timeout=10)

    def read(reader: Callable[[], object]) -> object:
        start.wait()
        return reader()

    with ThreadPoolExecutor(len(readers)) as pool:
        seen = list(pool.map(read, readers))
    wanted = [
        dict(expected.articles),
        dict(expected.files),
        expected.problems,
        span(expected),
    ] * 3
    assert seen == wanted


# -- 5. a damaged saved state -----------------------------------------------------------------


def _part(db: Path, which: str) -> int:
    return {"header": 0, "file map": 1, "merge counts": 2}[which]


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


DAMAGE: dict[str, tuple[str, tuple[object, ...] | Callable[[bytes], bytes]]] = {
    "flipped byte": ("UPDATE corpus_state SET data = ? WHERE part = ?", _flip),
    "truncated": ("UPDATE corpus_state SET data = ? WHERE part = ?", lambda d: d[: len(d) // 2]),
    "emptied": ("UPDATE corpus_state SET data = ? WHERE part = ?", lambda _: b""),
    "deleted": ("DELETE FROM corpus_state WHERE part = ?", ()),
    "older layout": ("UPDATE corpus_state SET parser = parser - 1 WHERE part = ?", ()),
}


def damage(db: Path, part: int, how: str) -> None:
    sql, change = DAMAGE[how]
    with closing(sqlite3.connect(db)) as conn, conn:
        if callable(change):
            [(data,)] = conn.execute("SELECT data FROM corpus_state WHERE part = ?", (part,))
            conn.execute(sql, (change(bytes(data)), part))
        else:
            conn.execute(sql, (part,))
        assert conn.total_changes == 1


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("which", ["header", "file map", "merge counts"])
def test_a_damaged_state_part_is_rebuilt_without_parsing(
    which: str,
    how: str,
    saved: Path,
    corpus: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    roots = [str(corpus)]
    damage(saved, _part(saved, which), how)
    with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
        snapshot, stats = load(roots, saved)
    assert stats == LoadStats(files=FILES, parsed=0, cached=FILES, removed=0)
    assert "is unreadable; rebuilding it" in caplog.text
    expected = cold(roots, tmp_path)
    assert_same(snapshot, expected)
    # The rebuilt state was saved whole: the next restart is warm and lazy again.
    assert state_parts(saved) == list(range(PARTS))
    assert_warm_restart(roots, saved, expected)


def test_an_extra_state_part_is_rebuilt_without_parsing(
    saved: Path, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        saved,
        "INSERT INTO corpus_state (roots, part, parser, data)"
        " SELECT roots, part + 1, parser, data FROM corpus_state"
        " WHERE part = (SELECT max(part) FROM corpus_state)",
    )
    assert state_parts(saved) == list(range(PARTS + 1))
    with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
        snapshot, stats = load([str(corpus)], saved)
    assert stats.parsed == 0
    assert_same(snapshot, cold([str(corpus)], tmp_path))
    # Rebuilt, not read past: the warning says so and the stray part is gone.
    assert "is unreadable; rebuilding it" in caplog.text
    assert state_parts(saved) == list(range(PARTS))


def test_a_state_part_of_the_wrong_type_is_rebuilt_without_parsing(
    saved: Path, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A value SQLite cannot open as a blob (the column has no type of its own to enforce).
    with closing(sqlite3.connect(saved)) as conn, conn:
        conn.execute("UPDATE corpus_state SET data = 0 WHERE part = 1")
    with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
        snapshot, stats = load([str(corpus)], saved)
    assert stats.parsed == 0
    assert_same(snapshot, cold([str(corpus)], tmp_path))
    assert "is unreadable; rebuilding it" in caplog.text
    with closing(sqlite3.connect(saved)) as conn:
        kinds = conn.execute("SELECT DISTINCT typeof(data) FROM corpus_state").fetchall()
    assert kinds == [("blob",)]  # the rebuilt state was saved whole
    assert state_parts(saved) == list(range(PARTS))


def test_a_new_state_layout_rebuilds_without_parsing(
    saved: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "STATE_LAYOUT", cache.STATE_LAYOUT + 1)
    snapshot, stats = load([str(corpus)], saved)
    assert stats == LoadStats(files=FILES, parsed=0, cached=FILES, removed=0)
    assert_same(snapshot, cold([str(corpus)], tmp_path))


def test_a_damaged_state_and_an_offline_edit_together(
    saved: Path, corpus: Path, tmp_path: Path
) -> None:
    damage(saved, _part(saved, "header"), "flipped byte")
    same_size(corpus)
    delete(corpus)
    snapshot, stats = load([str(corpus)], saved)
    assert stats == LoadStats(files=FILES - 1, parsed=1, cached=FILES - 2, removed=0)
    assert "Main storm" in titles(snapshot)
    assert_same(snapshot, cold([str(corpus)], tmp_path))


# -- 6. damaged article rows -----------------------------------------------------------------


def test_a_missing_article_row_is_found_at_open_and_merged_again_without_parsing(
    saved: Path, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        saved, "DELETE FROM corpus_articles WHERE rowid = (SELECT max(rowid) FROM corpus_articles)"
    )
    with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
        snapshot, stats = load([str(corpus)], saved)
    assert stats.parsed == 0
    assert "is unreadable; rebuilding it" in caplog.text
    expected = cold([str(corpus)], tmp_path)
    assert_same(snapshot, expected)
    assert_warm_restart([str(corpus)], saved, expected)


def damage_row(db: Path, snapshot: CorpusSnapshot, title: str) -> str:
    """Flip a byte in the saved row of the article titled ``title``; its id."""
    [victim] = [a.id for a in snapshot.articles.values() if a.title == title]
    with closing(sqlite3.connect(db)) as conn, conn:
        [(data,)] = conn.execute("SELECT data FROM corpus_articles WHERE id = ?", (victim,))
        conn.execute("UPDATE corpus_articles SET data = ? WHERE id = ?", (_flip(data), victim))
    return victim


def test_a_damaged_article_row_costs_that_article_until_the_next_start(
    saved: Path, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roots = [str(corpus)]
    expected = cold(roots, tmp_path)
    victim = damage_row(saved, expected, "Lonely story")
    loader = CorpusLoader(roots, saved)
    try:
        snapshot, _, stats = loader.load()
        assert stats.parsed == 0
        with caplog.at_level(logging.ERROR, logger="bot.corpus.articles"):
            assert snapshot.articles.get(victim) is None
        assert f"saved article {victim}" in caplog.text and "is damaged" in caplog.text
        assert victim not in snapshot.articles  # ``in`` agrees with ``[]``
        assert victim not in list(snapshot.articles)  # and iteration, once it was read
        others = {k: v for k, v in expected.articles.items() if k != victim}
        assert dict(snapshot.articles.items()) == others
        assert [a.id for a in snapshot.articles.values()] == list(others)
    finally:
        with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
            loader.close()
    assert "will be merged again" in caplog.text
    # The damaged state went at close: this start merges from the parse cache, whole again.
    again, stats = load(roots, saved)
    assert stats.parsed == 0
    assert_same(again, expected)


def test_damaged_rows_and_a_save_at_start_keep_the_running_corpus(
    saved: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = [str(corpus)]
    damage_row(saved, cold(roots, tmp_path), "Odd one")
    # Reading the damaged article happens while merging the change to its file; saving at
    # start-up (as after more than a thousand changed files) must not empty the corpus.
    monkeypatch.setattr(loader_module, "_SAVE_AFTER_FILES", 0)
    (corpus / "odd.json").write_text(
        json.dumps([{"title": "Odd one, again", "url": "https://example.com/odd"}]),
        encoding="utf-8",
    )
    later(corpus / "odd.json")
    expected = cold(roots, tmp_path)
    loader = CorpusLoader(roots, saved)
    try:
        snapshot, _, stats = loader.load()
        assert stats.parsed == 1
        assert len(snapshot.articles) == len(expected.articles)
        assert dict(snapshot.articles.items()) == dict(expected.articles)
    finally:
        loader.close()
    assert_warm_restart(roots, saved, expected)


# -- 7. the same folder as a relative and an absolute path ------------------------------------

ABSOLUTE = "<absolute>"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("corpus", ABSOLUTE),
        (ABSOLUTE, "corpus"),
        ("./corpus", "corpus"),
        ("corpus", "corpus/"),
    ],
)
def test_relative_and_absolute_roots_share_the_state(
    first: str,
    second: str,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = (str(corpus) if r == ABSOLUTE else r for r in (first, second))
    db = tmp_path / "db.sqlite"
    load([first], db)
    snapshot, stats = load([second], db)
    assert stats == LoadStats(files=FILES, parsed=0, cached=FILES, removed=0)
    prefix = second.rstrip("/") + "/"
    wanted = {prefix + p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}
    assert len(wanted) == FILES
    assert set(snapshot.files) == wanted
    for article in snapshot.articles.values():
        assert all(p.path.startswith(prefix) for p in article.provenance), article.provenance
    assert all(p.path.startswith(prefix) for p in snapshot.problems)
    expected = cold([second], tmp_path)
    assert_same(snapshot, expected)
    assert_warm_restart([second], db, expected)


@pytest.fixture
def saving_while_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refresh saves (as once 5 % of the files changed), and the articles a change
    reads are no longer decoded at hand (as in a big corpus, where a change outgrows them)."""
    monkeypatch.setattr(loader_module, "_SAVE_AFTER_FILES", 0)
    monkeypatch.setattr(articles_module, "DECODED", 1)


def rename_odd_drop_dupes(loader: CorpusLoader, corpus: Path) -> tuple[CorpusSnapshot, ChangeSet]:
    """Rename one file's article and remove another file (two articles), then refresh."""
    (corpus / "odd.json").write_text(
        json.dumps([{"title": "Odd one, renamed", "url": "https://example.com/odd"}]),
        encoding="utf-8",
    )
    later(corpus / "odd.json")
    (corpus / "dupes.jsonl").unlink()
    snapshot, changes, _ = loader.refresh([str(corpus / "odd.json"), str(corpus / "dupes.jsonl")])
    return snapshot, changes


def test_a_snapshot_handed_out_keeps_its_articles_through_later_refreshes(
    saved: Path, corpus: Path, saving_while_running: None
) -> None:
    # The engine applies a change by reading the changed articles' old versions from the
    # snapshot it holds (its words leave the vocabulary, its outlet the counts). The state is
    # saved while running once many files changed (here: any), and that older snapshot must
    # not read the rows the save wrote: the new versions, and nothing for a removed article.
    roots = [str(corpus)]
    loader = CorpusLoader(roots, saved)
    try:
        before, _, _ = loader.load()
        # Found by title without reading them: a bot reads few of its articles before a change.
        ids = {title: article_id for article_id, title in title_keys(before.articles)}
        odd, lonely = ids["Odd one"], ids["Lonely story"]
        _, changes = rename_odd_drop_dupes(loader, corpus)
        assert odd in changes.changed and lonely in changes.removed
        assert before.articles[odd].title == "Odd one"
        held = before.articles.get(lonely)
        assert held is not None and held.title == "Lonely story"
        # Walking it, too: the same articles, each in its place, as before the change.
        assert [title for _, title in title_keys(before.articles)] == list(ids)
        assert [a.title for a in before.articles.values()] == list(ids)
        assert lonely in before.articles and odd in set(before.articles)
        assert sorted_ids(before.articles) == sorted(ids.values())
    finally:
        loader.close()


def test_changes_while_running_are_saved_once_they_are_many_not_only_at_close(
    saved: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a save while running, every change since the start stays in memory (and is
    # replayed by each count of the articles) until the bot stops, and a bot killed after a
    # day of changes merges them all again at its next start.
    monkeypatch.setattr(loader_module, "_SAVE_AFTER_FILES", 0)  # any change is "many" here
    roots = [str(corpus)]
    loader = CorpusLoader(roots, saved)
    try:
        loader.load()
        snapshot, changes = rename_odd_drop_dupes(loader, corpus)
        assert changes.changed
        held = snapshot.articles
        assert isinstance(held, ArticleTable) and held.changes == ([], [])
        # The bot is killed here: no close. The next start has nothing to catch up.
        expected = cold(roots, tmp_path)
        restarted = CorpusLoader(roots, saved)
        try:
            again, since, stats = restarted.load()
            assert stats.parsed == 0
            assert not (since.added or since.changed or since.removed)
            assert_same(again, expected)
        finally:
            restarted.close()
    finally:
        loader.close()


READER = """
import json, sys
from bot.corpus.articles import title_keys
from bot.corpus.loader import CorpusLoader
root, db, mode = sys.argv[1:]
# "read_only": a command beside the running bot; "pinned": one that held the writer's lock
# while it loaded, as a command does before a bot starts.
loader = CorpusLoader([root], db, read_only=mode == "read_only", pinned=True)
snapshot, _, _ = loader.load()
def seen():
    titles = [title for _, title in title_keys(snapshot.articles)]
    return {"len": len(snapshot.articles), "titles": titles}
print(json.dumps(seen()), flush=True)
sys.stdin.readline()  # the writer has saved
print(json.dumps(seen()), flush=True)
"""


def _line(pipe: Any, seconds: float = 60.0) -> str:
    """The next line a child prints, or a failure (not a hang) if it prints none in time."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(pipe.readline).result(timeout=seconds)
    finally:  # not waiting for a read that never returns: the caller's kill ends it
        pool.shutdown(wait=False)


@pytest.mark.parametrize("mode", ["read_only", "pinned"])
def test_a_command_beside_the_bot_keeps_its_articles_through_the_bots_saves(
    saved: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # A one-shot command or the console, in a process of its own, reads the rows the bot
    # saves: the bot's save can't hand them the rows it rewrites, so they read the database
    # as it was when they opened it, whether they read beside a running bot or loaded before
    # it started.
    import subprocess

    monkeypatch.setattr(loader_module, "_SAVE_AFTER_FILES", 0)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(corpus), str(saved), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        before = json.loads(_line(reader.stdout))
        writer = CorpusLoader([str(corpus)], saved)
        try:
            writer.load()
            _, changes = rename_odd_drop_dupes(writer, corpus)
            assert changes.changed and changes.removed
            assert state_parts(saved) == list(range(PARTS))  # saved while running
        finally:
            writer.close()
        reader.stdin.write("saved\n")
        reader.stdin.flush()
        after = json.loads(_line(reader.stdout))
        assert after == before
        assert "Odd one" in before["titles"] and "Lonely story" in before["titles"]
    finally:
        reader.kill()
        reader.wait()


def test_a_state_saved_again_while_a_reader_opens_it_is_read_again(
    saved: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The header is read, then the rows are opened: a save by the bot in between would pair
    # the header of one save with the rows of the next. The reader notices and reads again.
    monkeypatch.setattr(loader_module, "_SAVE_AFTER_FILES", 0)
    read_state = cache.ParseCache._read_state
    reads = []

    def then_the_bot_saves(self: cache.ParseCache, roots: str) -> Any:
        found = read_state(self, roots)
        if self.writable:  # the bot's own loads
            return found
        reads.append(roots)
        if len(reads) == 1:  # the bot saves the removal the reader has already seen
            writer = CorpusLoader([str(corpus)], saved)
            try:
                writer.load()
                writer.refresh([str(corpus / "dupes.jsonl")])
            finally:
                writer.close()
        return found

    monkeypatch.setattr(cache.ParseCache, "_read_state", then_the_bot_saves)
    (corpus / "dupes.jsonl").unlink()
    reader = CorpusLoader([str(corpus)], saved, read_only=True)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.corpus.cache"):
            snapshot, _, stats = reader.load()
        assert len(reads) == 2 and "unreadable" not in caplog.text
        assert stats.parsed == 0
        assert "Lonely story" not in [title for _, title in title_keys(snapshot.articles)]
    finally:
        reader.close()


def test_a_walk_across_two_saves_reads_the_articles_it_started_with(
    saved: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, saving_while_running: None
) -> None:
    # A walk half done when the bot saves (a story grouping, a digest run), then another save:
    # the table walked is the one it started with, an article added since is not in it, and
    # one removed still is, each in its place.
    monkeypatch.setattr(articles_module, "_BATCH", 2)
    monkeypatch.setattr(articles_module, "_ID_BATCH", 2)
    loader = CorpusLoader([str(corpus)], saved)
    try:
        before, _, _ = loader.load()
        expected = [title for _, title in title_keys(before.articles)]
        walk = title_keys(before.articles)
        walked = [title for _, title in itertools.islice(walk, 3)]
        # Autocomplete's walk, in no set order: the same titles across the same saves.
        pairs = list(title_keys(before.articles))
        stream = every_title(before.articles)
        streamed = list(itertools.islice(stream, 3))
        dupes = (corpus / "dupes.jsonl").read_bytes()
        (corpus / "dupes.jsonl").unlink()
        (corpus / "new.json").write_text(
            json.dumps([{"title": "Brand new", "url": "https://example.com/new"}]),
            encoding="utf-8",
        )
        loader.refresh([str(corpus / "dupes.jsonl"), str(corpus / "new.json")])
        walked += [title for _, title in itertools.islice(walk, 3)]
        streamed += itertools.islice(stream, 3)
        (corpus / "odd.json").write_text(
            json.dumps([{"title": "Odd one, renamed", "url": "https://example.com/odd"}]),
            encoding="utf-8",
        )
        later(corpus / "odd.json")
        (corpus / "dupes.jsonl").write_bytes(dupes)  # back: its articles saved again
        after, _, _ = loader.refresh([str(corpus / "odd.json"), str(corpus / "dupes.jsonl")])
        walked += [title for _, title in walk]
        assert walked == expected
        streamed += stream
        assert set(streamed) == set(pairs)
        assert [title for _, title in title_keys(before.articles)] == expected
        now = [title for _, title in title_keys(after.articles)]
        assert "Brand new" in now and "Lonely story" in now and "Odd one, renamed" in now
    finally:
        loader.close()


def test_a_pinned_reader_reads_its_save_through_saves_of_other_processes_and_its_own(
    saved: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, saving_while_running: None
) -> None:
    # A command that loaded holding the writer's lock reads its rows pinned at its save. A
    # bot's save reaches it through the database alone; a later save of its own process must
    # not then hand it the bot's versions as its own.
    command = CorpusLoader([str(corpus)], saved, pinned=True)
    try:
        before, _, _ = command.load()
        ids = {title: article_id for article_id, title in title_keys(before.articles)}
        bot = CorpusLoader([str(corpus)], saved)
        try:
            bot.load()
            with monkeypatch.context() as other_process:  # its saves hand this one nothing
                other_process.setattr(cache, "keep_versions", lambda *args: None)
                rename_odd_drop_dupes(bot, corpus)
            (corpus / "odd.json").write_text(
                json.dumps([{"title": "Odd one, third", "url": "https://example.com/odd"}]),
                encoding="utf-8",
            )
            later(corpus / "odd.json", 10)
            bot.refresh([str(corpus / "odd.json")])  # a save of this process
        finally:
            bot.close()
        assert before.articles[ids["Odd one"]].title == "Odd one"
        assert [title for _, title in title_keys(before.articles)] == list(ids)
    finally:
        command.close()
