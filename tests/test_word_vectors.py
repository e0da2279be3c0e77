"""Words as vectors (bot/engine/word_vectors.py): retold words, and names the corpus never uses."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, ItemsView, ValuesView
from dataclasses import replace
from pathlib import Path

import pytest

from bot.corpus.articles import ArticleTable
from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import ChangeSet, CorpusSnapshot, with_generation
from bot.corpus.model import Article
from bot.engine import engine as engine_module
from bot.engine.answerable import AnswerabilityModel, default_model, opening
from bot.engine.engine import Engine
from bot.engine.meaning import SAMPLE, Meanings, meanings_path
from bot.engine.vectors import MODEL_PACKAGE, Embedder, model_dir, semantic_available
from bot.engine.word_vectors import ENVIRONMENT_SWITCH, NameModel, WordVectors
from tests.bench_scripts import needs_labelled_corpus, run_script
from tests.tiny_corpus import SEEDS, engine_over
from tests.word_table import CACHE


def test_names_no_corpus_uses_are_told_from_ordinary_words(word_vectors: WordVectors) -> None:
    assert word_vectors.state == "ready"
    # None of these is a word of the corpus the model was fitted on: it reads their vectors.
    for name in ("philadelphia", "mumbai", "korea", "seattle", "peloton"):
        assert word_vectors.name_likeness(name) > 0.5, name
    for word in ("restaurants", "pics", "feminine", "boats", "grocery", "deteriorate"):
        assert word_vectors.name_likeness(word) < 0.5, word


def test_a_retold_word_is_closest_to_the_word_that_says_it(word_vectors: WordVectors) -> None:
    others = ["police", "chicago", "predicting", "weather", "clearview"]
    [cops, forecast] = word_vectors.closest(["cops", "forecast"], others)
    [alone] = word_vectors.closest(["cops"], ["police"])
    assert cops == pytest.approx(alone, abs=1e-6)  # "police" is its closest word
    assert alone > word_vectors.closest(["cops"], ["weather"])[0]
    assert forecast > 0.5
    assert word_vectors.closest(["cops"], []) == [-1.0]
    assert word_vectors.closest([], others) == []


def test_many_words_at_once_are_the_vectors_of_each_alone(word_vectors: WordVectors) -> None:
    # "police" and "pittsburgh" are tokens of the model's vocabulary; "clearview" is two.
    embedder = Embedder(CACHE)  # the table the fixture made sure of
    words = ["police", "clearview", "pittsburgh", "café", "##ing", "x" * 2_000]
    together = embedder.embed_words(words)
    for word, row in zip(words, together, strict=True):
        assert row == pytest.approx(embedder.embed_query(word), abs=1e-6)
    whole = embedder.embed_words(words, whole_only=True)
    assert whole[0] == pytest.approx(together[0]) and not whole[1].any()


def test_a_name_model_fitted_on_another_table_is_never_applied(
    word_vectors: WordVectors,
) -> None:
    shipped = NameModel.load()
    assert shipped is not None
    foreign = NameModel("another-table", shipped.weights, shipped.bias)
    words = WordVectors(Embedder(CACHE), names=foreign)
    assert words.name_likeness("philadelphia") == 0.0


def test_a_table_that_cannot_load_leaves_answers_on_words_alone(tmp_path: Path) -> None:
    words = WordVectors(Embedder(tmp_path, model_path=tmp_path))  # no weights there
    assert words.state == "loaded when an answer first needs it"
    assert words.join() is False  # the load has ended, however long it took
    assert words.ready() is False
    assert words.state.startswith("unavailable (no model.safetensors")
    docs = {"pgh": ("Pittsburgh regulates police facial recognition", "The council voted.")}
    engine = engine_over(tmp_path, docs)
    engine.word_vectors = words
    [(_, _, features)] = engine.explain("is philadelphia regulating police facial recognition")
    assert features["namelike_missing"] == 0.0
    assert 0 < features["soft_coverage"] < 1


@pytest.mark.skipif(not semantic_available(), reason="the semantic extra is not installed")
def test_the_operator_can_switch_the_table_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT_SWITCH, "1")
    assert WordVectors.beside(tmp_path / "c.db") is not None
    assert WordVectors.beside(":memory:") is None
    monkeypatch.setenv(ENVIRONMENT_SWITCH, "off")
    assert WordVectors.beside(tmp_path / "c.db") is None


def test_a_missing_name_earns_no_credit_and_a_retold_word_does(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    docs = {
        "pgh": (
            "Plan regulating police facial recognition in Pittsburgh gets approval",
            "The city council approved a bill regulating how police use facial recognition.",
        ),
        "fb": (
            "Facebook to use AI in predicting if COVID-19 patients need more oxygen",
            "Researchers built models that predict whether a patient's condition will worsen.",
        ),
    }
    engine = engine_over(tmp_path, docs)

    def features(query: str, vectors: WordVectors | None) -> dict[str, float]:
        engine.word_vectors = vectors
        return engine.explain(query, 1)[0][2]

    near_miss = "is philadelphia regulating how police use facial recognition"
    retold = "did facebook build something to forecast which covid patients will deteriorate"
    with_words, without = features(near_miss, word_vectors), features(near_miss, None)
    assert with_words["namelike_missing"] > 0.5
    assert with_words["soft_coverage"] == pytest.approx(without["soft_coverage"])
    # The rest held and a name-like word missing: the near-miss's signature, seen only by vector.
    assert with_words["name_swapped"] == pytest.approx(
        with_words["namelike_missing"] * with_words["coverage"]
    )
    assert without["name_swapped"] == 0
    with_words, without = features(retold, word_vectors), features(retold, None)
    assert with_words["namelike_missing"] < 0.5
    assert with_words["name_swapped"] < 0.5 * with_words["coverage"]
    assert with_words["soft_coverage"] > without["soft_coverage"] + 0.05


def first_candidate_features(
    tmp_path: Path, docs: dict[str, tuple[str, str]], words: WordVectors
) -> Callable[[str], dict[str, float]]:
    """A query's first candidate's features over ``docs``, the word table loaded."""
    engine = engine_over(tmp_path, docs)
    engine.word_vectors = words
    return lambda query: engine.explain(query, 1)[0][2]


def test_a_name_said_by_a_word_of_its_family_is_not_missing(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    docs = {
        "brain": (
            "Researchers in Norway find the brain stores memories better than AI",
            "A study from Norway compared how people and machines remember faces.",
        ),
        "cams": ("Police cameras in Portland", "The city council voted on the cameras."),
        "iraq": ("Iraq bans police drones", "Officials said the drones are grounded for now."),
    }
    read = first_candidate_features(tmp_path, docs, word_vectors)
    # "norwegian" is said by "Norway": a word of its family that means alike.
    retold = read("norwegian researchers say the brain stores memories better than ai")
    assert retold["namelike_missing"] < 0.5 and retold["name_swapped"] == 0
    # "swedish" is a name the article lacks; so is "portsmouth", though it begins as "portland".
    swapped = read("swedish researchers say the brain stores memories better than ai")
    assert swapped["namelike_missing"] > 0.5 and swapped["name_swapped"] > 0
    assert swapped["soft_coverage"] < retold["soft_coverage"]
    assert read("police cameras in portsmouth")["name_swapped"] > 0
    # A short word is no family: "iraq" begins as "iran" does and means much alike (0.62).
    assert read("did iran ban police drones")["name_swapped"] > 0


def test_a_name_the_corpus_writes_only_in_titles_is_judged_by_its_vector(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    docs = {
        "zoox": (
            "Zoox settles lawsuit with Tesla",
            "The self-driving startup settled with the carmaker over stolen files.",
        ),
        "phones": ("Samsung Unveils New Phones", "The company showed its phones on Tuesday."),
    }
    read = first_candidate_features(tmp_path, docs, word_vectors)
    # No sentence of the corpus says how "samsung" is written: only a title-cased headline.
    swapped = read("did zoox settle that lawsuit with samsung")
    assert swapped["missing_names"] == 0
    assert swapped["namelike_missing"] > 0.5 and swapped["name_swapped"] > 0
    assert read("did zoox settle that lawsuit with tesla")["name_swapped"] == 0


def test_a_word_in_common_use_is_not_read_as_the_corpus_word_a_letter_away(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    docs = {
        "nhs": (
            "AI tool helps hospitals predict bed and ventilator needs",
            "Hospitals breaking records plan their care beds with a facial recognition model.",
        ),
        "uk": ("British behavior study", "How people behave in the United Kingdom."),
    }
    engine = engine_over(tmp_path, docs)

    def read_as(query: str, vectors: WordVectors | None) -> str | None:
        engine.word_vectors = vectors
        return engine.search(query).corrected

    # Without the table, any word a letter from a corpus word is taken for its typo.
    assert read_as("breathing machines for hospitals", None) == "breaking machines hospitals"
    # With it, "breathing" is a word of its own; a misspelling and a spelling variant are not.
    assert read_as("breathing machines for hospitals", word_vectors) is None
    assert read_as("facial recogniton for hospitals", word_vectors) == (
        "facial recognition hospitals"
    )
    assert read_as("british behaviour", word_vectors) == "british behavior"


@needs_labelled_corpus
def test_refitting_the_name_model_reproduces_the_shipped_one() -> None:
    run_script("answerability/fit_names.py", "--check")


def test_the_weights_digest_is_read_from_the_install_record_only_for_that_file(
    tmp_path: Path,
) -> None:
    if not semantic_available():
        pytest.skip("the semantic extra is not installed")
    from bot.engine import minilm

    weights = model_dir() / "model.safetensors"
    assert minilm.weights_sha256(weights, MODEL_PACKAGE) == minilm.file_sha256(weights)
    elsewhere = tmp_path / "model.safetensors"  # same name, other bytes: hashed, not looked up
    elsewhere.write_bytes(b"not the weights")
    assert minilm.weights_sha256(elsewhere, MODEL_PACKAGE) == minilm.file_sha256(elsewhere)
    assert minilm.weights_sha256(weights, "no-such-package") == minilm.file_sha256(weights)


def test_a_command_waits_for_a_table_still_loading_and_says_why(
    word_vectors: WordVectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = Embedder(CACHE)  # the table the fixture made sure of
    gate = threading.Event()
    read = embedder.load

    def held_back() -> None:
        gate.wait()
        read()

    monkeypatch.setattr(embedder, "load", held_back)
    words = WordVectors(embedder)
    words.start()
    said: list[str] = []

    def notice(why: str) -> None:
        said.append(why)
        gate.set()  # the load goes on once the command has said why it waits

    words.finish(notice)
    assert len(said) == 1 and "word table" in said[0]
    assert words.state == "ready"
    words.finish(said.append)  # nothing left to wait for: nothing said
    assert len(said) == 1


def test_a_retold_question_stands_out_as_close_in_meaning_to_its_story(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    docs = {
        "nba": (
            "Microsoft becomes the NBA's official technology partner",
            "The basketball league will use Azure and AI to personalise games for its fans.",
        ),
        "games": (
            "Sony shows new games for its console",
            "The company said the games arrive before the holidays for fans of the series.",
        ),
        **everyday_news(SAMPLE),  # a corpus large enough to stand out from
    }
    engine = engine_over(tmp_path, docs)
    retold = "which software giant teamed up with the pro basketball league for games for fans"

    def closeness(vectors: WordVectors | None) -> dict[str, float]:
        engine.word_vectors = vectors
        return {a.title: f["meaning_z"] for a, _, f in engine.explain(retold, 5)}

    with_words = closeness(word_vectors)
    nba, sony = docs["nba"][0], docs["games"][0]
    # Both share "games" and "fans"; the story asked about stands out from the corpus.
    assert with_words[nba] > 1 and with_words[nba] > with_words[sony]
    assert set(closeness(None).values()) == {0.0}  # without the table: no reading of meaning


def everyday_news(count: int) -> dict[str, tuple[str, str]]:
    """``count`` one-line articles on other subjects than the tests' own."""
    subjects = "weather election football recipe museum concert school hospital bridge".split()
    events = ("opens", "closes", "is delayed", "expands", "wins an award")
    towns = "Leeds Lyon Porto Graz Cork Turku Ghent Brno".split()
    items = [(s, e, t) for s in subjects for e in events for t in towns][:count]
    return {
        f"news{n}": (f"The {t} {s} {e}", f"Residents of {t} heard that the {s} {e} this week.")
        for n, (s, e, t) in enumerate(items)
    }


def test_a_corpus_too_small_to_stand_out_from_is_answered_without_meaning(
    tmp_path: Path, word_vectors: WordVectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One article, below the sample's size: nothing can stand out, so the model fitted without
    # ``meaning_z`` answers, the word table loaded. (With one article ``meaning_z`` is 0 either
    # way, and either model answers: which model judged is what says the guard held.)
    judged_with_meaning = []

    def model(
        word_table: bool = True, meaning: bool = True, sentences: bool = False
    ) -> AnswerabilityModel:
        judged_with_meaning.append(meaning)
        return default_model(word_table, meaning, sentences)

    monkeypatch.setattr(engine_module, "default_model", model)
    engine = engine_over(tmp_path, {"one": ("Robots learn to walk", "A robot walked a mile.")})
    engine.word_vectors = word_vectors
    answer = engine.search("robots learning to walk")
    assert answer.hits and answer.hits[0].article.title == "Robots learn to walk"
    assert judged_with_meaning == [False]


def test_articles_meanings_are_kept_so_a_restart_computes_only_what_changed(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot  # no catch-up: every one checked
    articles = snapshot.articles
    kept = meanings_path(tmp_path / "c.db")
    legacy = tmp_path / "c.db.meanings.npz"  # an older version's file, read whole
    legacy.write_bytes(b"PK")
    first = Meanings(word_vectors, kept)
    first.fill(lambda: snapshot)
    assert first.computed == 3 and kept.exists() and not legacy.exists()
    restarted = Meanings(word_vectors, kept)
    restarted.fill(lambda: snapshot)
    assert restarted.computed == 0
    assert restarted.state(len(articles)) == "3 of 3 articles (0 computed this run)"
    robots = next(a for a in articles.values() if a.title == "Robots learn to walk")
    assert restarted.vector(robots) == pytest.approx(word_vectors.text_vector(opening(robots)))
    # Edited while the bot was down: only that article is computed again, and its old vector
    # is never used for its new text meanwhile.
    edited = robots._replace(excerpt="The robot fell over twice.")
    assert restarted.vector(edited) == pytest.approx(word_vectors.text_vector(opening(edited)))
    again = Meanings(word_vectors, kept)
    again.fill(lambda: replace(snapshot, articles={**articles, robots.id: edited}))
    assert again.computed == 1
    # A kept file cut short (a crash mid-write, a full disk): read as none, every one computed.
    kept.write_bytes(kept.read_bytes()[:100])
    damaged = Meanings(word_vectors, kept)
    damaged.fill(lambda: snapshot)
    assert (
        damaged.computed == 3
        and damaged.state(len(articles)) == "3 of 3 articles (3 computed this run)"
    )
    # Followed while running: a removed article's vector goes, an added one's is computed.
    gone = next(a for a in articles.values() if a.title == "Drones deliver parcels")
    left = {i: a for i, a in articles.items() if i != gone.id}
    again.follow(replace(snapshot, articles=left), ChangeSet(removed=frozenset({gone.id})))
    assert again.state(len(left)) == "2 of 2 articles (1 computed this run)"


THREE_STORIES = {
    "a": ("Robots learn to walk", "A robot walked a mile."),
    "b": ("Drones deliver parcels", "The parcels landed in gardens."),
    "c": ("Ferries sail themselves", "A boat crossed the harbour alone."),
}


class _CountedReads(dict):  # type: ignore[type-arg]
    """Articles that count how many of them were read: each is a database row in the bot."""

    read = 0

    def __getitem__(self, article_id: str) -> Article:
        self.read += 1
        return super().__getitem__(article_id)

    def values(self) -> ValuesView[Article]:
        self.read += len(self)
        return super().values()

    def items(self) -> ItemsView[str, Article]:
        self.read += len(self)
        return super().items()


def _at(snapshot: CorpusSnapshot, generation: str, articles: dict[str, Article]) -> CorpusSnapshot:
    return with_generation(replace(snapshot, articles=_CountedReads(articles)), generation)


def test_a_restart_reads_only_the_articles_that_changed_since_the_meanings_were_kept(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    base = engine_over(tmp_path, THREE_STORIES).snapshot
    by_title = {a.title: a for a in base.articles.values()}
    robots, drones = by_title["Robots learn to walk"], by_title["Drones deliver parcels"]
    kept = meanings_path(tmp_path / "c.db")
    first_run = _at(base, "g1", dict(base.articles))
    Meanings(word_vectors, kept).fill(lambda: first_run, {"g1": ChangeSet()})

    # Nothing changed: the kept file is of this very corpus, and no article is read.
    same = _at(base, "g1", dict(base.articles))
    restarted = Meanings(word_vectors, kept)
    restarted.fill(lambda: same, {"g1": ChangeSet()})
    assert (restarted.computed, same.articles.read) == (0, 0)
    assert restarted.state(3) == "3 of 3 articles (0 computed this run)"
    assert restarted.vector(robots) == pytest.approx(word_vectors.text_vector(opening(robots)))

    # Changed while the bot was down (the loader caught up from g1): one edited, one removed,
    # one added. Only those two are read and computed; the removed one's vector goes.
    edited = robots._replace(excerpt="The robot fell over twice.")
    added = robots._replace(id="new", title="Trains drive themselves", excerpt="No driver.")
    now = {i: a for i, a in base.articles.items() if i != drones.id}
    now |= {robots.id: edited, added.id: added}
    down = ChangeSet(frozenset({added.id}), frozenset({robots.id}), frozenset({drones.id}))
    caught_up = _at(base, "g2", now)
    later = Meanings(word_vectors, kept)
    later.fill(lambda: caught_up, {"g2": ChangeSet(), "g1": down})
    assert (later.computed, caught_up.articles.read) == (2, 2)
    assert later.state(3) == "3 of 3 articles (2 computed this run)"
    for article in (edited, added):
        assert later.vector(article) == pytest.approx(word_vectors.text_vector(opening(article)))

    # Kept as of g2: the next start of g2 reads nothing; one of a corpus it was not kept for
    # (or not told how it changed from) checks every article.
    for catch_up, reads in (({"g2": ChangeSet()}, 0), ({"g3": ChangeSet()}, 3)):
        again = _at(base, "g2", now)
        Meanings(word_vectors, kept).fill(lambda snapshot=again: snapshot, catch_up)
        assert again.articles.read == reads


def test_meanings_kept_after_a_lost_change_are_checked_in_full_at_the_next_start(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    base = engine_over(tmp_path, THREE_STORIES).snapshot
    kept = meanings_path(tmp_path / "c.db")
    running = Meanings(word_vectors, kept)
    snapshot = _at(base, "g1", dict(base.articles))
    running.fill(lambda: snapshot, {"g1": ChangeSet()})
    # Followed while running, then kept: a start of the corpus it followed to reads nothing.
    drones = next(a for a in base.articles.values() if a.title == "Drones deliver parcels")
    left = {i: a for i, a in base.articles.items() if i != drones.id}
    running.follow(_at(base, "g2", left), ChangeSet(removed=frozenset({drones.id})))
    running.save()
    followed = _at(base, "g2", left)
    Meanings(word_vectors, kept).fill(lambda: followed, {"g2": ChangeSet()})
    assert followed.articles.read == 0
    # A change that failed half way (the engine rebuilt from scratch): which corpus the store
    # holds is no longer known, so the next start checks every article again.
    running.lost_track()
    running.save()
    after = _at(base, "g2", left)
    Meanings(word_vectors, kept).fill(lambda: after, {"g2": ChangeSet()})
    assert after.articles.read == 2
    # Lost while a fill runs: the fill that ends afterwards claims no generation either.
    filling = Meanings(word_vectors, kept)
    snapshots = iter([_at(base, "g2", left)])

    def corpus_losing_track() -> CorpusSnapshot:
        filling.lost_track()
        return next(snapshots, after)

    filling.fill(corpus_losing_track, {})
    checked = _at(base, "g2", left)
    Meanings(word_vectors, kept).fill(lambda: checked, {"g2": ChangeSet()})
    assert checked.articles.read == 2


def test_a_restarted_bot_reads_no_article_to_fill_its_meanings(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    corpus, database = tmp_path / "corpus", tmp_path / "c.db"
    shutil.copytree(SEEDS, corpus)

    def start() -> tuple[CorpusLoader, Engine, ChangeSet]:
        """What the bot's start does: load, the engine on what is kept, the background fill."""
        loader = CorpusLoader([corpus], database)
        snapshot, changes, _ = loader.load()
        engine = Engine.beside(
            database,
            snapshot,
            stories="later",
            catch_up=(loader.started_from, changes),
            word_vectors=word_vectors,
        )
        engine.meanings_in_background()()
        return loader, engine, changes

    def stop(loader: CorpusLoader, engine: Engine) -> None:
        engine.save_meanings()
        engine.release_index()
        loader.close()

    loader, engine, _ = start()
    total = len(engine.snapshot.articles)
    assert engine.meanings_state == f"{total} of {total} articles ({total} computed this run)"
    stop(loader, engine)
    loader, engine, _ = start()
    assert isinstance(engine.snapshot.articles, ArticleTable)
    assert engine.snapshot.articles.rows.reads == 0  # not one article read back
    assert engine.meanings_state == f"{total} of {total} articles (0 computed this run)"
    stop(loader, engine)
    # One file edited while the bot was down: what the loader says changed is computed.
    seed = corpus / "003_ada7c173de585412.txt"  # the record with front matter
    seed.write_text(seed.read_text(encoding="utf-8").replace('title: "', 'title: "Now ', 1))
    loader, engine, changes = start()
    assert changes.changed
    assert engine.meanings_state == (
        f"{total} of {total} articles ({len(changes.changed | changes.added)} computed this run)"
    )
    stop(loader, engine)


def test_corpus_stats_say_why_no_article_meanings_are_kept(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    engine = engine_over(tmp_path, THREE_STORIES)  # built in memory: no database beside it
    assert engine.meanings_state == "off (no word table)"
    engine.word_vectors = word_vectors
    assert engine.meanings_state == "computed when asked (none kept: no database)"
