"""Saved articles read when asked for (``bot.corpus.articles``): a table over the database rows
reads as the dict it was saved from, follows changes without touching the rows, and a restarted
engine answers after reading a handful of them, not the corpus."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import store
from bot.answers import run_command, to_json
from bot.corpus.articles import (
    ArticleTable,
    articles_of,
    id_difference,
    sorted_ids,
    title_keys,
)
from bot.corpus.cache import ParseCache
from bot.corpus.census import Census
from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import MergeState
from bot.corpus.model import Article, Outlet, Provenance
from bot.engine.engine import Engine
from tests.corpus_fixtures import write_article

DAY = timedelta(days=1)
START = datetime(2021, 1, 1, tzinfo=UTC)


def article(n: int, *, days: int | None = None, outlet: str = "", title: str = "") -> Article:
    return Article(
        id=f"a{n:03d}",
        title=title or f"Story number {n}",
        url=f"https://example.com/{n}",
        urls=(f"https://example.com/{n}",),
        outlet=Outlet(outlet or f"Outlet {n % 3}", f"outlet{n % 3}.example"),
        published=None if days is None else START + days * DAY,
        excerpt=f"Excerpt {n}.",
        topics=(f"topic {n % 4}",),
        provenance=(Provenance(f"files/{n}.md", "file", 1),),
    )


def saved(articles: Mapping[str, Article], database: Path) -> ArticleTable:
    conn = store.connect(database)
    try:
        table = ParseCache(conn, str(database)).save_state(
            "roots", {}, MergeState(articles, {}, {}, {})
        )
    finally:
        conn.close()
    assert isinstance(table, ArticleTable)
    return table


@pytest.fixture
def plain() -> dict[str, Article]:
    return {a.id: a for a in (article(n, days=n if n % 5 else None) for n in range(40))}


def updated(table: ArticleTable, changes: dict[str, Article | None]) -> ArticleTable:
    """``table`` with ``changes``, told which changed ids it holds, as the merge tells it."""
    return table.updated(changes, {i for i in changes if i in table})


def assert_reads_as(table: ArticleTable, expected: dict[str, Article]) -> None:
    assert len(table) == len(expected)
    assert list(table) == list(expected)
    assert sorted_ids(table) == sorted(expected)  # read in the index's order
    assert list(table.items()) == list(expected.items())
    assert list(table.values()) == list(expected.values())
    assert table == expected
    for key, value in expected.items():
        assert key in table and table[key] == value and table.get(key) == value
    assert "nope" not in table and table.get("nope") is None
    with pytest.raises(KeyError):
        table["nope"]
    assert table.census() == Census.of(expected.values())


def test_saved_articles_read_back_as_the_dict_they_were(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    table = saved(plain, tmp_path / "db.sqlite")
    assert table.rows.reads == 0
    assert_reads_as(table, plain)
    assert articles_of(table, ["a003", "nope", "a001"]) == {
        "a003": plain["a003"],
        "a001": plain["a001"],
    }


def test_a_batch_of_saved_articles_comes_in_the_order_asked_whatever_was_read_before(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    # The corpus sample that answers' closeness is measured against is summed in this order.
    table = saved(plain, tmp_path / "db.sqlite")
    assert table["a005"] == plain["a005"]  # decoded now, the others not yet
    found = articles_of(table, ["a009", "a005", "nope", "a001"])
    assert list(found) == ["a009", "a005", "a001"]
    assert list(found.values()) == [plain["a009"], plain["a005"], plain["a001"]]
    # The same with a change laid over the saved rows (the bot's table after a change).
    later = updated(table, {"a005": plain["a005"]._replace(title="Retitled")})
    assert list(articles_of(later, ["a001", "a005", "a009"])) == ["a001", "a005", "a009"]


def test_changes_lay_over_the_rows_and_leave_earlier_tables_alone(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    database = tmp_path / "db.sqlite"
    table = saved(dict(plain), database)
    changes: dict[str, Article | None] = {
        "a002": plain["a002"]._replace(title="Retitled"),  # changed in place
        "a007": None,  # removed
        "a101": article(101, days=3),  # added
    }
    later = updated(table, changes)
    expected = {k: v for k, v in plain.items() if k != "a007"}
    expected["a002"] = plain["a002"]._replace(title="Retitled")
    expected["a101"] = article(101, days=3)
    assert_reads_as(later, expected)
    assert_reads_as(table, plain)  # the table the change started from is as it was
    # Removed then added back, added then removed: the length follows.
    again = updated(later, {"a007": plain["a007"], "a101": None})
    assert len(again) == len(plain)
    assert set(again) == set(plain)
    # Saved again: only the changes are written, and a new table reads as the last one.
    assert_reads_as(saved(later, database), expected)


def test_the_census_recounts_only_when_an_end_of_the_date_span_goes() -> None:
    articles = [article(n, days=n) for n in range(1, 6)]
    census = Census.of(articles)
    recounts: list[int] = []

    def recount(remaining: list[Article]) -> Census:
        recounts.append(1)
        return Census.of(remaining)

    newest = articles[-1]
    edited = newest._replace(title="Edited, same date")
    after = census.changed([newest], [edited], lambda: recount([*articles[:-1], edited]))
    assert recounts == [] and after == Census.of([*articles[:-1], edited])
    after = census.changed([newest], [], lambda: recount(articles[:-1]))
    assert recounts == [1] and (after.first, after.last) == (START + DAY, START + 4 * DAY)
    moved = articles[2]._replace(outlet=Outlet("Elsewhere"), topics=("new topic",))
    after = census.changed([articles[2]], [moved], lambda: recount([]))
    assert recounts == [1]
    assert after.outlets == Counter(a.outlet.name for a in [*articles[:2], moved, *articles[3:]])
    assert after.topics["new topic"] == 1 and after.topics[articles[2].topics[0]] == 0


def island(tmp_path: Path, items: int) -> Path:
    """A corpus of ``items`` council items and one quokka census."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(items):
        write_article(corpus, f"a{n}", f"Island council item {n}", f"Council minutes {n}.")
    write_article(corpus, "quokka", "Quokka census counts a record", "The quokka census counted.")
    return corpus


def test_a_restarted_engine_answers_after_reading_a_few_articles(tmp_path: Path) -> None:
    corpus = island(tmp_path, 300)
    database = tmp_path / "coverage.db"

    def start() -> tuple[Engine, CorpusLoader]:
        loader = CorpusLoader([corpus], database)
        snapshot, changes, _ = loader.load()
        engine = Engine.beside(
            database, snapshot, stories="on-demand", catch_up=(loader.started_from, changes)
        )
        return engine, loader

    engine, loader = start()
    first = to_json("ask", "how many quokkas?", run_command(engine, "ask", "how many quokkas?"))
    engine.release_index()
    loader.close()
    engine, loader = start()
    try:
        articles = engine.snapshot.articles
        assert isinstance(articles, ArticleTable)
        assert engine.index_state == "opened"
        assert articles.rows.reads == 0  # ready without reading one article
        assert engine.outlet_names == ["Island News"]
        again = run_command(engine, "ask", "how many quokkas?")
        assert to_json("ask", "how many quokkas?", again) == first
        assert first["results"][0]["title"] == "Quokka census counts a record"
        assert 0 < articles.rows.reads <= 50  # the candidates, not 301 articles
    finally:
        engine.release_index()
        loader.close()


def test_a_snapshot_reads_its_articles_after_the_loader_closed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_article(corpus, "quokka", "Quokka census counts a record", "The quokka census counted.")
    database = tmp_path / "coverage.db"
    loader = CorpusLoader([corpus], database)
    snapshot = loader.load()[0]
    loader.close()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM corpus_articles").fetchone() == (1,)
    assert [a.title for a in snapshot.articles.values()] == ["Quokka census counts a record"]


def test_completions_while_the_title_table_is_built_elsewhere(tmp_path: Path) -> None:
    corpus = island(tmp_path, 30)
    loader = CorpusLoader([corpus], tmp_path / "coverage.db")
    try:
        snapshot = loader.load()[0]
        on_demand, background = Engine(snapshot), Engine(snapshot)
        build = background.titles_in_background()
        meanwhile = background.suggest("quokka cen")  # the index's titles, no table yet
        assert background._titles is None  # the completion left the table to the build
        build()
        for prefix in ("quokka cen", "Island council item 1", "isl"):
            assert background.suggest(prefix) == on_demand.suggest(prefix)
        assert [s.name for s in meanwhile] == ["Quokka census counts a record"]
        background.rebuild(snapshot)  # the table goes with a rebuild; the next completion
        assert background.suggest("isl") == on_demand.suggest("isl")  # builds it again
    finally:
        loader.close()


def test_the_table_a_loader_saves_on_closing_reads_the_same_after(tmp_path: Path) -> None:
    corpus = island(tmp_path, 5)
    database = tmp_path / "coverage.db"
    CorpusLoader([corpus], database).load()[0]  # saved at its first load
    write_article(corpus, "wombat", "Wombat census counts a record", "Wombats counted.")
    loader = CorpusLoader([corpus], database)
    snapshot, changes, _ = loader.load()  # one file: kept in memory, saved on closing
    before = dict(snapshot.articles.items())
    loader.close()
    after = list(snapshot.articles)
    assert len(changes.added) == 1 and len(snapshot.articles) == len(before) == 7
    assert after == list(before) and len(set(after)) == len(after)
    assert dict(snapshot.articles.items()) == before
    engine = Engine(snapshot, stories=False)
    assert engine.index.size == 7
    hits = run_command(engine, "search", "wombat census").hits  # type: ignore[union-attr]
    assert [h.article.title for h in hits] == ["Wombat census counts a record"]


def test_the_difference_of_two_tables_is_read_from_their_changes(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    table = saved(dict(plain), tmp_path / "db.sqlite")
    first = updated(table, {"a001": None, "a200": article(200), "a003": article(3, days=9)})
    second = updated(first, {"a001": plain["a001"], "a200": None, "a005": None})
    third = updated(second, {"a300": article(300)})
    for before, after in [(table, first), (first, second), (second, third), (table, third)]:
        expected = set(after) - set(before), set(before) - set(after)
        assert id_difference(before, after) == expected
    assert id_difference(table, third) == ({"a300"}, {"a005"})
    assert id_difference(plain, dict(third.items())) == ({"a300"}, {"a005"})


def test_an_in_memory_database_keeps_its_articles(tmp_path: Path) -> None:
    corpus = island(tmp_path, 3)
    loader = CorpusLoader([corpus], ":memory:")
    try:
        snapshot = loader.load()[0]
    finally:
        loader.close()
    assert len(snapshot.articles) == len(list(snapshot.articles.values())) == 4


def test_a_damaged_row_changed_since_reads_as_its_change_everywhere(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    database = tmp_path / "c.db"
    table = saved(plain, database)
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("UPDATE corpus_articles SET data = x'00' WHERE id = 'a010'")
    assert "a010" not in table  # read, found damaged
    fixed = article(10, title="Story number 10, fixed")
    expected = {**plain, "a010": fixed}
    assert_reads_as(table.updated({"a010": fixed}, present={"a010"}), expected)


def test_every_id_and_title_is_listed_from_an_index_not_the_articles_rows(
    plain: dict[str, Article], tmp_path: Path
) -> None:
    # The bot lists every id (the corpus sample) and every title (autocomplete) at each start:
    # walking the table for them maps every article's row into the process (580 MB at 100,000
    # documents with bodies), reading an index a few MB.
    database = tmp_path / "db.sqlite"
    table = saved(plain, database)
    statements: list[str] = []
    table.rows._conn.set_trace_callback(statements.append)  # the rows' own connection
    assert list(table) == list(plain)
    assert dict(title_keys(table)) == {i: a.title for i, a in plain.items()}
    table.rows._conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    with closing(sqlite3.connect(database)) as conn:
        for sql in selects:
            plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "COVERING INDEX" in plan, (sql, plan)
