"""Story groups kept beside the database (issue 14): a restart answers with stories at once.

Built as the bot builds its engine: a loader over a copy of the seeds (one story told by three
outlets) plus a folder the test changes, the stories kept beside its database (``KeptStories``).
"""

from __future__ import annotations

import json
import marshal
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from bot import answer_service
from bot.answer_service import AnswerService
from bot.answers import run_command, to_json
from bot.corpus.live import CorpusChange
from bot.corpus.loader import CorpusLoader
from bot.engine import saved_stories
from bot.engine.engine import Engine
from bot.engine.results import CoverageAnswer
from bot.engine.saved_stories import KeptStories, framed, load_state, records_of
from bot.engine.stories import StoryIndex
from tests.corpus_fixtures import write_article

STORY = "ICE Clearview contract"


def engine_of(corpus: Path, database: Path, stories: Any) -> tuple[Engine, CorpusLoader]:
    loader = CorpusLoader([corpus], database)
    snapshot, _, _ = loader.load()
    return Engine(snapshot, stories=stories, kept_stories=KeptStories.of(database)), loader


def restarted(corpus: Path, database: Path, stories: Any) -> tuple[Engine, CorpusLoader, Any]:
    """A start as the bot's: the loader's catch-up (files changed while down) handed on."""
    loader = CorpusLoader([corpus], database)
    snapshot, changes, _ = loader.load()
    engine = Engine(
        snapshot,
        stories=stories,
        kept_stories=KeptStories.of(database),
        catch_up=(loader.started_from, changes),
    )
    return engine, loader, changes


def fourth_outlet(corpus: Path) -> Path:
    """An article that joins the seeds' story (the day after The Verge's report)."""
    return write_article(
        corpus / "live",
        "engadget",
        "ICE signs a contract with facial recognition company Clearview AI",
        "Immigration and Customs Enforcement signed a contract with Clearview AI, paying "
        "$224,000 for Clearview licenses.",
        published="2020-08-15T10:00:00Z",
    )


def outlets(engine: Engine) -> list[str]:
    answer = engine.coverage(STORY)
    assert isinstance(answer, CoverageAnswer)
    return list(answer.story.outlets) if answer.story.grouped else []


@pytest.fixture
def grouped(corpus: Path, tmp_path: Path) -> Path:
    """A database whose bot grouped the stories and stopped."""
    database = tmp_path / "data" / "coverage.db"
    engine, loader = engine_of(corpus, database, "later")
    engine.cluster()  # as the bot's background grouping does; it keeps the groups when done
    assert len(outlets(engine)) == 3
    loader.close()
    return database


def test_a_restart_answers_with_the_kept_stories_before_grouping(
    corpus: Path,
    grouped: Path,
    groupings: list[int],
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    # Ready: the kept groups are every article's story, and the whole grouping (what a change
    # needs, most of the memory) stays on disk until a change asks for it.
    assert engine.stories_ready and engine.stories_state.startswith("grouped (kept on disk")
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    assert not any(groupings) and len(engine.stories) == 0
    engine.cluster()  # what a change starts: a load, not a grouping
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    assert not any(groupings) and len(engine.stories) == len(engine.snapshot.articles)
    loader.close()


def test_a_one_shot_command_never_groups_when_stories_are_kept(
    corpus: Path,
    grouped: Path,
    groupings: list[int],
) -> None:
    engine, loader = engine_of(corpus, grouped, "on-demand")
    fresh = Engine(loader.load()[0])
    for command in ("coverage", "source", "related"):
        assert to_json(command, STORY, run_command(engine, command, STORY)) == to_json(
            command, STORY, run_command(fresh, command, STORY)
        )
    assert [n for n in groupings if n] == [len(fresh.snapshot.articles)]  # the fresh one's
    loader.close()


def test_kept_stories_of_other_files_are_not_used(
    corpus: Path,
    grouped: Path,
) -> None:
    write_article(corpus / "live", "wombat", "Wombat census counts a record", "Wombats counted.")
    engine, loader = engine_of(corpus, grouped, "later")
    assert outlets(engine) == []  # "still grouping": a story of one, not the kept groups
    loader.close()


def test_an_article_changed_since_is_not_answered_from_the_kept_stories(
    corpus: Path,
    grouped: Path,
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    verge = next(a for a in engine.snapshot.articles.values() if a.outlet.name == "The Verge")
    seed = next(p for p in (corpus / "seeds").iterdir() if "theverge.com" in p.read_text())
    seed.write_text(seed.read_text().replace("Clearview", "Clearview AI Inc."), encoding="utf-8")
    snapshot, changes, _ = loader.refresh([str(seed)])
    engine.apply(snapshot, changes)
    assert verge.id in changes.changed
    story = engine.story_of(snapshot.articles[verge.id])
    assert not story.grouped and len(story.articles) == 1
    # Its story mates' stories leave it out too: where it belongs now is not known yet.
    mate = next(a for a in snapshot.articles.values() if a.outlet.name == "Business Insider")
    assert verge.id not in {a.id for a in engine.story_of(mate).articles}
    loader.close()


def test_the_kept_groups_name_their_corpus(corpus: Path, grouped: Path) -> None:
    paths = KeptStories.of(grouped)
    assert paths is not None
    path = paths.groups
    kept = json.loads(path.read_text(encoding="utf-8"))
    loader = CorpusLoader([corpus], grouped)
    snapshot, _, _ = loader.load()
    assert kept["generation"] == snapshot.generation
    assert [len(g) for g in kept["groups"]] == [3]
    assert path.stat().st_mode & 0o777 == 0o600
    loader.close()


def test_a_restart_loads_the_kept_grouping_instead_of_grouping_again(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    paths = KeptStories.of(grouped)
    assert paths is not None
    written = paths.state.stat()
    engine, loader = engine_of(corpus, grouped, "later")
    engine.cluster()  # the bot's background grouping: here a load of what was kept
    assert engine.stories_ready and not any(groupings)
    engine.save_stories()  # a stop with nothing new: nothing is written again
    now = paths.state.stat()  # a rewrite renames a new file in: another inode
    assert (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    # It updates as a fresh grouping would: a fourth outlet joins the story.
    fresh, fresh_loader = engine_of(corpus, grouped.with_name("fresh.db"), True)
    new = fourth_outlet(corpus)
    for e, ld in ((engine, loader), (fresh, fresh_loader)):
        snapshot, changes, _ = ld.refresh([str(new)])
        e.apply(snapshot, changes)
    assert outlets(engine) == outlets(fresh) and "Island News" in outlets(engine)
    loader.close()
    fresh_loader.close()


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped", "other corpus", "other layout", "huge length"]
)
def test_a_damaged_or_foreign_kept_grouping_is_grouped_again(
    corpus: Path, grouped: Path, groupings: list[int], damage: str
) -> None:
    paths = KeptStories.of(grouped)
    assert paths is not None
    data = paths.state.read_bytes()
    if damage == "truncated":
        paths.state.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        paths.state.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        header, _, body = data.partition(b"\n")
        fields = json.loads(header)
        if damage == "other corpus":
            fields["generation"] = "0" * 24
        elif damage == "huge length":
            fields["bytes"] = 1 << 60
        else:  # a build that changed what it keeps without saying so: a good checksum
            records = [bytes(r) for r in records_of(body)]
            docs = dict(marshal.loads(records[0])[3])["docs"]
            for n in range(1, docs + 1):  # each article's row one field short
                records[n] = marshal.dumps([row[:9] for row in marshal.loads(records[n])])
            body = b"".join(framed(records))
            fields.update(bytes=len(body), crc32=zlib.crc32(body))
        paths.state.write_bytes(json.dumps(fields).encode() + b"\n" + body)
    engine, loader = engine_of(corpus, grouped, "later")
    snapshot = engine.snapshot  # the kept state itself says it is unusable, raising nothing
    assert load_state(paths.state, snapshot.generation, snapshot.articles) is None
    engine.cluster()
    assert [n for n in groupings if n] == [len(engine.snapshot.articles)]  # grouped afresh
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    loader.close()
    engine, loader = engine_of(corpus, grouped, "later")  # and kept again, whole
    engine.cluster()
    assert len([n for n in groupings if n]) == 1
    loader.close()


def test_a_grouping_read_back_is_the_grouping_kept(corpus: Path, tmp_path: Path) -> None:
    loader = CorpusLoader([corpus], tmp_path / "c.db")
    articles = loader.load()[0].articles
    built = StoryIndex.build(articles)
    back = StoryIndex.from_state(built.export_state(), articles)
    assert [s.articles for s in back.stories()] == [s.articles for s in built.stories()]
    # A rebuild of the read-back grouping reuses the words of unchanged articles only: one
    # changed since (its title now another story's) is read again, as a fresh build reads it.
    changed = dict(articles.items())
    lone, other = [s.articles for s in built.stories() if len(s.articles) == 1][:2]
    changed[lone[0].id] = lone[0]._replace(title=other[0].title, excerpt=other[0].excerpt)
    back.rebuild(changed)
    fresh = StoryIndex.build(changed)
    assert [s.articles for s in back.stories()] == [s.articles for s in fresh.stories()]
    assert [s.articles for s in fresh.stories()] != [s.articles for s in built.stories()]
    loader.close()


def test_files_changed_while_down_catch_the_kept_grouping_up(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    fourth_outlet(corpus)
    (corpus / "live" / "quokka.json").unlink()
    engine, loader, changes = restarted(corpus, grouped, "later")
    assert changes.added and changes.removed
    snapshot = engine.snapshot
    # Before the grouping is caught up, the kept groups answer for what the change left alone.
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    engine.cluster()
    assert engine.stories_ready and not any(groupings)  # caught up, not grouped again
    paths = KeptStories.of(grouped)
    assert paths is not None  # and kept for these files, for the next start
    header = json.loads(paths.state.read_bytes().partition(b"\n")[0])
    assert header["generation"] == snapshot.generation
    fresh = Engine(snapshot)
    assert outlets(engine) == outlets(fresh) and "Island News" in outlets(engine)
    assert [s.articles for s in engine.stories.stories()] == [
        s.articles for s in fresh.stories.stories()
    ]
    loader.close()


# -- a grouping that rests on disk (``Engine.rest_stories``) ----------------------------------


def same_stories(engine: Engine, snapshot: Any) -> bool:
    fresh = Engine(snapshot)
    return [s.articles for s in engine.stories.stories()] == [
        s.articles for s in fresh.stories.stories()
    ]


def test_a_change_loads_the_resting_grouping_and_catches_it_up(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    new = fourth_outlet(corpus)
    snapshot, changes, _ = loader.refresh([str(new)])
    assert engine.apply(snapshot, changes)  # the caller is to load it (``cluster``)
    assert not engine.stories_ready
    joined = next(iter(changes.added))
    story = engine.story_of(snapshot.articles[joined])
    assert not story.grouped and len(story.articles) == 1  # claimed nothing meanwhile
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    (corpus / "live" / "quokka.json").unlink()  # a second change before the load: no second
    snapshot, changes, _ = loader.refresh([str(corpus / "live" / "quokka.json")])
    assert changes.removed and not engine.apply(snapshot, changes)
    engine.cluster()
    assert engine.stories_ready and not any(groupings)  # loaded and caught up, not regrouped
    assert "Island News" in outlets(engine) and same_stories(engine, snapshot)
    loader.close()


def test_a_kept_grouping_rests_and_a_change_wakes_it(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    engine.cluster()
    assert len(engine.stories) == len(engine.snapshot.articles)
    assert engine.rest_stories() and len(engine.stories) == 0
    assert engine.stories_ready
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    snapshot, changes, _ = loader.refresh([str(fourth_outlet(corpus))])
    assert engine.apply(snapshot, changes)
    engine.cluster()
    assert not any(groupings) and same_stories(engine, snapshot)
    # A change it followed in memory and has not kept yet: it stays until it is kept.
    (corpus / "live" / "quokka.json").unlink()
    snapshot, changes, _ = loader.refresh([str(corpus / "live" / "quokka.json")])
    assert not engine.apply(snapshot, changes)
    assert not engine.rest_stories() and len(engine.stories) == len(snapshot.articles)
    engine.save_stories()
    assert engine.rest_stories()
    assert set(outlets(engine)) == {"The Verge", "Business Insider", "Highsnobiety", "Island News"}
    loader.close()


def test_a_resting_grouping_damaged_on_disk_is_grouped_again_when_a_change_needs_it(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    paths = KeptStories.of(grouped)
    assert paths is not None and engine.stories_ready
    data = paths.state.read_bytes()
    paths.state.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    snapshot, changes, _ = loader.refresh([str(fourth_outlet(corpus))])
    assert engine.apply(snapshot, changes)
    engine.cluster()
    assert [n for n in groupings if n] == [len(snapshot.articles)]
    assert "Island News" in outlets(engine) and same_stories(engine, snapshot)
    loader.close()


async def test_the_bot_lets_the_grouping_rest_after_a_quiet_spell_and_wakes_it_on_a_change(
    corpus: Path, grouped: Path, groupings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[bool] = []  # the freed pages handed back to the system, once it rested
    monkeypatch.setattr(answer_service, "give_back", lambda: given.append(engine.resting))
    engine, loader = engine_of(corpus, grouped, "later")
    service = AnswerService(engine, rest_stories_after=0)
    try:
        assert service.stories_ready.is_set() and service.resting is None  # never loaded
        snapshot, changes, stats = loader.refresh([str(fourth_outlet(corpus))])
        await service.apply(CorpusChange(snapshot, changes, stats))
        assert not service.stories_ready.is_set()  # digests wait for the load to catch up
        await service.stories_ready.wait()
        assert "Island News" in (await service.call(outlets)) and not any(groupings)
        assert service.resting is not None and await service.resting  # kept, then let go
        assert len(engine.stories) == 0 and given == [True]
        assert "Island News" in (await service.call(outlets))
    finally:
        await service.close()
        loader.close()
    restarted, loader = engine_of(corpus, grouped, "later")  # what was kept is the caught-up
    assert restarted.stories_ready and "Island News" in outlets(restarted)
    loader.close()


def test_groups_unreadable_when_resting_mean_grouping_again(corpus: Path, grouped: Path) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    engine.cluster()
    paths = KeptStories.of(grouped)
    assert paths is not None
    paths.groups.write_text("{not json", encoding="utf-8")  # damaged since it was kept
    assert engine.rest_stories() is None  # the caller is to group again
    assert not engine.stories_ready and outlets(engine) == []  # "still grouping", no claim
    engine.cluster()
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    loader.close()


def quokka_seed(corpus: Path) -> tuple[Path, str]:
    """A seed of the ICE story rewritten onto another story; its path and its old title."""
    seed = next(p for p in (corpus / "seeds").iterdir() if p.read_text().startswith("---"))
    text = seed.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("title:"))
    body = "Quokka census counts a record number of quokkas on Rottnest Island this year."
    seed.write_text(text.replace(old, "title: Quokka census counts a record") + body, "utf-8")
    return seed, old


def mates(engine: Engine, article_id: str) -> set[str]:
    """The outlets of the other articles of its story (none while it claims no story)."""
    story = engine.story_of(engine.snapshot.articles[article_id])
    return {a.outlet.name for a in story.articles if a.id != article_id} if story.grouped else set()


def test_a_rebuild_after_a_resting_start_claims_no_story_a_change_left(
    corpus: Path, grouped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, loader, _ = restarted(corpus, grouped, "later")
    assert engine.resting
    seed, _ = quokka_seed(corpus)
    snapshot, changes, _ = loader.refresh([str(seed)])
    [moved] = changes.changed
    monkeypatch.setattr(engine, "_update_names", lambda *a: (_ for _ in ()).throw(OSError))
    with pytest.raises(OSError):
        engine.apply(snapshot, changes)
    monkeypatch.undo()
    assert engine.rebuild(snapshot)  # a failed change: rebuilt, to be grouped again
    assert mates(engine, moved) == set()  # not its old story's outlets
    engine.cluster()
    assert mates(engine, moved) == set() and same_stories(engine, snapshot)
    loader.close()


def test_a_failed_load_rests_again_and_the_next_change_tries_again(
    corpus: Path, grouped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    seed, _ = quokka_seed(corpus)
    snapshot, changes, _ = loader.refresh([str(seed)])
    [moved] = changes.changed
    assert engine.apply(snapshot, changes)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise MemoryError

    monkeypatch.setattr("bot.engine.engine.load_state", broken)
    monkeypatch.setattr(StoryIndex, "build", broken)
    with pytest.raises(MemoryError):
        engine.cluster()
    monkeypatch.undo()
    story = engine.story_of(snapshot.articles[moved])
    assert not story.grouped and story.first is None  # claims nothing while it waits
    assert engine.resting and not engine.stories_ready
    snapshot, changes, _ = loader.refresh([str(fourth_outlet(corpus))])
    assert engine.apply(snapshot, changes)  # the next change loads it again
    engine.cluster()
    assert same_stories(engine, snapshot) and mates(engine, moved) == set()
    loader.close()


def stopped_before_the_load(corpus: Path, grouped: Path) -> str:
    """A bot resting on the kept grouping hears of a fourth outlet's report and stops before
    it loaded the grouping for it; that article's id.
    """
    engine, loader = engine_of(corpus, grouped, "later")
    snapshot, changes, _ = loader.refresh([str(fourth_outlet(corpus))])
    assert engine.apply(snapshot, changes)
    engine.save_stories()
    loader.close()
    [joined] = changes.added
    return joined


def test_a_stop_while_resting_keeps_what_changed_for_the_next_start(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    stopped_before_the_load(corpus, grouped)
    engine, loader, _ = restarted(corpus, grouped, "later")
    snapshot = engine.snapshot
    # The kept groups answer what the change left alone; the grouping is caught up, not redone.
    assert outlets(engine) == ["The Verge", "Business Insider", "Highsnobiety"]
    engine.cluster()
    assert not any(groupings) and same_stories(engine, snapshot)
    assert "Island News" in outlets(engine)
    paths = KeptStories.of(grouped)
    assert paths is not None and not paths.pending.exists()  # caught up: kept as it is now
    loader.close()


async def test_a_grouping_that_could_not_be_kept_tries_to_rest_again(
    corpus: Path, grouped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    engine.cluster()  # loaded, as after an earlier change
    failures = [OSError("disk full")]
    save_state = saved_stories.save_state

    def flaky(*args: Any) -> None:
        if failures:
            raise failures.pop()
        save_state(*args)

    monkeypatch.setattr("bot.engine.engine.save_state", flaky)
    monkeypatch.setattr(answer_service, "RETRY_REST_AFTER", 0)
    service = AnswerService(engine, rest_stories_after=0)
    try:
        snapshot, changes, stats = loader.refresh([str(fourth_outlet(corpus))])
        await service.apply(CorpusChange(snapshot, changes, stats))
        first = service.resting
        assert first is not None and not await first  # not kept: the disk was full
        assert service.resting is not first and await service.resting  # then it was
        assert engine.resting and "Island News" in outlets(engine)
    finally:
        await service.close()
        loader.close()


def test_a_one_shot_command_after_a_stop_while_resting_groups_a_changed_article(
    corpus: Path, grouped: Path, groupings: list[int]
) -> None:
    joined = stopped_before_the_load(corpus, grouped)
    command, loader, _ = restarted(corpus, grouped, "on-demand")
    snapshot = command.snapshot
    story = command.story_of(snapshot.articles[joined])
    assert story.grouped and len(story.articles) == 4  # loaded and caught up, not grouped
    assert not any(groupings)
    loader.close()


def test_a_rebuild_during_a_load_records_no_changes_for_the_next_start(
    corpus: Path, grouped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    snapshot, changes, _ = loader.refresh([str(fourth_outlet(corpus))])
    assert engine.apply(snapshot, changes)
    entered, release = threading.Event(), threading.Event()
    load = saved_stories.load_state

    def held(*args: Any) -> Any:
        entered.set()
        release.wait(timeout=30)
        return load(*args)

    monkeypatch.setattr("bot.engine.engine.load_state", held)
    loading = threading.Thread(target=engine.cluster)
    loading.start()
    try:
        assert entered.wait(timeout=30)
        seed, _ = quokka_seed(corpus)
        snapshot, changes, _ = loader.refresh([str(seed)])
        assert not engine.rebuild(snapshot)  # a failed change's repair; the load starts over
        engine.save_stories()  # a stop now: the changes it records would miss this one
        paths = KeptStories.of(grouped)
        assert paths is not None and not paths.pending.exists()
    finally:
        release.set()
        loading.join(timeout=60)
    assert same_stories(engine, snapshot)
    loader.close()


async def test_a_failed_load_is_tried_again_after_a_while(
    corpus: Path, grouped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, loader = engine_of(corpus, grouped, "later")
    failures = [MemoryError(), MemoryError()]  # the load, then grouping afresh instead
    load, build = saved_stories.load_state, StoryIndex.build

    def flaky_load(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return load(*args)

    def flaky_build(articles: Any, **options: Any) -> StoryIndex:
        if failures:
            raise failures.pop()
        return build(articles, **options)

    monkeypatch.setattr("bot.engine.engine.load_state", flaky_load)
    monkeypatch.setattr(StoryIndex, "build", flaky_build)
    monkeypatch.setattr(answer_service, "RETRY_REST_AFTER", 0)
    service = AnswerService(engine)
    try:
        snapshot, changes, stats = loader.refresh([str(fourth_outlet(corpus))])
        await service.apply(CorpusChange(snapshot, changes, stats))
        await service.stories_ready.wait()  # the first load failed: stories of one meanwhile
        assert service._retrying is not None
        await service._retrying
        await service.stories_ready.wait()
        assert engine.stories_ready and "Island News" in outlets(engine) and not failures
    finally:
        await service.close()
        loader.close()
