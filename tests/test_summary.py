"""What a user sees as an article's summary: a few quoted sentences, never invented text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.corpus.loader import CorpusLoader
from bot.corpus.model import Article, Outlet
from bot.engine.summary import MAX_SUMMARY_CHARS, summarize
from bot.engine.text import is_complete

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Article]:
    db = tmp_path_factory.mktemp("db") / "c.db"
    snapshot, _, _ = CorpusLoader([SEEDS], db).load()
    by_outlet = {a.outlet.name: a for a in snapshot.articles.values()}
    assert len(by_outlet) == 5, "the seed corpus should load as five articles"
    return by_outlet


def article(body: list[str] | None = None, *, excerpt: str = "", id: str = "a") -> Article:
    return Article(id=id, title="T", excerpt=excerpt, body=tuple(body or ()), outlet=Outlet("X"))


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_in_order_and_quoted(summary: tuple[str, ...], source: str) -> None:
    """Every sentence is verbatim from the source, and they keep the source's order."""
    source = flat(source)
    positions = [source.find(s) for s in summary]
    assert all(p >= 0 for p in positions), summary
    assert positions == sorted(positions)


def assert_within_limits(summary: tuple[str, ...]) -> None:
    assert 1 <= len(summary) <= 4
    assert len(" ".join(summary)) <= MAX_SUMMARY_CHARS
    assert all(s == s.strip() for s in summary)


# --- Seeds ----------------------------------------------------------------------------------------


def test_highsnobiety_summary_leads_with_the_lead_and_carries_a_figure(seeds) -> None:
    hs = seeds["Highsnobiety"]
    summary = summarize(hs)
    assert summary[0].startswith("In a sinister partnership")
    assert any("$224,000" in s or "3 billion images" in s for s in summary)
    assert len(summary) >= 2
    assert_within_limits(summary)
    assert_in_order_and_quoted(summary, " ".join(hs.body))


def test_highsnobiety_summary_skips_teasers_headings_and_questions(seeds) -> None:
    summary = summarize(seeds["Highsnobiety"])
    assert "Here's why this pairing is especially concerning." not in summary
    assert "Clearview AI's controversial history" not in summary
    assert not any(s.endswith("?") for s in summary)


def test_a_query_pulls_in_the_sentence_it_asks_about(seeds) -> None:
    summary = summarize(seeds["Highsnobiety"], query="Hoan Ton-That CEO minors")
    assert any("Hoan Ton-That" in s for s in summary)
    assert summary[0].startswith("In a sinister partnership")
    assert_within_limits(summary)


def test_excerpt_only_seed_is_its_excerpt(seeds) -> None:
    verge = seeds["The Verge"]
    assert summarize(verge) == (verge.excerpt,)


def test_cut_off_excerpt_drops_the_fragment(seeds) -> None:
    # "…the Portland City Council is considering two ordinances. The first"
    summary = summarize(seeds["KTVZ"])
    assert summary == (
        "Portland is poised to pass the strongest ban on facial-recognition technology in the "
        "country next month.",
        "Nearly a year in the making, the Portland City Council is considering two ordinances.",
    )


def test_a_lone_cut_off_excerpt_is_marked_not_completed(seeds) -> None:
    # "…to help deal with violent crimes, terrorist threats and"
    cnet = seeds["CNET"]
    (only,) = summarize(cnet)
    assert only.endswith("…")
    assert flat(cnet.excerpt).startswith(only[:-1])


# --- Constructed articles -------------------------------------------------------------------------


def test_feed_debris_and_read_more_teasers_are_dropped() -> None:
    a = article(
        excerpt="Seven officers have conducted searches on the Clearview AI facial recognition "
        "platform. Share. Contact. Read full article: AFP used Clearview AI facial recognition "
        "software to cou"
    )
    assert summarize(a) == (
        "Seven officers have conducted searches on the Clearview AI facial recognition platform.",
    )


def test_long_bodies_stay_within_four_sentences_and_700_characters() -> None:
    body = [
        f"Paragraph {i} says the robot fleet expanded to {i} new cities as the robot maker grew "
        f"its delivery business and hired more engineers to build robots. The robot maker said "
        f"demand for delivery robots kept rising in city {i}."
        for i in range(1, 15)
    ]
    summary = summarize(article(body))
    assert_within_limits(summary)
    assert len(summary) >= 2
    assert summary[0].startswith("Paragraph 1 says")
    assert_in_order_and_quoted(summary, " ".join(body))
    assert len(summarize(article(body), max_sentences=2)) == 2


def test_long_sentences_mean_fewer_of_them() -> None:
    body = [
        "The city council voted on Tuesday to ban facial recognition cameras in every public "
        "building, ending a year of hearings in which residents, shop owners and civil liberties "
        "groups argued over whether the technology made neighbourhoods safer or simply watched "
        "people who had done nothing wrong.",
        "Police officials told the council that the cameras had helped them identify suspects in "
        "several burglaries last winter, but they conceded under questioning that no arrest had "
        "depended on the software alone and that officers had never audited how often it "
        "matched the wrong person.",
        "Several shop owners said they had installed the cameras after a wave of thefts and now "
        "worried that removing them would cost money they did not have, while others welcomed "
        "the ban as a chance to stop paying monthly licence fees to a vendor they barely knew.",
        "Civil liberties lawyers praised the vote as the strongest such ban in the state and "
        "promised to watch closely how the police department complies, noting that similar "
        "rules elsewhere had been weakened within months by exemptions written into budgets.",
        "The mayor has ten days to sign or veto the ordinance, and her office said on Wednesday "
        "that she was still reading the final text, which the council amended twice during a "
        "session that ran past midnight and ended with a narrow vote of five to four.",
    ]
    assert all(240 < len(s) < 350 for s in body)
    summary = summarize(article(body))
    assert len(" ".join(summary)) <= MAX_SUMMARY_CHARS
    assert len(summary) == 2
    assert summary[0] == body[0]


def test_one_giant_sentence_is_cut_at_a_word_and_marked() -> None:
    giant = "The ban " + "covers cameras and " * 60 + "sensors."
    (only,) = summarize(article([giant]))
    assert len(only) <= MAX_SUMMARY_CHARS
    assert only.endswith("…")
    assert giant.startswith(only[:-1].rstrip())


def test_headings_questions_and_teasers_in_a_body_are_skipped() -> None:
    body = [
        "Background",
        "Portland banned facial recognition in shops and restaurants on Wednesday.",
        "Why does it matter?",
        "Read more: Our full coverage of facial recognition bans",
        "Here's why the Portland ban is different.",
        "The ban also applies to city agencies, which stopped using the cameras last year.",
        "Related: Boston banned it too",
    ]
    summary = summarize(article(body))
    assert summary == (
        "Portland banned facial recognition in shops and restaurants on Wednesday.",
        "The ban also applies to city agencies, which stopped using the cameras last year.",
    )


def test_summary_prefers_central_sentences_and_skips_repeats() -> None:
    body = [
        "The startup unveiled a delivery robot for city sidewalks on Monday.",
        "Its founder once worked as a chef in Paris.",
        "The delivery robot carries groceries along sidewalks at walking speed.",
        "The delivery robot carries groceries along sidewalks at walking speed, the startup said.",
        "Cities must approve each delivery robot before it can use sidewalks.",
    ]
    summary = summarize(article(body), max_sentences=3)
    assert summary[0] == body[0]
    assert body[1] not in summary  # off-topic, though early
    assert not (body[2] in summary and body[3] in summary)  # one of two near-duplicates
    assert body[4] in summary


def test_lead_bias_keeps_an_early_sentence_over_a_more_central_late_one() -> None:
    body = [
        "The startup unveiled a delivery robot for city sidewalks on Monday.",
        "The robot carries groceries to homes nearby.",
        "Engineers tested the software for months in a parking lot.",
        "The weather in Austin was unusually mild during the tests.",
        "Reporters watched a demonstration at the headquarters.",
        "Its delivery robot carries groceries along city sidewalks.",
    ]
    assert summarize(article(body), max_sentences=2) == (body[0], body[1])


def test_excerpt_of_one_sentence_is_returned_as_is() -> None:
    excerpt = "Facial recognition is unreliable, according to a British court."
    assert summarize(article(excerpt=excerpt)) == (excerpt,)


def test_excerpt_that_is_only_a_question_is_still_returned() -> None:
    excerpt = "Will your Ring security camera know your face soon?"
    assert summarize(article(excerpt=excerpt)) == (excerpt,)


def test_nothing_to_summarize() -> None:
    assert summarize(article()) == ()


def test_summaries_end_with_whole_sentences_when_there_are_any() -> None:
    a = article(
        excerpt="Facebook improved its photo descriptions for blind users. It also added faces. "
        "Way back in 2016,"
    )
    summary = summarize(a)
    assert summary == (
        "Facebook improved its photo descriptions for blind users.",
        "It also added faces.",
    )
    assert all(is_complete(s) for s in summary)
