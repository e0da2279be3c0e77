"""One hostile article costs one answer, never the engine thread (issue 12).

Corpus files are untrusted: a body of megabytes built to make sentence work slow must still
get a /summary and an /ask answer, and when the text work of an answer runs past its budget the
user is shown the article's plain excerpt. How long an answer may take is the budget's, tested
below as work counted, never as wall-clock time (which a busy machine stretches: the timed
assertions these tests had failed twice in full runs on a loaded machine). The budget is checked
against ``bot.engine.budget.clock``; tests that need it to run out swap in a clock that ticks
a millisecond per reading, so "slow" is a count of work done, not a sleep.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest

from bot.corpus.merge import CorpusSnapshot
from bot.corpus.model import Article, Outlet
from bot.engine import budget, passages, summary
from bot.engine.budget import (
    MAX_PARAGRAPH_CHARS,
    MAX_TEXT_CHARS,
    UNLIMITED,
    Deadline,
    OverBudget,
    bounded,
    cached_within_budget,
    plain_excerpt,
)
from bot.engine.engine import Engine
from bot.engine.results import AskAnswer, SummaryAnswer
from bot.engine.summary import MAX_SUMMARY_CHARS
from bot.render import answer_cards

TWO_MB = 2_000_000
QUERY = "Clearview ICE contract"
QUESTION = "How much is the Clearview ICE contract worth?"
EXCERPT = "Clearview AI signed a contract with ICE worth $224,000, records show."


def _repeat(unit: str, size: int = TWO_MB) -> str:
    return unit * (size // len(unit))


# 2 MB bodies, each built to make one text step slow (or, before issue 12, a regex explode).
HOSTILE: dict[str, tuple[str, ...]] = {
    "tiny sentences": (_repeat("Clearview pays ICE again. "),),
    "separator runs": ("Clearview ICE contract" + _repeat(" -") + "x",),
    "punctuation runs": ("Clearview ICE contract " + _repeat("!") + " x",),
    "digit and comma runs": ("Clearview ICE contract paid " + _repeat("1,") + "x dollars",),
    "capitalised runs": ("Clearview ICE contract " + _repeat("Aa ") + "x",),
    "many paragraphs": tuple(
        itertools.repeat("Clearview's ICE contract paid $224,000 in 2020. It said so.", 35_000)
    ),
}


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Prepared articles are cached on their text: each test does the text work itself."""
    summary._candidates.cache_clear()  # type: ignore[attr-defined]
    passages._prepare.cache_clear()  # type: ignore[attr-defined]
    yield
    summary._candidates.cache_clear()  # type: ignore[attr-defined]
    passages._prepare.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock one millisecond further on at each reading: the budget counts work done."""
    ticks = itertools.count()
    monkeypatch.setattr(budget, "clock", lambda: next(ticks) / 1000)


def engine_with(body: tuple[str, ...], excerpt: str = EXCERPT) -> tuple[Engine, Article]:
    article = Article(
        id="a" * 16,
        title="Clearview signs ICE contract",
        url="https://example.com/clearview-ice",
        outlet=Outlet("Example News"),
        excerpt=excerpt,
        body=body,
    )
    other = Article(
        id="b" * 16,
        title="Rain expected in Lagos this weekend",
        url="https://example.com/lagos-rain",
        outlet=Outlet("Weather Desk"),
        excerpt="Forecasters expect heavy rain.",
    )
    return Engine(CorpusSnapshot({a.id: a for a in (article, other)}, {}), stories=False), article


# --- Through the engine ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_huge_hostile_body_still_gets_a_summary_and_an_answer(
    kind: str,
) -> None:
    engine, article = engine_with(HOSTILE[kind])

    answer = engine.summary(QUERY)
    assert isinstance(answer, SummaryAnswer), answer
    assert answer.hit.article.id == article.id
    assert answer.summary
    assert len(" ".join(answer.summary)) <= MAX_SUMMARY_CHARS

    answer = engine.ask(QUESTION)
    assert isinstance(answer, AskAnswer), answer
    assert answer.hit.article.id == article.id
    assert 0 < len(answer.passage.text) <= MAX_PARAGRAPH_CHARS


def test_over_budget_the_summary_is_the_plain_excerpt(ticking_clock: None, caplog) -> None:
    engine, article = engine_with(HOSTILE["tiny sentences"])

    with caplog.at_level(logging.WARNING, logger="bot.engine.engine"):
        answer = engine.summary(QUERY)

    assert isinstance(answer, SummaryAnswer)
    assert answer.summary == (EXCERPT,)
    (card,) = answer_cards(answer)
    assert card.description.endswith(EXCERPT)
    assert article.id in caplog.text and "budget" in caplog.text


def test_over_budget_the_answer_is_the_plain_excerpt(ticking_clock: None) -> None:
    engine, _ = engine_with(HOSTILE["tiny sentences"])

    answer = engine.ask(QUESTION)

    assert isinstance(answer, AskAnswer)
    assert answer.passage.text == EXCERPT
    (card,) = answer_cards(answer)
    assert card.description.startswith(f"> {EXCERPT}")


def test_over_budget_with_many_paragraphs_the_answer_is_the_plain_excerpt(
    ticking_clock: None,
) -> None:
    engine, _ = engine_with(HOSTILE["many paragraphs"])

    answer = engine.ask(QUESTION)

    assert isinstance(answer, AskAnswer)
    assert answer.passage.text == EXCERPT


def test_an_ordinary_article_is_summarised_and_answered_within_the_same_budget(
    ticking_clock: None,
) -> None:
    body = (
        "Clearview AI has signed a contract with ICE, records show.",
        "The agency is paying Clearview $224,000 for the licences, according to the filing.",
        "Critics said the deal was troubling for the privacy of millions of people.",
    )
    engine, _ = engine_with(body, excerpt="A short teaser about the Clearview ICE deal.")

    answer = engine.summary(QUERY)
    assert isinstance(answer, SummaryAnswer)
    assert answer.summary[0] == body[0]

    asked = engine.ask(QUESTION)
    assert isinstance(asked, AskAnswer)
    assert "$224,000" in asked.passage.text


def test_an_over_budget_answer_is_not_remembered(ticking_clock: None, monkeypatch) -> None:
    """A busy moment must not leave an article answered with its excerpt from then on."""
    engine, _ = engine_with(HOSTILE["tiny sentences"])
    answer = engine.summary(QUERY)
    assert isinstance(answer, SummaryAnswer) and answer.summary == (EXCERPT,)

    monkeypatch.setattr(budget, "clock", lambda: 0.0)  # time stands still: no budget runs out
    answer = engine.summary(QUERY)

    assert isinstance(answer, SummaryAnswer)
    assert answer.summary == ("Clearview pays ICE again.",)


# --- The pieces -------------------------------------------------------------------------------
def test_a_deadline_passes_only_after_its_seconds(ticking_clock: None) -> None:
    deadline = Deadline(0.005)  # read at tick 0: due at 5 ms
    for _ in range(5):
        deadline.check()  # ticks 1..5 ms
    with pytest.raises(OverBudget):
        deadline.check()  # 6 ms
    UNLIMITED.check()


def test_bounded_leaves_ordinary_bodies_alone() -> None:
    body = ("A first paragraph.", "A second one, a little longer than the first.")
    assert bounded(body) == body


def test_bounded_cuts_long_paragraphs_at_a_space_and_stops_at_the_limit() -> None:
    words = _repeat("word ", 3 * MAX_PARAGRAPH_CHARS)
    cut = bounded((words,) * 10)
    assert all(len(p) <= MAX_PARAGRAPH_CHARS for p in cut)
    assert all(p.endswith("word") for p in cut)
    assert MAX_TEXT_CHARS - 200 < sum(map(len, cut)) <= MAX_TEXT_CHARS
    assert len(cut) == MAX_TEXT_CHARS // MAX_PARAGRAPH_CHARS + 1  # the last fills what is left


def test_plain_excerpt_is_the_excerpt_cut_at_a_word() -> None:
    article = Article(id="c" * 16, title="T", excerpt=EXCERPT)
    assert plain_excerpt(article, 1000) == EXCERPT
    short = plain_excerpt(article, 30)
    assert short == "Clearview AI signed a…"
    assert len(short) <= 30
    huge = article._replace(excerpt=_repeat("word  \n"))
    assert len(plain_excerpt(huge, 700)) <= 700
    assert plain_excerpt(article._replace(excerpt=""), 100) == "T"


def test_the_cache_keeps_results_not_overruns_and_ignores_the_deadline() -> None:
    calls: list[str] = []

    @cached_within_budget(maxsize=8)
    def work(text: str, *, deadline: Deadline) -> str:
        calls.append(text)
        deadline.check()
        return text.upper()

    expired = Deadline(-1.0)
    with pytest.raises(OverBudget):
        work("a", deadline=expired)
    assert work("a", deadline=Deadline(10.0)) == "A"
    assert work("a", deadline=expired) == "A"  # cached: the deadline is not part of the key
    assert calls == ["a", "a"]
