"""While ``Corpus.watch`` runs, adding, changing and deleting files updates the corpus and
publishes exactly what was added, changed and removed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.corpus.live import Corpus, CorpusChange
from bot.corpus.loader import CorpusLoader
from bot.corpus.model import article_id
from bot.corpus.urls import canonical_url

TIMEOUT = 15  # seconds; only reached when an event never comes


def record(title: str, url: str, related: tuple[tuple[str, str], ...] = ()) -> str:
    lines = ["---", f"title: {title}", f"webUrl: {url}"]
    if related:
        lines.append("related:")
        for rel_title, rel_url in related:
            lines += [f"  - title: {rel_title}", f"    webUrl: {rel_url}"]
    return "\n".join([*lines, "---", ""])


def uid(url: str) -> str:
    return article_id(canonical_url(url))


def place(tmp_path: Path, target: Path, text: str) -> None:
    """Write beside the corpus, then rename into it: the watcher sees one complete file."""
    staging = tmp_path / "staging.tmp"
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, target)


@pytest.fixture
async def corpus(tmp_path: Path) -> AsyncIterator[Corpus]:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.md").write_text(
        record("Story A", "https://example.com/a", (("Story R", "https://example.com/r"),)),
        encoding="utf-8",
    )
    loader = CorpusLoader([str(root)], tmp_path / "db.sqlite")
    live = Corpus(loader)
    await live.open()
    yield live
    loader.close()


async def next_change(queue: asyncio.Queue[CorpusChange]) -> CorpusChange:
    return await asyncio.wait_for(queue.get(), TIMEOUT)


async def test_add_change_delete_while_watching(corpus: Corpus, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    a, r, b = (uid(f"https://example.com/{x}") for x in "arb")
    assert set(corpus.snapshot.articles) == {a, r}
    stop = asyncio.Event()
    with corpus.subscribe() as queue:
        watcher = asyncio.create_task(corpus.watch(debounce_ms=20, stop=stop))
        await asyncio.wait_for(corpus.watching.wait(), TIMEOUT)

        place(tmp_path, root / "b.md", record("Story B", "https://example.com/b"))
        change = await next_change(queue)
        assert (change.changes.added, change.changes.changed, change.changes.removed) == (
            {b},
            set(),
            set(),
        )
        assert corpus.snapshot is change.snapshot
        assert corpus.snapshot.articles[b].title == "Story B"
        assert change.stats.parsed == 1

        place(tmp_path, root / "a.md", record("Story A, updated", "https://example.com/a"))
        change = await next_change(queue)
        assert (change.changes.added, change.changes.changed, change.changes.removed) == (
            set(),
            {a},
            {r},
        )
        assert corpus.snapshot.articles[a].title == "Story A, updated"
        assert r not in corpus.snapshot.articles

        (root / "b.md").unlink()
        change = await next_change(queue)
        assert (change.changes.added, change.changes.changed, change.changes.removed) == (
            set(),
            set(),
            {b},
        )
        assert set(corpus.snapshot.articles) == {a}

        stop.set()
        await asyncio.wait_for(watcher, TIMEOUT)
    assert not corpus.watching.is_set()


async def test_new_folder_and_deleted_folder(corpus: Corpus, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    staged = tmp_path / "incoming"
    staged.mkdir()
    (staged / "c.md").write_text(record("Story C", "https://example.com/c"), encoding="utf-8")
    (staged / "d.md").write_text(record("Story D", "https://example.com/d"), encoding="utf-8")
    c, d = uid("https://example.com/c"), uid("https://example.com/d")
    with corpus.subscribe() as queue:
        watcher = asyncio.create_task(corpus.watch(debounce_ms=20))
        try:
            await asyncio.wait_for(corpus.watching.wait(), TIMEOUT)
            os.replace(staged, root / "incoming")
            change = await next_change(queue)
            assert change.changes.added == {c, d}

            os.replace(root / "incoming", tmp_path / "gone")
            change = await next_change(queue)
            assert change.changes.removed == {c, d}
            assert {c, d}.isdisjoint(corpus.snapshot.articles)
        finally:
            watcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watcher


async def test_changes_before_the_watcher_starts_are_caught_up(
    corpus: Corpus, tmp_path: Path
) -> None:
    root = tmp_path / "corpus"
    e = uid("https://example.com/e")
    (root / "e.md").write_text(record("Story E", "https://example.com/e"), encoding="utf-8")
    with corpus.subscribe() as queue:
        watcher = asyncio.create_task(corpus.watch(debounce_ms=20))
        try:
            change = await next_change(queue)
            assert change.changes.added == {e}
            await asyncio.wait_for(corpus.watching.wait(), TIMEOUT)
            assert e in corpus.snapshot.articles
        finally:
            watcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watcher


async def test_refresh_of_an_unchanged_file_publishes_nothing(
    corpus: Corpus, tmp_path: Path
) -> None:
    with corpus.subscribe() as queue:
        event = await corpus.refresh([str(tmp_path / "corpus" / "a.md")])
        assert not event.changes
        assert event.stats.parsed == 0
        assert queue.empty()
