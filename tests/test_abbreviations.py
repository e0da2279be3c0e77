"""Short forms the corpus spells out in parentheses stand for their long forms (issue 13)."""

from __future__ import annotations

from pathlib import Path

from bot.engine.abbreviations import long_forms
from bot.engine.word_samples import WordSamples
from tests.tiny_corpus import engine_over


def test_a_definition_in_parentheses_gives_the_long_form_of_its_short_form() -> None:
    text = (
        "The startup uses machine learning (ML) and the Internet of Things (IoT) to track "
        "electric vehicles (EVs) across the big city (NYC)."
    )
    assert list(long_forms(text, "ml")) == [("machin", "learn")]
    assert list(long_forms(text, "iot")) == [("internet", "thing")]
    assert list(long_forms(text, "evs")) == [("electric", "vehicl")]
    assert list(long_forms(text, "ev")) == [("electric", "vehicl")]
    # Initials that spell nothing before the parenthesis define nothing.
    assert list(long_forms(text, "nyc")) == []
    assert list(long_forms("Its new chip (AI) ships in May.", "ai")) == []


STORIES = {
    "kidney": (
        "Hospital tests ML on kidney scans",
        "Doctors used machine learning (ML) to sort kidney cancer subtypes. ML did well.",
    ),
    "lenses": (
        "Machine learning finds gravitational lenses",
        "Astronomers used machine learning to find more gravitational lenses than people did.",
    ),
    "survey": ("Telescope survey maps lenses", "A survey mapped gravitational lenses in the sky."),
}


def test_a_short_form_typed_is_found_in_an_article_that_only_spells_it_out(
    tmp_path: Path,
) -> None:
    engine = engine_over(tmp_path, STORIES)
    result = engine.search("ml gravitational lenses")
    assert result.not_found is None
    assert result.hits[0].article.title == "Machine learning finds gravitational lenses"
    coverage = {a.title: f["coverage"] for a, _, f in engine.explain("ml gravitational lenses")}
    assert coverage["Machine learning finds gravitational lenses"] == 1.0
    assert coverage["Telescope survey maps lenses"] < 1.0


def test_a_word_the_corpus_writes_in_lowercase_is_not_read_as_a_short_form(
    tmp_path: Path,
) -> None:
    # "(ban)" once in parentheses does not make "ban" stand for "big area network".
    stories = {
        "vote": ("Council votes", "The big area network (ban) plan was dropped; a ban passed."),
        "net": ("Big area network upgrade", "The big area network got faster."),
        "ban": ("Cameras ban passed", "The council passed a ban on cameras and a ban on drones."),
    }
    engine = engine_over(tmp_path, stories)
    coverage = {a.title: f["coverage"] for a, _, f in engine.explain("ban upgrade")}
    assert coverage["Big area network upgrade"] < 1.0


def test_what_a_word_learnt_while_the_corpus_changed_is_not_kept() -> None:
    # A lookup racing a corpus change may read the old articles: its answer is given once and
    # learnt again on the next ask, never served from then on.
    class Counted(WordSamples[int]):
        ARTICLES, CHARS = 1, 10

        def __init__(self) -> None:
            super().__init__(lambda word, n: [], lambda ids: [])
            self.learnt = 0

        def _learn(self, word: str) -> int:
            self.learnt += 1
            if self.learnt == 1:
                self.forget()  # the corpus changes while the first lookup reads it
            return self.learnt

    samples = Counted()
    assert samples.lookup("ml") == 1
    assert samples.lookup("ml") == 2
    assert samples.lookup("ml") == 2
