"""Plain-text page scrapes: the article is kept, the page around it is dropped."""

from __future__ import annotations

from bot.corpus.formats import parse_bytes
from bot.corpus.model import Article, Problem

PAGE = """The Daily Example
Double Tap to Zoom
Share this article
url: https://www.example.com/news/ice-contract?utm_source=rss

ICE signed a contract with Clearview AI this week. Records show the deal.

Advertisement

The agency is paying $224,000 for "mission support".
It was first spotted by a nonprofit.

Photo: Getty Images
  • sponsored

A third paragraph closes the story.

## Read Next
  • Something else entirely
    • Sneakers
  • Another teaser
    • sponsored
"""


def parse(text: str, name: str = "page.txt") -> tuple[list[Article], list[Problem]]:
    result = parse_bytes(text.encode(), name, "." + name.rsplit(".", 1)[-1])
    return result.articles, result.problems


def test_article_paragraphs_kept_and_chrome_dropped() -> None:
    [article], problems = parse(PAGE)
    assert problems == []
    assert article.body == (
        "ICE signed a contract with Clearview AI this week. Records show the deal.",
        'The agency is paying $224,000 for "mission support". It was first spotted by a nonprofit.',
        "A third paragraph closes the story.",
    )
    text = article.text
    for chrome in ("Double Tap", "Share this", "Advertisement", "Getty", "sponsored", "Read Next"):
        assert chrome not in text
    assert "Sneakers" not in text and "Another teaser" not in text


def test_outlet_url_and_inferred_title() -> None:
    [article], _ = parse(PAGE)
    assert article.outlet.name == "The Daily Example"
    assert article.url == "https://example.com/news/ice-contract"
    assert article.urls == ("https://www.example.com/news/ice-contract?utm_source=rss",)
    assert article.title == "ICE signed a contract with Clearview AI this week."
    assert article.title_inferred
    assert article.provenance[0].title_inferred
    assert article.excerpt.startswith("ICE signed a contract")


def test_heading_gives_the_title_and_it_is_not_inferred() -> None:
    [article], _ = parse("The Outlet\n\n# The real headline\n\nFirst paragraph.\n", "a.md")
    assert article.title == "The real headline"
    assert not article.title_inferred
    assert article.body == ("First paragraph.",)


def test_long_first_sentence_is_cut_at_a_word() -> None:
    sentence = "word " * 60
    [article], _ = parse(f"Outlet\n\n{sentence.strip()}.\n")
    assert len(article.title) <= 120
    assert article.title.endswith("…")
    assert not article.title[:-1].endswith(" ")


def test_scrape_without_masthead_starts_with_the_article() -> None:
    [article], _ = parse("This page starts with a sentence.\n\nAnd goes on.\n")
    assert article.outlet.name == ""
    assert article.body == ("This page starts with a sentence.", "And goes on.")


def test_same_scrape_twice_gets_the_same_id() -> None:
    [a], _ = parse(PAGE, "one.txt")
    [b], _ = parse(PAGE, "two.txt")
    assert a.id == b.id


def test_only_chrome_is_an_error() -> None:
    articles, problems = parse("Outlet\nAdvertisement\nWe Recommend\n  • Teaser\n")
    assert articles == []
    assert [(p.severity, p.reason) for p in problems] == [
        ("error", "no article text found after removing site chrome")
    ]
