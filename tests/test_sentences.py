"""The sentence model: its features of the leading candidates, its kept vectors, its models."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.corpus.merge import ChangeSet, CorpusSnapshot, with_generation
from bot.engine import engine as engine_module
from bot.engine.answerable import AnswerabilityModel, default_model, opening
from bot.engine.engine import RERANK, Engine
from bot.engine.meaning import SAMPLE, Meanings, sentence_meanings_path
from bot.engine.sentences import SENTENCE_FEATURES, SentenceModel, sentence_features
from bot.engine.vectors import Embedder
from bot.engine.word_vectors import WordVectors
from tests.test_word_vectors import THREE_STORIES, everyday_news
from tests.tiny_corpus import engine_over


def test_a_candidate_ranks_by_how_many_leading_candidates_are_closer() -> None:
    asked = np.array([1.0, 0.0], dtype=np.float32)

    def at(cosine: float) -> np.ndarray:
        return np.array([cosine, np.sqrt(1 - cosine**2)], dtype=np.float32)

    told = sentence_features(asked, [at(0.9), at(0.5), at(0.9), at(0.2)], leading=3)
    assert [f["sentence_cosine"] for f in told] == pytest.approx([0.9, 0.5, 0.9, 0.2])
    # Two copies of one article rank alike; one shown after the leading three ranks among them.
    assert [f["sentence_rank"] for f in told] == pytest.approx([1, 1 / 3, 1, 1 / 4])


def test_a_retold_question_is_closest_in_meaning_to_its_story(
    tmp_path: Path, word_vectors: WordVectors, sentence_model: SentenceModel
) -> None:
    docs = {
        "ban": (
            "City council votes to ban police use of facial recognition",
            "Officers may no longer run face-matching software on residents, the council said.",
        ),
        "vote": (
            "City council postpones its vote on police cameras",
            "The council will take up the body camera rules for officers again next month.",
        ),
        **everyday_news(20),
    }
    engine = engine_over(tmp_path, docs)
    engine.word_vectors, engine.sentences = word_vectors, sentence_model
    retold = "did the council stop its officers from scanning people's faces"
    told = {a.title: f for a, _, f in engine.explain(retold, 5)}
    ban, vote = docs["ban"][0], docs["vote"][0]
    assert told[ban]["sentence_rank"] == 1
    assert told[ban]["sentence_cosine"] > told[vote]["sentence_cosine"]
    engine.sentences = None  # not loaded: no reading of the sentence at all
    assert all(not set(SENTENCE_FEATURES) & set(f) for _, _, f in engine.explain(retold, 5))


@pytest.mark.parametrize("articles", [3, SAMPLE + 3])
def test_answers_are_judged_by_the_model_fitted_with_the_sentence_features_once_loaded(
    tmp_path: Path,
    word_vectors: WordVectors,
    sentence_model: SentenceModel,
    monkeypatch: pytest.MonkeyPatch,
    articles: int,
) -> None:
    judged: list[tuple[bool, bool, bool]] = []

    def model(
        word_table: bool = True, meaning: bool = True, sentences: bool = False
    ) -> AnswerabilityModel:
        judged.append((word_table, meaning, sentences))
        return default_model(word_table, meaning, sentences)

    monkeypatch.setattr(engine_module, "default_model", model)
    engine = engine_over(tmp_path, {**THREE_STORIES, **everyday_news(articles - 3)})
    engine.word_vectors, engine.sentences = word_vectors, sentence_model
    answer = engine.search("robots learning to walk")
    assert answer.hits and answer.hits[0].article.title == "Robots learn to walk"
    # Below the corpus sample's size, the one fitted without ``meaning_z`` (with the sentences).
    assert judged == [(True, articles >= SAMPLE, True)]
    engine.sentences = None
    engine.search("robots learning to walk")
    assert judged[-1] == (True, articles >= SAMPLE, False)


class _Held:
    """A vector source that computes only when let: what the thread computing a change waits on."""

    dims = 4
    space = "held-test"

    def __init__(self) -> None:
        self.go = threading.Event()
        self.go.set()
        self.computed: list[str] = []
        self.fail_once = False  # the next computation raises (a failing onnxruntime run)

    def join(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def text_vector(self, text: str) -> np.ndarray:
        return self.text_vectors([text])[0]

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        assert self.go.wait(30), "never let compute"
        if self.fail_once:
            self.fail_once = False
            raise RuntimeError("the run failed")
        self.computed += texts
        rows = np.array([[len(t), t.count("o"), t.count("e"), 1.0] for t in texts], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _deferred_store(
    tmp_path: Path, generation: str | None = None
) -> tuple[CorpusSnapshot, _Held, Path, Meanings]:
    """Three stories' vectors kept by a deferred store (of ``generation``), filled."""
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot
    source, path = _Held(), sentence_meanings_path(tmp_path / "c.db")
    assert path is not None
    kept = Meanings(source, path, deferred=True)  # type: ignore[arg-type]
    if generation is None:
        kept.fill(lambda: snapshot)
    else:
        kept.fill(lambda: with_generation(snapshot, generation), {generation: ChangeSet()})
    return snapshot, source, path, kept


def test_a_deferred_store_computes_a_change_in_its_own_thread_not_in_follow(
    tmp_path: Path,
) -> None:
    snapshot, source, path, kept = _deferred_store(tmp_path)
    articles = snapshot.articles
    assert kept.computed == 3
    robots = next(a for a in articles.values() if a.title == "Robots learn to walk")
    edited = robots._replace(excerpt="The robot fell over twice.")
    later = replace(snapshot, articles={**articles, robots.id: edited})
    source.go.clear()  # computing blocks: ``follow`` must return without it
    kept.follow(later, ChangeSet(changed=frozenset({robots.id})))
    assert kept.computed == 3 and not kept.wait_followed(0)
    # Asked meanwhile, the edited article's vector is its new text's, never the kept old one.
    source.go.set()
    assert kept.vector(edited) == pytest.approx(source.text_vector(opening(edited)))
    assert kept.wait_followed(30)
    assert kept.computed == 4 and kept.state(3) == "3 of 3 articles (4 computed this run)"
    # Kept at a stop: a restart reads every vector, the edited one of its new text.
    kept.save()
    restarted = Meanings(source, path, deferred=True)  # type: ignore[arg-type]
    restarted.fill(lambda: later)
    assert restarted.computed == 0


def test_a_restarted_engine_reads_its_sentence_vectors_and_computes_none(
    tmp_path: Path, word_vectors: WordVectors, sentence_model: SentenceModel
) -> None:
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot
    database = tmp_path / "c.db"

    def start() -> Engine:
        engine = Engine.beside(
            database, snapshot, word_vectors=word_vectors, sentences=sentence_model
        )
        engine.meanings_in_background()()
        return engine

    first = start()
    assert first.sentences_state == "ready; vectors: 3 of 3 articles (3 computed this run)"
    first.save_meanings()
    first.release_index()
    again = start()
    assert again.sentences_state == "ready; vectors: 3 of 3 articles (0 computed this run)"
    assert Path(f"{database}.sentences.bin").is_file()
    again.release_index()


def test_corpus_stats_say_why_no_sentence_model_is_read(
    tmp_path: Path, word_vectors: WordVectors
) -> None:
    engine = engine_over(tmp_path, THREE_STORIES)
    assert engine.sentences_state == "off (no word table)"
    engine.word_vectors = word_vectors
    assert engine.sentences_state == "off"


def test_a_retold_question_reaches_its_article_that_words_rank_below_the_leading_five(
    tmp_path: Path, word_vectors: WordVectors, sentence_model: SentenceModel
) -> None:
    docs = {
        "ban": (
            "City council votes to ban police use of facial recognition",
            "Officers may no longer run face-matching software on residents.",
        ),
        # Each holds more of the question's words than the ban does, on other subjects.
        "fees": ("Town lawmakers stop short of new parking fees", "People will pay more."),
        "speed": ("Cops stop speeding drivers in town", "People were stopped on the bridge."),
        "airport": ("Airport scanning lines stop for hours", "People waited at the gates."),
        "budget": ("Lawmakers stop budget vote in town hall", "People protested the delay."),
        "grocery": ("Grocery scanning app helps people stop waste", "Shoppers scan labels."),
        "ducks": ("Town cops ask people to stop feeding ducks", "The birds got sick."),
        "codes": ("Lawmakers want people to stop scanning menu codes", "Restaurants object."),
        **everyday_news(20),
    }
    engine = engine_over(tmp_path, docs)
    engine.word_vectors = word_vectors
    retold = "did the town's lawmakers stop cops from scanning people's faces"
    by_words = [a.title for a, _, _ in engine.explain(retold, 10)]
    ban = docs["ban"][0]
    assert ban in by_words and by_words.index(ban) >= RERANK  # found, below the leading five
    engine.sentences = sentence_model
    leading = [a.title for a, _, _ in engine.explain(retold, RERANK)]
    assert ban in leading


def test_while_the_bot_fills_the_vectors_answers_read_them_as_they_arrive(
    tmp_path: Path, word_vectors: WordVectors, sentence_model: SentenceModel
) -> None:
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot
    engine = Engine.beside(
        tmp_path / "c.db", snapshot, word_vectors=word_vectors, sentences=sentence_model
    )
    fill = engine.meanings_in_background()  # planned: the bot runs it in a thread

    def told() -> bool:
        return any("sentence_cosine" in f for _, _, f in engine.explain("robots walking", 5))

    # Not computed for the answer (~6 ms each, ten a question): answered without them.
    assert not told()
    fill()
    assert told()
    engine.release_index()


def test_a_question_begun_on_arrival_is_embedded_once_and_latest_s_topic_never(
    tmp_path: Path,
    word_vectors: WordVectors,
    sentence_model: SentenceModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.answer_service import AnswerService

    engine = engine_over(tmp_path, THREE_STORIES)
    engine.word_vectors, engine.sentences = word_vectors, sentence_model
    embedded: list[str] = []
    real = sentence_model.text_vector
    monkeypatch.setattr(sentence_model, "text_vector", lambda t: embedded.append(t) or real(t))
    service = AnswerService(engine)
    question = "which robots learned to walk a mile"
    # As the bot does when each interaction arrives: /latest's topic is a filter, not a question.
    service.prepare("latest", "robots")
    service.prepare("ask", question)
    told = engine.explain(question, 5)
    assert any("sentence_cosine" in f for _, _, f in told)
    assert embedded.count(question) == 1  # the one begun on arrival, not computed again
    assert "robots" not in embedded  # (the articles' openings are embedded too: none kept here)
    engine.release_index()


def test_a_change_whose_vectors_failed_is_computed_later_and_never_claimed_done_meanwhile(
    tmp_path: Path,
) -> None:
    snapshot, source, path, kept = _deferred_store(tmp_path, "g1")
    articles = snapshot.articles
    robots, drones = (
        next(a for a in articles.values() if a.title == title)
        for title in ("Robots learn to walk", "Drones deliver parcels")
    )
    edited = robots._replace(excerpt="The robot fell over twice.")
    g2 = with_generation(replace(snapshot, articles={**articles, robots.id: edited}), "g2")
    source.fail_once = True
    kept.follow(g2, ChangeSet(changed=frozenset({robots.id})))
    assert kept.wait_followed(30) and kept.kept_vector(edited) is None  # it failed
    # A later change, removals only, must not claim g3 for a store that lacks the edit.
    left = {i: a for i, a in g2.articles.items() if i != drones.id}
    g3 = with_generation(replace(g2, articles=left), "g3")
    kept.follow(g3, ChangeSet(removed=frozenset({drones.id})))
    assert kept.wait_followed(30)
    assert kept.kept_vector(edited) is not None  # computed with that change
    kept.save()
    restarted = Meanings(source, path, deferred=True)  # type: ignore[arg-type]
    restarted.fill(lambda: g3, {"g3": ChangeSet()})
    assert restarted.computed == 0 and restarted.kept_vector(edited) is not None


def test_an_answer_that_finds_a_vector_missing_has_it_computed_in_the_background(
    tmp_path: Path,
) -> None:
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot
    source = _Held()
    kept = Meanings(source, deferred=True)  # type: ignore[arg-type]
    kept.fill(lambda: snapshot)
    robots = next(a for a in snapshot.articles.values() if a.title == "Robots learn to walk")
    edited = robots._replace(excerpt="Edited while a change failed half way.")  # never followed
    assert kept.kept_vector(edited) is None
    kept.request([edited], replace(snapshot, articles={**snapshot.articles, robots.id: edited}))
    assert kept.wait_followed(30) and kept.kept_vector(edited) is not None


def test_without_a_word_table_no_sentence_vector_is_filled_nor_kept(
    tmp_path: Path, sentence_model: SentenceModel
) -> None:
    # Answers read the sentence model only beside the table: filling its vectors for nothing
    # would take both cores for minutes on a large corpus.
    broken = WordVectors(Embedder(tmp_path, model_path=tmp_path))  # no weights there
    snapshot = engine_over(tmp_path, THREE_STORIES).snapshot
    database = tmp_path / "c.db"
    engine = Engine.beside(database, snapshot, word_vectors=broken, sentences=sentence_model)
    engine.meanings_in_background()()
    assert engine.sentences_state == ("ready; not read: answers read it only beside the word table")
    assert all("sentence_cosine" not in f for _, _, f in engine.explain("robots walking", 5))
    engine.save_meanings()
    assert not Path(f"{database}.sentences.bin").exists()
    engine.release_index()
