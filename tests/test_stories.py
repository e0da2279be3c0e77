"""Story clusters: which articles a user is told report the same event, and who was first."""

# ruff: noqa: E501  (real headlines and excerpts are quoted whole)

from __future__ import annotations

import random
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.corpus.loader import CorpusLoader
from bot.corpus.model import Article, Outlet, Provenance
from bot.engine.results import Story
from bot.engine.stories import StoryIndex

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DAY = timedelta(days=1)
T0 = datetime(2020, 7, 9, 12, 0, tzinfo=UTC)


def art(
    aid: str,
    title: str,
    excerpt: str = "",
    when: datetime | None = T0,
    outlet: str = "",
    related: Iterable[str] = (),
    body: tuple[str, ...] = (),
) -> Article:
    return Article(
        id=aid,
        title=title,
        excerpt=excerpt,
        body=body,
        published=when,
        outlet=Outlet(outlet or f"Outlet {aid}", f"{aid}.example"),
        related=tuple(related),
    )


def corpus(*articles: Article) -> dict[str, Article]:
    return {a.id: a for a in articles}


def partition(index: StoryIndex) -> set[frozenset[str]]:
    return {frozenset(a.id for a in s.articles) for s in index.stories()}


def members(index: StoryIndex, aid: str) -> set[str]:
    return {a.id for a in index.story_of(aid).articles}


def outlets(story: Story) -> list[str]:
    return [a.outlet.name for a in story.articles]


# --- the seeds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Article]:
    loader = CorpusLoader([str(SEEDS)], tmp_path_factory.mktemp("db") / "coverage.db")
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    return dict(snapshot.articles)


def by_outlet(articles: Mapping[str, Article], name: str) -> Article:
    [article] = [a for a in articles.values() if a.outlet.name == name]
    return article


def test_seeds_ice_clearview_coverage_is_one_story_first_reported_by_the_verge(
    seeds: dict[str, Article],
) -> None:
    index = StoryIndex.build(seeds)
    story = index.story_of(by_outlet(seeds, "Business Insider").id)
    # Dated oldest first, the undated scrape last; the undated one never claims "first".
    assert outlets(story) == ["The Verge", "Business Insider", "Highsnobiety"]
    assert story.first is not None and story.first.outlet.name == "The Verge"
    assert story.outlets == ("The Verge", "Business Insider", "Highsnobiety")
    for name in ("The Verge", "Highsnobiety"):
        assert index.story_of(by_outlet(seeds, name).id) == story


@pytest.mark.parametrize("name", ["CNET", "KTVZ"])
def test_seeds_merely_topical_related_articles_stay_stories_of_their_own(
    seeds: dict[str, Article], name: str
) -> None:
    # Both are in Business Insider's related: list and share "facial recognition" with it.
    index = StoryIndex.build(seeds)
    article = by_outlet(seeds, name)
    assert article.id in by_outlet(seeds, "Business Insider").related
    story = index.story_of(article.id)
    assert story.articles == (article,)
    assert story.first == article
    assert len(partition(index)) == 3


def test_seeds_the_verge_arriving_later_joins_the_story_and_becomes_first(
    seeds: dict[str, Article],
) -> None:
    verge = by_outlet(seeds, "The Verge")
    without = {k: v for k, v in seeds.items() if k != verge.id}
    index = StoryIndex.build(without)
    before = index.story_of(by_outlet(seeds, "Business Insider").id)
    assert verge not in before.articles
    assert before.first is not None and before.first.outlet.name == "Business Insider"

    index.update(seeds, added=[verge.id], changed=[], removed=[])
    story = index.story_of(verge.id)
    assert outlets(story) == ["The Verge", "Business Insider", "Highsnobiety"]
    assert story.first == verge
    assert partition(index) == partition(StoryIndex.build(seeds))


def test_seeds_removing_the_verge_leaves_no_trace_of_it(seeds: dict[str, Article]) -> None:
    verge = by_outlet(seeds, "The Verge")
    index = StoryIndex.build(seeds)
    without = {k: v for k, v in seeds.items() if k != verge.id}
    index.update(without, added=[], changed=[], removed=[verge.id])
    with pytest.raises(KeyError):
        index.story_of(verge.id)
    story = index.story_of(by_outlet(seeds, "Business Insider").id)
    assert verge not in story.articles
    assert story.first is not None and story.first.outlet.name == "Business Insider"
    assert sorted(a.id for s in index.stories() for a in s.articles) == sorted(without)
    assert partition(index) == partition(StoryIndex.build(without))


# --- first reported --------------------------------------------------------------------------


def test_a_story_of_one_article_is_that_article_first() -> None:
    lone = art("a1", "Otter.ai adds live transcripts to Zoom meetings")
    index = StoryIndex.build(corpus(lone))
    story = index.story_of("a1")
    assert story.articles == (lone,) and story.first == lone and story.id == "a1"


def test_an_undated_article_alone_has_no_first() -> None:
    lone = art("u1", "Otter.ai adds live transcripts to Zoom meetings", when=None)
    story = StoryIndex.build(corpus(lone)).story_of("u1")
    assert story.articles == (lone,) and story.first is None


SOUTH_WALES = (
    "Court of Appeal rules South Wales Police use of facial recognition unlawful",
    "The Court of Appeal ruled that South Wales Police use of automated facial recognition "
    "breached privacy rights, after a challenge brought by Cardiff campaigner Ed Bridges.",
)


def test_an_undated_copy_joins_the_story_but_the_earliest_dated_article_is_first() -> None:
    undated = art("u", *SOUTH_WALES, when=None, outlet="Scraper")
    later = art("b", *SOUTH_WALES, when=T0 + DAY, outlet="BBC")
    earlier = art("a", *SOUTH_WALES, when=T0, outlet="The Guardian")
    index = StoryIndex.build(corpus(undated, later, earlier))
    story = index.story_of("u")
    assert [a.id for a in story.articles] == ["a", "b", "u"]
    assert story.first == earlier


def test_undated_articles_on_their_own_make_a_story_with_no_first() -> None:
    index = StoryIndex.build(
        corpus(
            art("u1", *SOUTH_WALES, when=None, outlet="Scraper one"),
            art("u2", *SOUTH_WALES, when=None, outlet="Scraper two"),
        )
    )
    story = index.story_of("u1")
    assert {a.id for a in story.articles} == {"u1", "u2"}
    assert story.first is None


# --- what links two articles and what does not -----------------------------------------------


def test_a_related_link_alone_does_not_merge_two_different_stories() -> None:
    a = art(
        "a",
        "Portland considers nation's strongest facial-recognition ban",
        "The Portland City Council will vote on banning facial recognition in stores.",
        related=["b"],
    )
    b = art(
        "b",
        "In China, facial recognition, public shaming and control go hand in hand",
        "Supporters in the US argue the surveillance technology is reserved for violent crime.",
        related=["a"],
    )
    index = StoryIndex.build(corpus(a, b))
    assert members(index, "a") == {"a"}
    assert members(index, "b") == {"b"}


def test_same_title_words_sixty_days_apart_are_two_stories() -> None:
    title, excerpt = SOUTH_WALES
    index = StoryIndex.build(
        corpus(
            art("a", title, excerpt, when=T0),
            art("b", title, excerpt, when=T0 + 60 * DAY),
        )
    )
    assert members(index, "a") == {"a"}
    assert members(index, "b") == {"b"}


def test_same_title_words_the_next_day_are_one_story() -> None:
    title, excerpt = SOUTH_WALES
    index = StoryIndex.build(
        corpus(art("a", title, excerpt, when=T0), art("b", title, excerpt, when=T0 + DAY))
    )
    assert members(index, "a") == {"a", "b"}


def test_an_undated_article_like_two_stories_joins_only_one_of_them() -> None:
    wales = art("w", *SOUTH_WALES, when=T0)
    wales2 = art("w2", *SOUTH_WALES, when=T0 + DAY / 2)
    portland = (
        "Portland City Council passes facial recognition ban for businesses",
        "Portland, Oregon banned private businesses from using facial recognition in stores.",
    )
    port = art("p", *portland, when=T0 + 30 * DAY)
    port2 = art("p2", *portland, when=T0 + 30 * DAY)
    both = art("u", SOUTH_WALES[0], SOUTH_WALES[1] + " " + portland[1], when=None)
    index = StoryIndex.build(corpus(wales, wales2, port, port2, both))
    assert members(index, "w") | members(index, "p") == {"w", "w2", "p", "p2", "u"}
    assert members(index, "w") & members(index, "p") == set()


# Titles and excerpts of real 2020 coverage (smartable corpus): four Clearview AI stories within
# a few weeks, all sharing "Clearview", "facial recognition" and "privacy".
CLEARVIEW_2020 = [
    (
        "afp",
        "aside",
        "2020-04-15T03:45",
        "AFP used Clearview AI facial recognition software to counter child exploitation",
        "Seven officers have conducted searches on the Clearview AI facial recognition platform.",
    ),
    (
        "aclu1",
        "aclu",
        "2020-05-28T15:26",
        "ACLU sues Clearview AI, developer of controversial facial recognition technology used by CPD",
        '"Companies like Clearview will end privacy as we know it, and must be stopped," said Nathan Freed Wessler, senior staff attorney with the ACLU’s Speech, Privacy, and Technology Project.',
    ),
    (
        "aclu2",
        "aclu",
        "2020-05-28T16:50",
        "ACLU sues Clearview AI over alleged privacy violations",
        "The ACLU has sued Clearview AI for allegedly violating Illinois privacy law through its face recognition-based surveillance technology.",
    ),
    (
        "aclu3",
        "aclu",
        "2020-05-28T16:52",
        "ACLU sues facial recognition company Clearview AI",
        "The ACLU announced on Thursday that it was suing Clearview AI, the controversial facial recognition company, for violating an Illinois biometrics law.",
    ),
    (
        "aclu4",
        "aclu",
        "2020-05-28T18:13",
        "ACLU sues facial recognition firm Clearview AI, calling it a ‘nightmare scenario’ for privacy",
        "The American Civil Liberties Union is suing controversial facial recognition firm Clearview AI for violation of the Illinois Biometric Information Privacy Act (BIPA), alleging the company illegally collected and stored data on Illinois citizens.",
    ),
    (
        "aclu5",
        "aclu",
        "2020-05-29T18:05",
        "ACLU sues Clearview AI over 'unlawful' facial recognition technology",
        "Facial recognition software provider Clearview AI has been hit with a lawsuit by the American Civil Liberties Union and several other organizations. The lawsuit, filed in state court in Illinois, accuses the firm of violating state privacy laws.",
    ),
    (
        "cpd1",
        "chicago",
        "2020-05-29T22:57",
        "Chicago police drop Clearview facial recognition technology",
        "Chicago police is no longer using facial recognition software developed by a firm that was sued by a civil rights organization this week over privacy concerns.",
    ),
    (
        "cpd2",
        "chicago",
        "2020-05-30T07:00",
        "Chicago police drop Clearview facial recognition technology",
        "Chicago police is no longer using facial recognition software developed by a firm that was sued by a civil rights organization this week over privacy concerns. The American Civil Liberties Union filed a lawsuit Thursday against Clearview AI.",
    ),
    (
        "uk1",
        "uk",
        "2020-07-09T17:46",
        "Britain, Australia to probe Clearview AI's facial recognition tech",
        "Britain and Australia announced a joint investigation of US-based Clearview AI's online harvesting of personal data for facial recognition technology on Thursday, amid privacy concerns from human rights groups.",
    ),
    (
        "uk2",
        "uk",
        "2020-07-09T19:06",
        "UK, Australia launch joint investigation of facial recognition firm",
        "Regulators in the United Kingdom and Australia announced a joint investigation Thursday of Clearview AI, a controversial facial recognition company that has scraped billions of photos from the internet.",
    ),
    (
        "uk3",
        "uk",
        "2020-07-10T00:03",
        "UK, Australia investigate Clearview facial recognition firm",
        "Privacy watchdogs in Britain and Australia have opened a joint investigation into facial recognition company Clearview AI over its use of personal data “scraped” off social media platforms and other websites.",
    ),
    (
        "ca1",
        "canada",
        "2020-07-11T11:00",
        "Clearview AI’s facial recognition database shut down in Canada amid privacy probe",
        "Controversial facial recognition company Clearview AI has ceased its operations in Canada after federal and provincial authorities launched investigations into its activities.",
    ),
    (
        "ca2",
        "canada",
        "2020-07-14T12:42",
        "Clearview AI stops offering facial recognition technology in Canada",
        "Clearview AI has said it would no longer offer its facial recognition services in Canada, the country's privacy commissioner announced on Monday, in response to an ongoing investigation into the company by provincial and federal privacy authorities.",
    ),
    (
        "ca3",
        "canada",
        "2020-07-14T16:08",
        "Clearview AI to end facial-recognition services in Canada: privacy commissioner",
        "Office says it will complete a related investigation focusing on RCMP use of Clearview AI’s facial-recognition technology",
    ),
]


# Each story's related: list names its own coverage and one article of a neighbouring story,
# the mix real feeds give.
NEIGHBOUR = {"aclu": "cpd1", "chicago": "aclu5", "uk": "ca1", "canada": "uk3", "aside": "aclu1"}
TOPICAL = ["facial recognition", "privacy", "police", "technology", "AI", "surveillance", "law"]


def clearview_corpus() -> tuple[dict[str, Article], set[frozenset[str]]]:
    """The Clearview stories among 60 other facial-recognition pieces, as in the real corpus.

    Without a background the corpus would be nothing but Clearview coverage, and "Clearview"
    would be no rarer there than "facial".
    """
    rnd = random.Random(2)
    groups: dict[str, set[str]] = {}
    for aid, group, *_ in CLEARVIEW_2020:
        groups.setdefault(group, set()).add(aid)
    articles = {}
    for aid, group, when, title, excerpt in CLEARVIEW_2020:
        published = datetime.fromisoformat(when).replace(tzinfo=UTC)
        related = [*sorted(groups[group] - {aid}), NEIGHBOUR[group]]
        articles[aid] = art(aid, title, excerpt, when=published, related=related)
    for i in range(60):
        made_up = ["".join(rnd.choices(string.ascii_lowercase, k=7)) for _ in range(20)]
        title = " ".join([made_up[0].title(), rnd.choice(TOPICAL), made_up[1], rnd.choice(TOPICAL)])
        excerpt = " ".join(w if rnd.random() < 0.6 else rnd.choice(TOPICAL) for w in made_up)
        when = T0 + timedelta(days=rnd.uniform(-90, 20))
        articles[f"bg{i}"] = art(f"bg{i}", title, excerpt, when=when)
    return articles, {frozenset(g) for g in groups.values()}


def clearview_stories(index: StoryIndex) -> set[frozenset[str]]:
    return {g for g in partition(index) if not any(aid.startswith("bg") for aid in g)}


def test_clearview_stories_weeks_apart_or_days_apart_stay_apart() -> None:
    articles, expected = clearview_corpus()
    index = StoryIndex.build(articles)
    assert clearview_stories(index) == expected
    assert index.story_of("aclu3").first == articles["aclu1"]


@pytest.mark.parametrize("order", ["as listed", "reversed", "shuffled"])
def test_clearview_stories_come_out_the_same_when_articles_arrive_one_by_one(order: str) -> None:
    # Scores always use the current word frequencies; links made while the corpus was tiny
    # are revisited by the rebuild that follows once a fifth of the corpus is new.
    articles, expected = clearview_corpus()
    ids = list(articles)
    if order == "reversed":
        ids.reverse()
    elif order == "shuffled":
        random.Random(4).shuffle(ids)
    index = StoryIndex.build({})
    seen: dict[str, Article] = {}
    for aid in ids:
        seen[aid] = articles[aid]
        index.update(dict(seen), added=[aid], changed=[], removed=[])
    assert clearview_stories(index) == expected
    assert partition(index) == partition(StoryIndex.build(articles))


# --- updates ---------------------------------------------------------------------------------


def three_of_a_story() -> dict[str, Article]:
    title, excerpt = SOUTH_WALES
    return corpus(
        art("a", title, excerpt, when=T0, outlet="BBC"),
        art("b", title, excerpt + " Bridges welcomed the ruling.", when=T0 + DAY / 4),
        art("c", "South Wales Police facial recognition ruled unlawful", excerpt, when=T0 + DAY),
    )


def test_an_article_named_added_again_counts_once_toward_a_full_regroup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A catch-up from a grouping that rested names every touched article "added", held or not.
    articles = three_of_a_story()
    index = StoryIndex.build(articles, rebuild_ratio=0.015)  # of 100 at least: past 1.5 changes
    regroups: list[object] = []
    monkeypatch.setattr(index, "rebuild", regroups.append)
    index.update(articles, added=["a"], changed=[], removed=[])
    assert regroups == []  # one change, updated in place
    assert [x.id for x in index.story_of("a").articles] == ["a", "b", "c"]
    index.update(articles, added=["b"], changed=[], removed=[])
    assert regroups == [articles]  # the second crosses the line


def test_removing_the_first_article_hands_first_to_the_next() -> None:
    articles = three_of_a_story()
    index = StoryIndex.build(articles)
    assert index.story_of("c").first == articles["a"]
    rest = {k: v for k, v in articles.items() if k != "a"}
    index.update(rest, added=[], changed=[], removed=["a"])
    story = index.story_of("c")
    assert [x.id for x in story.articles] == ["b", "c"]
    assert story.first == articles["b"]


def test_removing_the_article_that_held_a_story_together_splits_it() -> None:
    left = "Zorvex Quillam Brantor Feylis Omdurak"
    right = "Halvorin Pesquat Drumlet Yovanic Tarbesh"
    articles = corpus(
        art("a", left, when=T0),
        art("b", f"{left} {right}", when=T0 + DAY),
        art("c", right, when=T0 + 2 * DAY),
    )
    index = StoryIndex.build(articles)
    assert members(index, "a") == {"a", "b", "c"}
    index.update(
        {k: v for k, v in articles.items() if k != "b"}, added=[], changed=[], removed=["b"]
    )
    assert members(index, "a") == {"a"}
    assert members(index, "c") == {"c"}
    assert index.story_of("c").first == articles["c"]


def test_removing_the_article_an_undated_one_hung_on_leaves_it_alone() -> None:
    title, excerpt = SOUTH_WALES
    articles = corpus(art("a", title, excerpt), art("u", title, excerpt, when=None))
    index = StoryIndex.build(articles)
    assert members(index, "u") == {"a", "u"}
    index.update({"u": articles["u"]}, added=[], changed=[], removed=["a"])
    story = index.story_of("u")
    assert story.articles == (articles["u"],) and story.first is None


def test_a_changed_article_moves_to_the_story_it_now_reports() -> None:
    articles = three_of_a_story()
    articles["x"] = art("x", "BlackRock buys stake in sustainability platform Clarity AI")
    articles["y"] = art("y", "BlackRock invests in sustainability analytics startup Clarity AI")
    index = StoryIndex.build(articles)
    assert members(index, "x") == {"x", "y"}
    assert members(index, "c") == {"a", "b", "c"}
    rewritten = dict(articles)
    rewritten["c"] = articles["c"]._replace(
        title="BlackRock takes a stake in sustainability platform Clarity AI"
    )
    index.update(rewritten, added=[], changed=["c"], removed=[])
    assert members(index, "c") == {"c", "x", "y"}
    assert members(index, "a") == {"a", "b"}
    assert index.story_of("c").articles[2] is rewritten["c"]


def test_stories_cover_every_article_exactly_once() -> None:
    articles, _ = clearview_corpus()
    articles.update(three_of_a_story())
    index = StoryIndex.build(articles)
    seen = [a.id for s in index.stories() for a in s.articles]
    assert sorted(seen) == sorted(articles)
    sizes = [len(s.articles) for s in index.stories()]
    assert sizes == sorted(sizes, reverse=True)


def synthetic(count: int, seed: int) -> tuple[dict[str, Article], dict[str, int]]:
    """Stories of 1-6 articles over a year: shared made-up names, filler from a common pool."""
    rnd = random.Random(seed)
    common = ["".join(rnd.choices(string.ascii_lowercase, k=6)) for _ in range(300)]
    articles: dict[str, Article] = {}
    truth: dict[str, int] = {}
    story = 0
    while len(articles) < count:
        story += 1
        names = ["".join(rnd.choices(string.ascii_lowercase, k=8)).title() for _ in range(4)]
        day = T0 + timedelta(days=rnd.uniform(0, 365))
        for _ in range(rnd.randint(1, 6)):
            aid = f"{len(articles):016x}"
            title = " ".join(rnd.sample(names, 3) + rnd.sample(common, 4))
            excerpt = " ".join(rnd.sample(names, 3) + rnd.sample(common, 20))
            when = None if rnd.random() < 0.05 else day + timedelta(hours=rnd.uniform(0, 48))
            articles[aid] = art(aid, title, excerpt, when=when)
            truth[aid] = story
    return articles, truth


def test_incremental_updates_reach_the_clusters_a_fresh_build_finds() -> None:
    articles, truth = synthetic(600, seed=5)
    ids = list(articles)
    random.Random(1).shuffle(ids)
    index = StoryIndex.build({k: articles[k] for k in ids[:300]}, rebuild_ratio=100.0)
    present = {k: articles[k] for k in ids[:300]}
    for start in range(300, 600, 50):
        batch = ids[start : start + 50]
        present.update((k, articles[k]) for k in batch)
        index.update(dict(present), added=batch, changed=[], removed=[])
    gone = ids[:100]
    for k in gone:
        del present[k]
    index.update(dict(present), added=[], changed=[], removed=gone)
    fresh = partition(StoryIndex.build(present))
    assert partition(index) == fresh
    expected: dict[int, set[str]] = {}
    for k in present:
        expected.setdefault(truth[k], set()).add(k)
    assert fresh == {frozenset(g) for g in expected.values()}


def test_unknown_article_raises_key_error() -> None:
    index = StoryIndex.build(three_of_a_story())
    with pytest.raises(KeyError):
        index.story_of("nope")
    assert "a" in index and "nope" not in index and len(index) == 3


def test_an_inferred_title_is_compared_as_text_not_as_a_title() -> None:
    title, excerpt = SOUTH_WALES
    scraped = Article(
        id="s",
        title=excerpt,  # the scrape's first sentence stood in for a title
        body=(excerpt, "Bridges said he was delighted with the ruling."),
        published=None,
        outlet=Outlet("Scraper"),
        provenance=(Provenance("scrape.txt", title_inferred=True),),
    )
    assert scraped.title_inferred
    index = StoryIndex.build(corpus(art("a", title, excerpt), scraped))
    assert members(index, "s") == {"a", "s"}
    assert index.story_of("s").first is not None


def test_a_large_grouping_leaves_the_collectors_sight_when_built_as_when_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The collector's full passes over millions of story objects held the event loop; a
    # grouping built in the background (not only one loaded from disk) is frozen too.
    import gc

    import bot.engine.stories as stories

    two = corpus(art("a", "Boats sail"), art("b", "Boats sail again"))
    gc.unfreeze()
    try:
        monkeypatch.setattr(stories, "FREEZE_AFTER", 3)
        StoryIndex.build(two)
        assert gc.get_freeze_count() == 0  # fewer than that: left to the collector
        monkeypatch.setattr(stories, "FREEZE_AFTER", 2)
        StoryIndex.build(two)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
