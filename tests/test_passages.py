"""Which passage a user sees quoted as the answer to a question, and how sentences are cut."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.corpus.loader import CorpusLoader
from bot.corpus.model import Article, Outlet
from bot.engine.passages import best_passage, likely_paragraphs
from bot.engine.text import excerpt_sentences, is_complete, sentences, stem, words

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PLAUSIBLE = ["Highsnobiety", "The Verge", "Business Insider", "KTVZ", "CNET"]
WORSE = ["CNET", "KTVZ", "Business Insider", "The Verge", "Highsnobiety"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Article]:
    db = tmp_path_factory.mktemp("db") / "c.db"
    snapshot, _, _ = CorpusLoader([SEEDS], db).load()
    by_outlet = {a.outlet.name: a for a in snapshot.articles.values()}
    assert set(by_outlet) == set(PLAUSIBLE), "the seed corpus should load as five articles"
    return by_outlet


def corpus_idf(articles: list[Article]):
    """An idf like the engine's: over whole articles, keyed by ``words`` tokens."""
    df = Counter(w for a in articles for w in set(words(a.title + " " + a.text)))
    n = len(articles)
    return lambda w: math.log((n + 1) / (df.get(w, 0) + 0.5))


def article(body: list[str] | None = None, *, excerpt: str = "", title: str = "T", id: str = "a"):
    return Article(id=id, title=title, excerpt=excerpt, body=tuple(body or ()), outlet=Outlet("X"))


def assert_clean_quote(text: str, source: Article) -> None:
    assert text == text.strip()
    assert text[0].isupper() or text[0] in "\"“'‘"
    assert is_complete(text), text
    assert len(text) <= 500
    assert text in " ".join(" ".join(source.body).split()) or text in source.excerpt


# --- The seed questions -------------------------------------------------------------------------


@pytest.mark.parametrize("order", [PLAUSIBLE, WORSE], ids=["plausible", "worse"])
@pytest.mark.parametrize("with_idf", [False, True], ids=["candidate-idf", "corpus-idf"])
def test_how_much_quotes_the_amount(seeds, order, with_idf) -> None:
    candidates = [seeds[name] for name in order]
    idf = corpus_idf(list(seeds.values())) if with_idf else None
    passage = best_passage("How much is ICE paying Clearview?", candidates, idf=idf)
    assert passage is not None
    assert "$224,000" in passage.text
    assert passage.article.outlet.name == "Highsnobiety"
    assert_clean_quote(passage.text, passage.article)
    assert 0 < passage.score <= 100


@pytest.mark.parametrize("order", [PLAUSIBLE, WORSE], ids=["plausible", "worse"])
@pytest.mark.parametrize("with_idf", [False, True], ids=["candidate-idf", "corpus-idf"])
def test_how_many_quotes_the_count(seeds, order, with_idf) -> None:
    candidates = [seeds[name] for name in order]
    idf = corpus_idf(list(seeds.values())) if with_idf else None
    passage = best_passage("How many images does Clearview have?", candidates, idf=idf)
    assert passage is not None
    assert "3 billion images" in passage.text
    assert_clean_quote(passage.text, passage.article)


def test_the_sentence_that_only_repeats_the_question_loses(seeds) -> None:
    # The lead names ICE, a contract and Clearview but no amount; it must not be the answer.
    passage = best_passage("How much is ICE paying Clearview?", [seeds[n] for n in PLAUSIBLE])
    assert passage is not None
    assert not passage.text.startswith("In a sinister partnership")


def test_who_finds_the_named_person_in_the_seeds(seeds) -> None:
    passage = best_passage("Who is the CEO of Clearview?", [seeds[n] for n in WORSE])
    assert passage is not None
    assert "Hoan Ton-That" in passage.text


def test_better_ranked_candidates_score_higher(seeds) -> None:
    first = best_passage("How much is ICE paying Clearview?", [seeds[n] for n in PLAUSIBLE])
    last = best_passage("How much is ICE paying Clearview?", [seeds[n] for n in WORSE])
    assert first is not None and last is not None
    assert first.text == last.text
    assert first.score > last.score


def test_no_shared_word_means_no_passage(seeds) -> None:
    assert best_passage("What is the weather on Mars?", list(seeds.values())) is None
    assert best_passage("How much is ICE paying Clearview?", []) is None
    assert best_passage("Who?", list(seeds.values())) is None


# --- Answer types on constructed articles --------------------------------------------------------


def test_when_picks_the_sentence_with_the_date() -> None:
    a = article(
        [
            "Critics of the facial recognition ban said the city approved the ban too quickly. "
            "The council first discussed the ban in a long meeting. "
            "The ban was approved on March 3, 2021, after months of debate.",
        ]
    )
    passage = best_passage("When was the facial recognition ban approved?", [a])
    assert passage is not None
    assert "March 3, 2021" in passage.text
    assert "too quickly" not in passage.text


def test_who_picks_the_named_sentence() -> None:
    a = article(
        [
            "The lawsuit against the camera maker is the third this year. "
            "The lawsuit was filed by Jane Doe, a privacy lawyer. "
            "The lawsuit seeks damages for every resident whose face was scanned."
        ]
    )
    passage = best_passage("Who filed the lawsuit against the camera maker?", [a])
    assert passage is not None
    assert "Jane Doe" in passage.text


def test_where_picks_the_place() -> None:
    a = article(
        [
            "The robotaxi service will launch after regulators approve the robotaxi rules.",
            "The company said the service will launch in Phoenix first.",
        ]
    )
    passage = best_passage("Where will the robotaxi service launch?", [a])
    assert passage is not None
    assert "Phoenix" in passage.text


def test_how_many_prefers_a_count_to_a_year() -> None:
    a = article(
        [
            "Acme was founded in 2015 and its employees work from home.",
            "Acme now has 4,500 employees in nine countries.",
        ]
    )
    passage = best_passage("How many employees does Acme have?", [a])
    assert passage is not None
    assert "4,500" in passage.text


def test_how_much_with_euros_and_millions_and_stemming() -> None:
    a = article(
        [
            "The city bought the cameras from a local firm last spring.",
            "The city spent €3.5 million on the new cameras, officials said.",
        ]
    )
    passage = best_passage("How much is the city spending on cameras?", [a])
    assert passage is not None
    assert "€3.5 million" in passage.text


def test_the_amount_next_to_the_sentence_naming_the_subject_wins() -> None:
    a = article(
        [
            "Separately, the city will pay $50,000 for new parking meters.",
            "ICE signed a deal with Clearview this week. The agency will pay $224,000 over two "
            "years.",
        ]
    )
    passage = best_passage("How much will ICE pay Clearview?", [a])
    assert passage is not None
    assert "$224,000" in passage.text


def test_inflected_question_words_meet_the_article() -> None:
    a = article(
        [
            "Acme has $5 million in cash and a large archive, according to its filings.",
            "Acme paid $3 million for the image library.",
        ]
    )
    passage = best_passage("How much did Acme pay for the images?", [a])
    assert passage is not None
    assert passage.text == "Acme paid $3 million for the image library."


def test_a_pronoun_answer_is_quoted_with_the_sentence_it_refers_to() -> None:
    a = article(
        [
            "Clearview signed a licensing deal with the border agency. "
            "It is worth $224,000 over two years, according to records. "
            "Other vendors were not considered."
        ]
    )
    passage = best_passage("How much is the Clearview deal worth?", [a])
    assert passage is not None
    assert passage.text.startswith("Clearview signed")
    assert "$224,000" in passage.text
    assert "Other vendors" not in passage.text
    single = best_passage("How much is the Clearview deal worth?", [a], max_sentences=1)
    assert single is not None and len(sentences(single.text)) == 1


def test_passages_stay_short_and_whole() -> None:
    long_sentence = "The agency paid for licences " + "and support " * 40 + "last year."
    a = article([long_sentence + " It also paid $5 for a coffee. " + long_sentence])
    passage = best_passage("How much did the agency pay for a coffee?", [a])
    assert passage is not None
    assert "$5" in passage.text
    assert len(passage.text) <= 500
    assert is_complete(passage.text)


def test_supplied_idf_decides_which_word_matters() -> None:
    a = article(["Robots are cheap to build. Sensors are hard to calibrate."])
    rare_robots = best_passage("robots sensors", [a], idf=lambda w: 5.0 if w == "robots" else 0.5)
    rare_sensors = best_passage("robots sensors", [a], idf=lambda w: 5.0 if w == "sensors" else 0.5)
    assert rare_robots is not None and rare_sensors is not None
    assert rare_robots.text.startswith("Robots")
    assert rare_sensors.text.startswith("Sensors")


def test_equal_passages_go_to_the_better_ranked_candidate() -> None:
    first = article(["Acme now has 4,500 employees."], id="first")
    second = article(["Acme now has 4,500 employees."], id="second")
    assert best_passage("How many employees?", [first, second]).article.id == "first"
    assert best_passage("How many employees?", [second, first]).article.id == "second"


def test_headings_and_questions_in_a_body_are_not_answers() -> None:
    a = article(
        [
            "Clearview contract with ICE",
            "What does the Clearview contract with ICE mean?",
            "Records show the Clearview contract is worth $224,000.",
        ]
    )
    passage = best_passage("What is the Clearview contract with ICE?", [a])
    assert passage is not None
    assert passage.text == "Records show the Clearview contract is worth $224,000."


def test_excerpt_only_article_never_quotes_a_cut_off_fragment() -> None:
    a = article(
        excerpt="Portland banned facial recognition in stores. The ban also covers private "
        "businesses and cou",
        title="Portland bans facial recognition",
    )
    passage = best_passage("Does the Portland ban cover private businesses?", [a])
    assert passage is not None
    assert "cou" not in passage.text.split()
    assert is_complete(passage.text) or passage.text == "Portland bans facial recognition"


def test_title_is_quoted_when_there_is_nothing_else() -> None:
    a = article(title="Portland considers nation's strongest facial-recognition ban")
    passage = best_passage("What is Portland considering?", [a])
    assert passage is not None
    assert passage.text == "Portland considers nation's strongest facial-recognition ban"


# --- Sentences and stems --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith paid $224,000 to Acme Inc. The deal closed.",
            ["Dr. Smith paid $224,000 to Acme Inc.", "The deal closed."],
        ),
        (
            "Several U.S. cities banned it. The U.S. Army objected. He moved to the U.S. They too.",
            [
                "Several U.S. cities banned it.",
                "The U.S. Army objected.",
                "He moved to the U.S.",
                "They too.",
            ],
        ),
        (
            "It grew 3.5 times in 2020. Then it fell.",
            ["It grew 3.5 times in 2020.", "Then it fell."],
        ),
        (
            "John F. Kennedy spoke. J. K. Rowling wrote. On Jan. 19, 2021, it shipped.",
            ["John F. Kennedy spoke.", "J. K. Rowling wrote.", "On Jan. 19, 2021, it shipped."],
        ),
        (
            "It is for “Clearview licenses.” The firm, e.g. Apple, sued.",
            ["It is for “Clearview licenses.”", "The firm, e.g. Apple, sued."],
        ),
        (
            '"Is it legal?" she asked. "No!" He left.',
            ['"Is it legal?" she asked.', '"No!"', "He left."],
        ),
        (
            "Heading\n\nFirst para. Second.\n• a bullet",
            ["Heading", "First para.", "Second.", "a bullet"],
        ),
        ("  No final stop  ", ["No final stop"]),
    ],
)
def test_sentence_splitting(text, expected) -> None:
    assert sentences(text) == expected


def test_cut_off_excerpts() -> None:
    cut = (
        "Seven officers have conducted searches on the Clearview AI facial recognition platform. "
        "Share. Contact. Read full article: AFP used Clearview AI facial recognition software to "
        "cou"
    )
    assert excerpt_sentences(cut)[-1] == "Contact."
    assert excerpt_sentences(
        "Critics argue it helps with violent crimes, terrorist threats and"
    ) == ["Critics argue it helps with violent crimes, terrorist threats and…"]
    assert excerpt_sentences("Facebook improved it. Way back in 2016,") == ["Facebook improved it."]
    assert excerpt_sentences("It was built in a week and ...") == ["It was built in a week and…"]
    assert not is_complete("than ...")
    assert is_complete("the EU data protection regime.”")


def test_stems_meet_across_inflections() -> None:
    assert stem("paying") == stem("paid") == stem("pays") == stem("pay")
    assert stem("images") == stem("image")
    assert stem("companies") == stem("company")
    assert stem("stopped") == stem("stop")
    assert re.fullmatch(r"\d+", stem("224000"))


def test_likely_paragraphs_keep_the_kind_of_answer_asked_for_in_body_order() -> None:
    body = (
        "Clearview AI signed a controversial contract with ICE this week.",
        "The controversial contract covers Clearview licenses for the agency.",
        "The agency is paying Clearview $224,000 for them.",
        "Critics said the deal was a surprise.",
    )
    held = [2.0, 2.0, 1.0, 0.0]  # the question's words each paragraph holds
    # Only the third holds an amount: it outranks paragraphs holding more of the words.
    assert likely_paragraphs("How much is ICE paying Clearview?", body, held, 2) == (
        body[0],
        body[2],
    )
    # A question not asking for an amount keeps the paragraphs holding most of it; one
    # holding none of it is never kept.
    assert likely_paragraphs("Clearview ICE contract", body, held, 3) == body[:3]


def test_how_long_quotes_the_duration_not_any_figure() -> None:
    figure = (
        "Amazon will keep police from using its facial recognition tool, which 2,000 police "
        "departments bought."
    )
    for duration in ("The pause lasts one year, Amazon said.", "Amazon set a 90-day pause."):
        a = article([f"{figure} {duration}"])
        question = "How long will Amazon keep police from using its facial recognition?"
        passage = best_passage(question, [a])
        assert passage is not None
        assert duration in passage.text, passage.text


def test_how_long_ago_still_asks_for_a_date() -> None:
    a = article(
        [
            "The ban on police use of facial recognition lasts a year.",
            "The ban on police use of facial recognition was passed in 2019.",
        ]
    )
    passage = best_passage("How long ago was the police facial recognition ban passed?", [a])
    assert passage is not None
    assert "2019" in passage.text


def test_how_long_is_not_answered_by_ago_a_rate_or_the_question_itself() -> None:
    a = article(
        [
            "The police camera ban passed a year ago and costs the city $5 million a year. "
            "The ban runs for two years."
        ]
    )
    passage = best_passage("How long does the police camera ban last?", [a])
    assert passage is not None
    assert "for two years" in passage.text
    b = article(
        [
            "Amazon announced a 90-day pause on police use of its face recognition. "
            "The pause now runs six months longer, Amazon said."
        ]
    )
    passage = best_passage("How long will Amazon extend its 90-day pause?", [b])
    assert passage is not None
    assert "six months" in passage.text
