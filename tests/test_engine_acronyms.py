"""Acronyms and spelled-out names find each other, whichever form the reader types."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.acronyms import Acronyms
from bot.engine.engine import Engine
from tests.tiny_corpus import engine_over

# Words the corpus holds: an acronym in an article is one of them; "ban" is an ordinary word.
KNOWN = {"afp", "uc", "ban", "ferry"}.__contains__


def test_query_acronym_is_found_spelled_out_in_an_articles_opening() -> None:
    acronyms = Acronyms("ACLU lawsuit", ["aclu", "lawsuit"], KNOWN)
    opening = ["The American Civil Liberties Union sued the company in May."]
    assert acronyms.covered("Company sued", opening, {"aclu"}) == {"aclu"}
    assert acronyms.covered("Company sued", ["The union sued in May."], {"aclu"}) == set()


def test_linking_words_inside_a_name_are_skipped() -> None:
    opening = ["Agents of the Federal Bureau of Investigation arrived."]
    assert Acronyms("fbi raid", ["fbi", "raid"], KNOWN).covered("", opening, {"fbi"}) == {"fbi"}


def test_spelled_out_query_words_are_found_as_an_acronym_in_the_article() -> None:
    acronyms = Acronyms(
        "australian federal police clearview",
        ["australian", "federal", "police", "clearview"],
        KNOWN,
    )
    found = acronyms.covered("AFP used Clearview AI", [], {"australian", "federal", "police"})
    assert found == {"australian", "federal", "police"}


def test_two_letter_capitals_and_lowercase_words_spell_nothing() -> None:
    # "UC" would otherwise stand for "used clearview"; a lowercase phrase names nothing.
    acronyms = Acronyms("used clearview aclu", ["used", "clearview", "aclu"], KNOWN)
    assert (
        acronyms.covered("UC researchers", ["american civil liberties union"], {"used", "aclu"})
        == set()
    )


def test_an_ordinary_word_is_not_read_as_an_acronym() -> None:
    # "ban" typed in lowercase, and known to the corpus as a word, is not "Bay Area Network";
    # nor does part of a longer name spell a query word.
    opening = [
        "Riders of the Bay Area Network complained.",
        "The North Bay Area Network Cooperative.",
    ]
    assert Acronyms("ferry ban", ["ferry", "ban"], KNOWN).covered("", opening, {"ban"}) == set()
    typed = Acronyms("ferry BAN", ["ferry", "ban"], KNOWN)
    assert typed.covered("", opening[1:], {"ban"}) == set()
    assert typed.covered("", opening[:1], {"ban"}) == {"ban"}


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    docs = {
        "aclu": (
            "Civil rights group takes Zentrix to court",
            "The American Civil Liberties Union sued Zentrix over its face database.",
        ),
        "afp": ("AFP trialled Zentrix software", "Officers used the tool in child abuse cases."),
        "other": ("Zentrix opens an office in Oslo", "The company hired forty engineers."),
    }
    return engine_over(tmp_path, docs)


@pytest.mark.parametrize(
    ("query", "url"),
    [
        ("ACLU zentrix database", "https://example.com/aclu"),
        ("aclu sued zentrix", "https://example.com/aclu"),
        ("Australian Federal Police trialled Zentrix", "https://example.com/afp"),
    ],
)
def test_search_answers_with_the_article_naming_the_subject_the_other_way(
    engine: Engine, query: str, url: str
) -> None:
    result = engine.search(query)
    assert result.hits, result.not_found
    assert result.hits[0].article.url == url
