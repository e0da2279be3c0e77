"""Links are shown as the publisher gave them; the canonical URL only names the article.

The canonical form drops ``www.``, tracking parameters and AMP paths so that every address of
one article meets in one key, but not every site serves it: a card, the console, a digest and
the CLI link the article's ``webUrl`` as given (then its ``originalUrl``, an AMP copy only when
a source gave nothing else), and merging and deduplication go on using the canonical form.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.answers import to_json, to_text
from bot.cli import main
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.model import Article, article_id
from bot.digests.cards import digest_message
from bot.digests.models import Digest, DigestItem, StoryGroup
from bot.engine.engine import Engine
from bot.engine.results import AskAnswer, NotFound, SourceAnswer, SummaryAnswer
from bot.render import Card, answer_cards, link
from tests.test_corpus_cache import load

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
VERGE = "https://www.theverge.com/2020/8/14/21368930/clearview-ai-ice-contract-privacy-immigration"
VERGE_CANONICAL = (
    "https://theverge.com/2020/8/14/21368930/clearview-ai-ice-contract-privacy-immigration"
)
BUSINESS_INSIDER = (
    "https://www.businessinsider.com/ice-clearview-ai-sign-contract-facial-recognition-2020-8"
)
GIVEN = {"The Verge": VERGE, "Business Insider": BUSINESS_INSIDER}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    snapshot, _ = load([str(SEEDS)], tmp_path_factory.mktemp("db") / "c.db")
    return Engine(snapshot)


def shown(card: Card) -> str:
    """Everything a card shows that can hold a link."""
    return "\n".join([card.url or "", card.description, *(f.value for f in card.fields)])


def field(card: Card, name: str) -> str:
    return next(f.value for f in card.fields if f.name == name)


# ------------------------------------------------------------------------- the seeds
def test_the_source_card_links_the_verge_as_its_webUrl_gives_it(engine: Engine) -> None:
    answer = engine.source("verge clearview")
    assert isinstance(answer, SourceAnswer)
    article = answer.hit.article
    assert article.outlet.name == "The Verge"
    assert article.url == VERGE_CANONICAL  # identity is still the canonical form
    [card] = answer_cards(answer)
    assert card.url == VERGE
    assert f"]({VERGE})" in field(card, "First reported by")
    assert f"]({BUSINESS_INSIDER})" in field(card, "Also covered by")
    # The AMP page and the AMP cache copy are the same place as the link: no "Also at".
    assert "Also at" not in [f.name for f in card.fields]
    assert VERGE_CANONICAL not in shown(card)


def test_summary_and_ask_link_the_article_as_given(engine: Engine) -> None:
    summary = engine.summary("clearview ice contract")
    assert isinstance(summary, SummaryAnswer)
    [card] = answer_cards(summary)
    assert card.url == GIVEN[summary.hit.article.outlet.name]

    question = "Did ICE sign a contract with Clearview?"
    ask = engine.ask(question)
    assert isinstance(ask, AskAnswer)
    assert ask.passage.article.outlet.name == "The Verge"
    [card] = answer_cards(ask)
    assert card.url == VERGE
    assert to_json("ask", question, ask)["answer"]["url"] == VERGE


def test_a_digest_links_each_article_as_given(engine: Engine) -> None:
    articles = [a for a in engine.snapshot.articles.values() if a.outlet.name in GIVEN]
    items = tuple(DigestItem(a, 90.0) for a in articles)
    group = StoryGroup(articles[0].id, items, tuple(GIVEN), articles[0], True, len(items))
    now = datetime(2020, 8, 15, tzinfo=UTC)
    digest = Digest(1, "clearview", datetime(2020, 8, 14, tzinfo=UTC), now, (group,))
    text = "\n".join(shown(card) for card in digest_message(digest).cards)
    assert f"({VERGE})" in text and f"({BUSINESS_INSIDER})" in text
    assert VERGE_CANONICAL not in text


def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> str:
    assert main([*argv, "--corpus", str(SEEDS), "--db", str(tmp_path / "c.db")]) == 0
    return capsys.readouterr().out


def test_the_cli_prints_links_as_given_and_names_articles_by_canonical_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = json.loads(cli(capsys, tmp_path, "source", "verge clearview", "--json"))
    [result] = data["results"]
    assert result["url"] == VERGE
    assert result["canonical_url"] == VERGE_CANONICAL  # for scripts that join on identity
    story = data["story"]
    assert story["first"]["url"] == VERGE
    timeline = {t["outlet"]: t["url"] for t in story["timeline"]}
    assert timeline == {**GIVEN, "Highsnobiety": None}  # the scrape gave no address
    # Every address the source gave, as given, the shown one first.
    assert data["urls"][0] == VERGE and len(data["urls"]) == 3
    assert all("://www.theverge.com/" in u or "cdn.ampproject.org" in u for u in data["urls"])

    question = "Did ICE sign a contract with Clearview?"
    asked = json.loads(cli(capsys, tmp_path, "ask", question, "--json"))
    assert asked["answer"]["url"] == VERGE

    text = cli(capsys, tmp_path, "source", "verge clearview").splitlines()
    assert text[1] == VERGE
    assert "also at:" not in text


# ------------------------------------------------------------------------- merges and AMP copies
def write(folder: Path, name: str, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(record), encoding="utf-8")


STORY = "https://www.example.com/news/story-one"
STORY_AMP = "https://www.example.com/news/story-one/amp"
STORY_CACHE = "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story-one/amp"


def amp_copy_corpus(root: Path) -> None:
    """The article's own record, and its AMP copy: richer, so the merge prefers its record."""
    write(root, "a.json", {"title": "Story one", "webUrl": STORY, "excerpt": "Short."})
    write(
        root,
        "b.json",
        {
            "title": "Story one",
            "webUrl": STORY_AMP,
            "cdnAmpWebUrl": STORY_CACHE,
            "publishedDateTime": "2020-08-14T10:00:00Z",
            "excerpt": "A much longer excerpt that says more about the story one.",
            "content": "First paragraph of story one.\n\nSecond paragraph of story one.",
        },
    )


def only(snapshot: CorpusSnapshot) -> Article:
    [article] = snapshot.articles.values()
    return article


def test_an_amp_copy_merged_into_its_article_shows_the_webUrl(tmp_path: Path) -> None:
    amp_copy_corpus(tmp_path / "corpus")
    snapshot, _ = load([str(tmp_path / "corpus")], tmp_path / "c.db")
    article = only(snapshot)
    # Identity as before: one article under the canonical URL, the AMP copy merged into it.
    assert article.url == "https://example.com/news/story-one"
    assert article.id == article_id(article.url)
    assert snapshot.duplicates_merged == 1
    assert article.body == ("First paragraph of story one.", "Second paragraph of story one.")
    assert set(article.urls) == {STORY, STORY_AMP, STORY_CACHE}

    assert link(article) == f"[Story one]({STORY})"
    answer = Engine(snapshot).source("story one")
    assert isinstance(answer, SourceAnswer)
    [card] = answer_cards(answer)
    assert card.url == STORY
    assert "Also at" not in [f.name for f in card.fields]
    data = to_json("source", "story one", answer)
    assert data["results"][0]["url"] == STORY
    assert data["urls"][0] == STORY and set(data["urls"]) == {STORY, STORY_AMP, STORY_CACHE}
    assert "also at:" not in to_text("source", answer)


def test_a_warm_restart_shows_the_same_links(tmp_path: Path) -> None:
    amp_copy_corpus(tmp_path / "corpus")
    cold, _ = load([str(tmp_path / "corpus")], tmp_path / "c.db")
    warm, stats = load([str(tmp_path / "corpus")], tmp_path / "c.db")
    assert stats.parsed == 0  # read back from the saved state, not parsed again
    assert dict(warm.articles) == dict(cold.articles)
    assert link(only(warm)) == f"[Story one]({STORY})"


def test_an_amp_address_is_shown_only_when_no_source_gave_another(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    amp_only = "https://www.example.com/amp/news/only-amp"
    write(root, "amp.json", {"title": "Only AMP", "ampWebUrl": amp_only})
    original = "https://www.example.com/news/original"
    write(
        root,
        "original.json",
        {
            "title": "Original kept",
            "ampWebUrl": "https://www.example.com/amp/news/original",
            "originalUrl": original,
        },
    )
    snapshot, _ = load([str(root)], tmp_path / "c.db")
    by_title = {a.title: a for a in snapshot.articles.values()}
    assert by_title["Only AMP"].url == "https://example.com/news/only-amp"
    assert link(by_title["Only AMP"]) == f"[Only AMP]({amp_only})"
    assert by_title["Original kept"].url == "https://example.com/news/original"
    assert link(by_title["Original kept"]) == f"[Original kept]({original})"


def test_also_at_lists_each_other_address_once_as_given(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    elsewhere = "https://www.example.org/moved?ref=rss"
    write(
        root,
        "moved.json",
        {
            "title": "Moved story",
            "webUrl": "https://www.example.com/news/moved",
            "ampWebUrl": "https://www.example.com/amp/news/moved",
            "cdnAmpWebUrl": "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/moved/amp",
            "originalUrl": elsewhere,
        },
    )
    snapshot, _ = load([str(root)], tmp_path / "c.db")
    answer = Engine(snapshot).source("moved story")
    assert isinstance(answer, SourceAnswer) and not isinstance(answer, NotFound)
    [card] = answer_cards(answer)
    assert card.url == "https://www.example.com/news/moved"
    # example.org is another place the article lives; each AMP copy is the same as a link shown.
    assert field(card, "Also at") == f"<{elsewhere}>"
    assert to_text("source", answer).endswith(f"also at:\n  {elsewhere}")
