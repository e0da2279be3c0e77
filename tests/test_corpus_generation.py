"""The corpus generation: which files a snapshot was read from (``bot.corpus.generation``).

Stores kept on disk (the search index, the stories) are used only for the generation they
record, so it must be the same for the same files however they were loaded, and differ for
any other files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.corpus import generation as generation_module
from bot.corpus.loader import CorpusLoader
from tests.corpus_fixtures import write_article


def generation(corpus: Path, database: Path) -> tuple[str, str | None]:
    loader = CorpusLoader([corpus], database)
    try:
        snapshot, _, _ = loader.load()
        return snapshot.generation, loader.started_from
    finally:
        loader.close()


def test_the_same_files_are_one_generation_however_they_were_loaded(
    corpus: Path, tmp_path: Path
) -> None:
    first, started = generation(corpus, tmp_path / "a.db")
    assert started is None and len(first) == 24
    assert generation(corpus, tmp_path / "a.db") == (first, first)  # restart: from the saved
    assert generation(corpus, tmp_path / "b.db")[0] == first  # another cache, from scratch


def test_any_change_is_another_generation_and_undoing_it_comes_back(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "c.db"
    loader = CorpusLoader([corpus], database)
    try:
        base = loader.load()[0].generation
        new = write_article(corpus / "live", "wombat", "Wombat census", "Wombats counted.")
        added = loader.refresh([str(new)])[0].generation
        os.utime(new, ns=(1, 1))  # only its time changed
        touched = loader.refresh([str(new)])[0].generation
        new.unlink()
        removed = loader.refresh([str(new)])[0].generation
    finally:
        loader.close()
    assert len({base, added, touched}) == 3
    assert removed == base
    # The state saved on close records the total: a restart starts from it, not a re-hash.
    hashed: list[str] = []
    term = generation_module.file_term
    monkeypatch.setattr(
        generation_module, "file_term", lambda path, stamp: hashed.append(path) or term(path, stamp)
    )
    assert generation(corpus, database) == (base, base)
    assert hashed == []
    assert generation(corpus, tmp_path / "d.db")[0] == base
    assert hashed  # a database without a saved total hashes: the spy above is wired
