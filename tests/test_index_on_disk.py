"""The search index kept on disk (issue 14): opened on a restart, never served stale or damaged.

Each engine here is built the way the bot builds its own: a ``CorpusLoader`` over a copy of the
seeds plus a folder the test changes, the index beside the loader's database. "Answers match a
fresh build" compares every command's JSON with an engine that indexed in memory from scratch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.answers import run_command, to_json
from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine
from bot.engine.index import MARK, SearchIndex, index_path
from tests.corpus_fixtures import write_article
from tests.test_app_e2e import ROOT
from tests.test_articles import article

QUERIES = [
    ("search", "clearview ice contract"),
    ("ask", "how much is ICE paying Clearview?"),
    ("summary", "quokka census"),
    ("coverage", "ICE Clearview contract"),
]


def start(corpus: Path, database: Path, **options: object) -> tuple[Engine, CorpusLoader]:
    """A start as the bot's: load (catching up the cache), then the engine on its index."""
    loader = CorpusLoader([corpus], database)
    snapshot, changes, _ = loader.load()
    engine = Engine(
        snapshot,
        index_path=index_path(database),
        catch_up=(loader.started_from, changes),
        **options,  # type: ignore[arg-type]
    )
    return engine, loader


def answers(engine: Engine) -> list[dict[str, object]]:
    return [to_json(c, q, run_command(engine, c, q)) for c, q in QUERIES]


def fresh(corpus: Path, tmp_path: Path) -> list[dict[str, object]]:
    loader = CorpusLoader([corpus], tmp_path / "fresh.db")
    try:
        return answers(Engine(loader.load()[0]))
    finally:
        loader.close()


def stop(engine: Engine, loader: CorpusLoader) -> None:
    engine.release_index()
    loader.close()


def test_a_restart_opens_the_index_instead_of_rebuilding_it(corpus: Path, tmp_path: Path) -> None:
    database = tmp_path / "data" / "coverage.db"
    engine, loader = start(corpus, database)
    assert engine.index_state == "built"
    first = answers(engine)
    stop(engine, loader)
    engine, loader = start(corpus, database)
    assert engine.index_state == "opened"
    assert answers(engine) == first == fresh(corpus, tmp_path)
    stop(engine, loader)


def test_files_changed_while_down_are_caught_up_not_rebuilt(corpus: Path, tmp_path: Path) -> None:
    database = tmp_path / "data" / "coverage.db"
    stop(*start(corpus, database))
    write_article(corpus / "live", "wombat", "Wombat census counts a record", "Wombats counted.")
    (corpus / "live" / "quokka.json").unlink()
    engine, loader = start(corpus, database)
    assert engine.index_state == "caught up"
    assert answers(engine) == fresh(corpus, tmp_path)
    found = run_command(engine, "search", "quokka census").hits  # type: ignore[union-attr]
    assert "Quokka" not in json.dumps([h.article.title for h in found])
    stop(engine, loader)


@pytest.mark.parametrize("damage", ["truncated", "missing", "corrupted", "record", "foreign"])
def test_a_damaged_or_foreign_index_is_rebuilt(corpus: Path, tmp_path: Path, damage: str) -> None:
    database = tmp_path / "data" / "coverage.db"
    stop(*start(corpus, database))
    folder = index_path(database)
    assert folder is not None
    segment = max((p for p in folder.iterdir() if p.suffix == ".idx"), key=os.path.getsize)
    if damage == "truncated":
        os.truncate(segment, segment.stat().st_size // 2)
    elif damage == "missing":
        segment.unlink()
    elif damage == "corrupted":  # its middle overwritten, its footer whole
        terms = max((p for p in folder.iterdir() if p.suffix == ".term"), key=os.path.getsize)
        size = terms.stat().st_size
        with terms.open("r+b") as handle:
            handle.seek(size // 4)
            handle.write(b"\xff" * (size // 4))
    elif damage == "record":
        (folder / MARK).write_text("{not json", encoding="utf-8")
    else:  # an index of other files entirely (another corpus, or the corpus long ago)
        mark = json.loads((folder / MARK).read_text(encoding="utf-8"))
        (folder / MARK).write_text(json.dumps({**mark, "generation": "0" * 24}), encoding="utf-8")
    engine, loader = start(corpus, database)
    assert engine.index_state == "built"
    assert answers(engine) == fresh(corpus, tmp_path)
    stop(engine, loader)


def test_a_reader_uses_the_writers_index_only_when_it_is_of_its_corpus(
    corpus: Path, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "coverage.db"
    writer, writer_loader = start(corpus, database)
    reader, reader_loader = start(corpus, database, index_writable=False)
    assert reader.index_state == "opened"
    assert answers(reader) == answers(writer)
    stop(reader, reader_loader)
    # A file the writer has not indexed yet: the reader indexes for itself, in memory, and
    # leaves the writer's index as it was.
    write_article(corpus / "live", "wombat", "Wombat census counts a record", "Wombats counted.")
    folder = index_path(database)
    assert folder is not None
    before = (folder / MARK).read_text(encoding="utf-8")
    reader, reader_loader = start(corpus, database, index_writable=False)
    assert reader.index_state == "in memory"
    assert run_command(reader, "search", "wombat census").hits  # type: ignore[union-attr]
    assert (folder / MARK).read_text(encoding="utf-8") == before
    stop(reader, reader_loader)
    stop(writer, writer_loader)


KILLED_MID_UPDATE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from bot.corpus.loader import CorpusLoader
    from bot.engine.engine import Engine
    from bot.engine.index import SearchIndex, index_path

    database = Path({database!r})
    loader = CorpusLoader([{corpus!r}], database)
    snapshot, changes, _ = loader.load()
    engine = Engine(snapshot, index_path=index_path(database),
                    catch_up=(loader.started_from, changes))
    commit = SearchIndex.write

    def write_then_die(self, upserts, removals=(), generation=None):
        self.unmark()  # as the write it replaces does first
        if {after_commit!r}:
            commit(self, upserts, removals)  # committed, not yet recorded
        else:
            for article in upserts:  # half a change in the writer's buffer
                self.writer.add_document(self._document(article))
        os.kill(os.getpid(), signal.SIGKILL)

    SearchIndex.write = write_then_die
    new = Path({new!r})
    new.write_text({text!r}, encoding="utf-8")  # a file arrives while the bot runs
    snapshot, changes, _ = loader.refresh([str(new)])
    print("applying", flush=True)
    engine.apply(snapshot, changes)
    """
)


@pytest.mark.parametrize("after_commit", [False, True])
def test_killed_in_the_middle_of_an_update_the_next_start_answers_as_a_fresh_build(
    corpus: Path, tmp_path: Path, after_commit: bool
) -> None:
    database = tmp_path / "data" / "coverage.db"
    stop(*start(corpus, database))
    staged = write_article(tmp_path, "wombat", "Wombat census counts a record", "Wombats counted.")
    script = KILLED_MID_UPDATE.format(
        root=str(ROOT),
        database=str(database),
        corpus=str(corpus),
        new=str(corpus / "live" / staged.name),
        text=staged.read_text(encoding="utf-8"),
        after_commit=after_commit,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout == "applying\n"
    engine, loader = start(corpus, database)
    assert engine.index_state == "built"  # its record went before the write that died
    assert answers(engine) == fresh(corpus, tmp_path)
    assert run_command(engine, "search", "wombat census").hits  # type: ignore[union-attr]
    stop(engine, loader)


def test_killed_between_commit_and_record_then_files_put_back_is_not_served(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record goes before a write and comes back after its commit: an index holding a
    change it has no record of is rebuilt, even when the files come back to the generation
    the old record named (moves undone with `mv`, which keeps sizes and times)."""
    database = tmp_path / "data" / "coverage.db"
    stop(*start(corpus, database))
    engine, loader = start(corpus, database)
    aside = tmp_path / "aside"
    aside.mkdir()
    os.rename(corpus / "live" / "quokka.json", aside / "quokka.json")
    staged = write_article(aside, "wombat", "Wombat census counts a record", "Wombats counted.")
    os.rename(staged, corpus / "live" / "wombat.json")
    snapshot, changes, _ = loader.refresh([str(corpus / "live")])
    assert changes.added and changes.removed

    def killed(self: SearchIndex, generation: str) -> None:  # right after the commit
        raise SystemExit("killed")

    monkeypatch.setattr(SearchIndex, "mark", killed)
    with pytest.raises(SystemExit):
        engine.apply(snapshot, changes)
    monkeypatch.undo()
    engine.release_index()  # the process is gone: nothing else is saved
    os.rename(corpus / "live" / "wombat.json", aside / "wombat.json")
    os.rename(aside / "quokka.json", corpus / "live" / "quokka.json")
    engine, loader = start(corpus, database)
    assert engine.index_state == "built"
    assert answers(engine) == fresh(corpus, tmp_path)
    stop(engine, loader)


@pytest.mark.parametrize("copies", [15, 120])  # a few past the cut-off; a syndicated story
def test_ties_at_the_cut_off_are_the_same_articles_whatever_order_they_were_indexed_in(
    copies: int,
) -> None:
    # The order articles reach the index follows the order files finished parsing: a run's
    # answers must not depend on it.
    alike = [article(n, title="Quokka census results") for n in range(copies)]  # one score each
    forward, backward = SearchIndex(), SearchIndex()
    forward.add_new(alike)
    backward.add_new(reversed(alike))
    first = forward.search(["quokka"], 10)
    assert first == backward.search(["quokka"], 10)
    every = [i for i, _ in forward.search(["quokka"], copies)]
    assert len(every) == copies and [i for i, _ in first] == sorted(every)[:10]
