"""URL variants of one article canonicalise to one address, and files reaching one article
through different variants merge into one record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.urls import canonical_url, is_web_url

STORY = "https://example.com/news/story-one"


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/news/story-one",
        "https://www.example.com/news/story-one",
        "http://example.com/news/story-one",
        "HTTPS://WWW.EXAMPLE.COM/news/story-one",
        "https://example.com./news/story-one",
        "https://example.com:443/news/story-one",
        "https://example.com/news/story-one/",
        "https://example.com/news/story-one#comments",
        "https://example.com/news/story-one?utm_source=twitter&utm_medium=social",
        "https://example.com/news/story-one?fbclid=IwAR0abc&gclid=xyz",
        "https://example.com/news/story-one?ref=homepage&ocid=msn",
        "https://example.com/news/story-one?amp",
        "https://example.com/news/story-one?amp=1",
        "https://example.com/amp/news/story-one",
        "https://example.com/news/story-one/amp/",
        "https://example.com/news/story-one/amp",
        "https://example.com/news/story-one.amp",
        "https://example.com/news/story-one.amp.html",
        "https://example.com/platform/amp/news/story-one",
        "https://example.com/google-amp/news/story-one/",
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story-one?amp",
        "https://www-example-com.cdn.ampproject.org/c/s/example.com/amp/news/story-one/",
        "https://example-com.cdn.ampproject.org/c/example.com/news/story-one",
        "https://example.com/news/story-one?code=abc-123&error=cookies_not_supported",
    ],
)
def test_variants_share_one_canonical_url(variant: str) -> None:
    assert canonical_url(variant) == STORY


def test_meaningful_query_parameters_are_kept_and_sorted() -> None:
    assert canonical_url("https://example.com/watch?v=abc&list=x&utm_campaign=y") == (
        "https://example.com/watch?list=x&v=abc"
    )
    assert canonical_url("https://example.com/a?id=1") != canonical_url(
        "https://example.com/a?id=2"
    )


def test_path_case_and_amp_lookalikes_are_kept() -> None:
    assert canonical_url("https://Example.com/News/Story") == "https://example.com/News/Story"
    assert canonical_url("https://example.com/summer-camp/amp-stories-guide") == (
        "https://example.com/summer-camp/amp-stories-guide"
    )


def test_non_default_port_is_kept() -> None:
    assert canonical_url("http://example.com:8080/a/") == "https://example.com:8080/a"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "not a url",
        "example.com/news/story-one",
        "//example.com/news/story-one",
        "ftp://example.com/file.txt",
        "javascript:alert(1)",
        "mailto:editor@example.com",
        "https://",
        "http://exa mple.com/story",
        "https://example.com:99999/story",
        "file:///etc/passwd",
    ],
)
def test_invalid_urls_are_rejected(bad: str) -> None:
    assert not is_web_url(bad)
    with pytest.raises(ValueError, match="not an http"):
        canonical_url(bad)


def test_non_strings_are_not_urls() -> None:
    for value in (None, 42, ["https://example.com"], {"url": "https://example.com"}):
        assert not is_web_url(value)


def load(root: Path, db: Path) -> CorpusSnapshot:
    loader = CorpusLoader([str(root)], db)
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    return snapshot


def test_same_article_in_two_files_merges_keeping_richest_fields(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text(
        "---\n"
        'title: "Story one"\n'
        'webUrl: "https://www.example.com/news/story-one/?utm_source=rss"\n'
        'excerpt: "Short."\n'
        "provider:\n  name: Example News\n"
        "topics: [Privacy]\n"
        "---\n",
        encoding="utf-8",
    )
    (corpus / "b.json").write_text(
        json.dumps(
            {
                "title": "Story one",
                "link": "https://example-com.cdn.ampproject.org/c/s/example.com/news/story-one/amp/",
                "summary": "A much longer excerpt that says more about the story.",
                "date": "2020-08-14T10:00:00-04:00",
                "source": {"name": "Example News", "domain": "example.com"},
                "tags": ["Privacy", "Surveillance"],
                "content": "First paragraph.\n\nSecond paragraph.",
                "images": [{"url": "https://example.com/lead.jpg", "width": 800, "height": 400}],
            }
        ),
        encoding="utf-8",
    )
    snapshot = load(corpus, tmp_path / "db.sqlite")

    assert snapshot.problems == []
    [article] = snapshot.articles.values()
    assert article.url == STORY
    assert set(article.urls) == {
        "https://www.example.com/news/story-one/?utm_source=rss",
        "https://example-com.cdn.ampproject.org/c/s/example.com/news/story-one/amp/",
    }
    assert article.excerpt == "A much longer excerpt that says more about the story."
    assert article.body == ("First paragraph.", "Second paragraph.")
    assert article.published == datetime(2020, 8, 14, 14, 0, tzinfo=UTC)
    assert article.outlet.name == "Example News"
    assert article.outlet.domain == "example.com"
    assert article.topics == ("Privacy", "Surveillance")
    assert [i.url for i in article.images] == ["https://example.com/lead.jpg"]
    assert sorted(Path(p.path).name for p in article.provenance) == ["a.md", "b.json"]
    assert snapshot.duplicates_merged == 1
    assert snapshot.related_merged == 0


def test_related_entry_merges_into_the_file_that_describes_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.md").write_text(
        "---\n"
        "title: Story one\n"
        "webUrl: https://example.com/news/story-one\n"
        "publishedDateTime: 2020-08-14T10:00:00Z\n"
        "---\n"
        "The story's own text.\n",
        encoding="utf-8",
    )
    (corpus / "roundup.yaml").write_text(
        "title: Weekly roundup\n"
        "url: https://other.org/roundup\n"
        "related:\n"
        "  - title: Story one\n"
        "    webUrl: https://www.example.com/amp/news/story-one?utm_medium=email\n"
        "    excerpt: Listed under the roundup.\n",
        encoding="utf-8",
    )
    snapshot = load(corpus, tmp_path / "db.sqlite")

    assert snapshot.problems == []
    assert len(snapshot.articles) == 2
    story = next(a for a in snapshot.articles.values() if a.url == STORY)
    roundup = next(a for a in snapshot.articles.values() if a.title == "Weekly roundup")
    assert story.body == ("The story's own text.",)
    assert story.excerpt == "Listed under the roundup."
    assert {p.kind for p in story.provenance} == {"file", "related"}
    assert story.from_file
    assert story.related == (roundup.id,)
    assert roundup.related == (story.id,)
    assert snapshot.related_merged == 1
    assert snapshot.duplicates_merged == 0


def test_one_url_under_unrelated_titles_keeps_the_one_matching_the_url(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    url = "https://example.com/2020/08/clearview-signs-ice-contract"
    (corpus / "a.jsonl").write_text(
        json.dumps({"title": "Clearview signs ICE contract", "url": url})
        + "\n"
        + json.dumps({"title": "Weather for the weekend", "url": url + "?amp"})
        + "\n",
        encoding="utf-8",
    )
    snapshot = load(corpus, tmp_path / "db.sqlite")
    [article] = snapshot.articles.values()
    assert article.title == "Clearview signs ICE contract"
    assert article.alt_titles == ("Weather for the weekend",)
    [warning] = snapshot.warnings
    assert "one URL under 2 titles" in warning.reason
    assert "Weather for the weekend" in warning.reason
