"""The two seed files parse to exactly the five articles a reader would expect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.model import Article, Outlet

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SCRAPE = "000_4a4bd75777b53fff.txt"
RECORD = "003_ada7c173de585412.txt"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> CorpusSnapshot:
    loader = CorpusLoader([str(SEEDS)], tmp_path_factory.mktemp("db") / "coverage.db")
    try:
        snap, _, _ = loader.load()
    finally:
        loader.close()
    return snap


def by_outlet(snapshot: CorpusSnapshot, name: str) -> Article:
    [article] = [a for a in snapshot.articles.values() if a.outlet.name == name]
    return article


def test_seeds_yield_exactly_five_articles_without_problems(snapshot: CorpusSnapshot) -> None:
    assert sorted(a.outlet.name for a in snapshot.articles.values()) == [
        "Business Insider",
        "CNET",
        "Highsnobiety",
        "KTVZ",
        "The Verge",
    ]
    assert snapshot.problems == []
    assert len(snapshot.files) == 2
    assert snapshot.related_merged == 0
    assert snapshot.duplicates_merged == 0


def test_highsnobiety_scrape_keeps_the_article_and_drops_site_chrome(
    snapshot: CorpusSnapshot,
) -> None:
    article = by_outlet(snapshot, "Highsnobiety")
    assert article.body[0].startswith("In a sinister partnership that has all the makings")
    assert article.body[-1].startswith("ICE has its own deeply worrying history")
    assert len(article.body) == 12
    assert "Clearview AI's controversial history" in article.body
    text = "\n".join(article.body)
    for chrome in (
        "Double Tap to Zoom",
        "We Recommend",
        "What To Read Next",
        "Sneakers",
        "sponsored",
        "Nike",
        "Accessories",
    ):
        assert chrome not in text
    assert article.url is None
    assert article.published is None
    assert article.related == ()


def test_highsnobiety_title_is_inferred_and_says_so(snapshot: CorpusSnapshot) -> None:
    article = by_outlet(snapshot, "Highsnobiety")
    assert article.title.startswith("In a sinister partnership")
    assert len(article.title) <= 120
    assert article.title_inferred
    [source] = article.provenance
    assert source.title_inferred
    assert source.kind == "file"
    assert source.path.endswith(SCRAPE)


def test_business_insider_record(snapshot: CorpusSnapshot) -> None:
    article = by_outlet(snapshot, "Business Insider")
    assert article.title == (
        "ICE just signed a contract with Clearview AI, the controversial facial recognition "
        "company that scrapes photos from social media"
    )
    assert article.outlet == Outlet("Business Insider", "businessinsider.com")
    assert article.published == datetime(2020, 8, 14, 19, 9, tzinfo=UTC)
    assert article.published.utcoffset().total_seconds() == 0
    assert article.url == (
        "https://businessinsider.com/ice-clearview-ai-sign-contract-facial-recognition-2020-8"
    )
    assert article.urls == (
        "https://www.businessinsider.com/ice-clearview-ai-sign-contract-facial-recognition-2020-8",
        "https://www.businessinsider.com/ice-clearview-ai-sign-contract-facial-recognition-2020-8?amp",
        "https://www-businessinsider-com.cdn.ampproject.org/c/s/www.businessinsider.com/"
        "ice-clearview-ai-sign-contract-facial-recognition-2020-8?amp",
    )
    assert article.excerpt.startswith("ICE is known to use facial recognition technology")
    assert article.topics == ("Computer Vision", "AI", "Facebook AI")
    assert [(i.width, i.height) for i in article.images] == [(1200, 600)]
    assert (article.quality, article.heat, article.type, article.category) == (
        77,
        -1,
        "article",
        "news",
    )
    assert not article.title_inferred
    [source] = article.provenance
    assert (source.kind, source.line, source.via) == ("file", 1, None)
    assert source.path.endswith(RECORD)


@pytest.mark.parametrize(
    ("outlet", "domain", "title", "published", "url", "line"),
    [
        (
            "CNET",
            "cnet.com",
            "In China, facial recognition, public shaming and control go hand in hand",
            datetime(2020, 8, 11, 12, 2, tzinfo=UTC),
            "https://cnet.com/news/in-china-facial-recognition-public-shaming-and-control-go-hand-in-hand",
            34,
        ),
        (
            "The Verge",
            "theverge.com",
            "ICE just signed a contract with facial recognition company Clearview AI",
            datetime(2020, 8, 14, 17, 42, tzinfo=UTC),
            "https://theverge.com/2020/8/14/21368930/clearview-ai-ice-contract-privacy-immigration",
            50,
        ),
        (
            "KTVZ",
            "ktvz.com",
            "Portland considers nation’s strongest facial-recognition ban",
            datetime(2020, 8, 14, 6, 13, tzinfo=UTC),
            "https://ktvz.com/news/oregon-northwest/2020/08/13/"
            "portland-considers-nations-strongest-facial-recognition-ban",
            66,
        ),
    ],
)
def test_related_entries_become_articles_linked_both_ways(
    snapshot: CorpusSnapshot,
    outlet: str,
    domain: str,
    title: str,
    published: datetime,
    url: str,
    line: int,
) -> None:
    main = by_outlet(snapshot, "Business Insider")
    article = by_outlet(snapshot, outlet)
    assert article.title == title
    assert article.outlet == Outlet(outlet, domain)
    assert article.published == published
    assert article.url == url
    assert article.id in main.related
    assert article.related == (main.id,)
    assert not article.from_file
    [source] = article.provenance
    assert (source.kind, source.via, source.line) == ("related", main.id, line)
    assert source.path.endswith(RECORD)


def test_business_insider_lists_its_related_articles_in_file_order(
    snapshot: CorpusSnapshot,
) -> None:
    main = by_outlet(snapshot, "Business Insider")
    assert [snapshot.articles[i].outlet.name for i in main.related] == ["CNET", "The Verge", "KTVZ"]


def test_verge_keeps_every_url_variant(snapshot: CorpusSnapshot) -> None:
    verge = by_outlet(snapshot, "The Verge")
    assert len(verge.urls) == 3
    assert any("/platform/amp/" in u for u in verge.urls)
    assert any("cdn.ampproject.org" in u for u in verge.urls)


def test_ids_are_stable_across_loads(snapshot: CorpusSnapshot, tmp_path: Path) -> None:
    loader = CorpusLoader([str(SEEDS)], tmp_path / "other.db")
    try:
        again, _, _ = loader.load()
    finally:
        loader.close()
    assert set(again.articles) == set(snapshot.articles)
    assert again.articles == snapshot.articles
