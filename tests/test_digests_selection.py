"""What a digest holds: new, confidently matched coverage, grouped by story, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digests.cards import digest_cards
from bot.digests.models import Subscription, Target
from bot.digests.schedule import Schedule
from bot.digests.selection import MAX_LOOKBACK, DigestRequest, NewCoverage, compute_digests
from tests.test_digests_support import T0, CorpusDir, more_clearview, seed_story


@pytest.fixture
def corpus(tmp_path: Path) -> CorpusDir:
    c = CorpusDir(tmp_path)
    seed_story(c)
    c.load()
    yield c
    c.close()


def sub(query: str = "clearview ice contract", **kw: object) -> Subscription:
    options: dict[str, object] = {
        "id": 1,
        "target": Target.channel(100),
        "query": query,
        "schedule": Schedule("daily"),
        "created_at": T0,
    }
    options.update(kw)
    return Subscription(**options)  # type: ignore[arg-type]


def seen_at(corpus: CorpusDir, moment: datetime, ids: object = None) -> dict[str, datetime]:
    assert corpus.engine is not None
    return {i: moment for i in (ids if ids is not None else corpus.engine.snapshot.articles)}


def test_new_reports_of_a_known_story_are_grouped_as_gained_outlets(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    paths = [more_clearview(corpus, o, n) for n, o in enumerate(("Highsnobiety", "Engadget"))]
    added = corpus.refresh(paths).added
    seen.update({i: T0 + timedelta(hours=2) for i in added})

    now = T0 + timedelta(days=1)
    digest = compute_digests(corpus.engine, [DigestRequest(sub())], seen, now)[1]
    assert set(digest.article_ids) == set(added)
    [group] = digest.groups
    assert not group.new_story
    assert group.first is not None and group.first.outlet.name == "The Verge"
    assert len(group.outlets) == 4
    assert group.gained_outlets == ("Highsnobiety", "Engadget")
    assert digest.cutoff == now and digest.since == T0
    text = "\n".join(f.value for f in digest_cards(digest)[0].fields)
    assert "Now covered by 4 outlets, first The Verge" in text


def test_a_story_all_new_is_a_new_story(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    body = (
        "Detroit police wrongfully arrested Robert Williams after a facial recognition match, "
        "the ACLU said in a complaint filed on Wednesday."
    )
    paths = [
        corpus.write(
            "Detroit police wrongfully arrested man after facial recognition match",
            "NPR",
            body,
            "2020-06-24T10:00:00Z",
        ),
        corpus.write(
            "Facial recognition match led Detroit police to wrongfully arrest a man",
            "The Verge",
            body,
            "2020-06-24T15:00:00Z",
        ),
    ]
    added = corpus.refresh(paths).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    digest = compute_digests(
        corpus.engine,
        [DigestRequest(sub("detroit wrongful arrest facial recognition"))],
        seen,
        T0 + timedelta(days=1),
    )[1]
    [group] = digest.groups
    assert group.new_story
    assert group.outlets == ("NPR", "The Verge")
    assert [a.outlet.name for a in group.articles] == ["NPR", "The Verge"]  # timeline order
    cards = digest_cards(digest)
    assert cards[0].fields[0].name.startswith("New story: Detroit police")
    assert "Covered by 2 outlets, first NPR" in cards[0].fields[0].value


def test_old_coverage_and_unconfident_matches_stay_out(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    paths = [
        corpus.write(
            "Sourdough beats banana bread",
            "Food Weekly",
            "Bakers moved from banana bread to sourdough.",
            "2020-06-01T08:00:00Z",
        ),
    ]
    added = corpus.refresh(paths).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    requests = [DigestRequest(sub()), DigestRequest(sub("banana bread", id=2))]
    digests = compute_digests(corpus.engine, requests, seen, T0 + timedelta(days=1))
    assert digests[1].empty  # the Clearview story exists, but nothing of it is new
    assert digests[2].article_ids == tuple(added)


def test_delivered_articles_never_come_back(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    added = corpus.refresh([more_clearview(corpus, "Engadget")]).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    now = T0 + timedelta(days=1)
    first = compute_digests(corpus.engine, [DigestRequest(sub())], seen, now)[1]
    assert set(first.article_ids) == set(added)
    # Even with the cut-off not moved (a failed record), the delivery log keeps it out.
    again = compute_digests(corpus.engine, [DigestRequest(sub(), set(added))], seen, now)[1]
    assert again.empty
    # And with the cut-off moved, it is no longer new at all.
    later = sub(last_delivered_at=first.cutoff)
    assert compute_digests(corpus.engine, [DigestRequest(later)], seen, now)[1].empty


def test_published_after_the_last_delivery_counts_as_new(corpus: CorpusDir) -> None:
    # Seen long ago but dated after the subscription's last delivery (a scheduled story).
    path = corpus.write(
        "Clearview AI ICE contract renewed",
        "Reuters",
        "ICE renewed its Clearview AI facial recognition contract.",
        (T0 + timedelta(hours=3)).isoformat(),
    )
    corpus.refresh([path])
    seen = seen_at(corpus, T0 - timedelta(days=2))
    now = T0 + timedelta(days=1)
    digest = compute_digests(corpus.engine, [DigestRequest(sub())], seen, now)[1]
    assert [a.outlet.name for g in digest.groups for a in g.articles] == ["Reuters"]


def test_max_items_caps_and_counts_the_rest(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    outlets = ("Highsnobiety", "Engadget", "Gizmodo", "Mashable")
    added = corpus.refresh([more_clearview(corpus, o, n) for n, o in enumerate(outlets)]).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    digest = compute_digests(
        corpus.engine, [DigestRequest(sub(max_items=3))], seen, T0 + timedelta(days=1)
    )[1]
    assert digest.article_count == 3 and digest.more == 1 and not digest.more_at_least
    cards = digest_cards(digest)
    more = cards[-1].fields[-1]
    assert more.name == "And 1 more"
    assert "/search query:clearview ice contract since:2024-03-01" in more.value


def test_outlet_filter_uses_the_corpus_spelling(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    outlets = ("Highsnobiety", "Engadget")
    added = corpus.refresh([more_clearview(corpus, o, n) for n, o in enumerate(outlets)]).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    digest = compute_digests(
        corpus.engine, [DigestRequest(sub(outlet="engadget"))], seen, T0 + timedelta(days=1)
    )[1]
    assert [a.outlet.name for g in digest.groups for a in g.articles] == ["Engadget"]


def test_coverage_the_engine_has_not_applied_yet_stays_new(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    late = T0 + timedelta(hours=5)
    seen["feedfacefeedface"] = late  # noted from a change event, not yet in the engine
    digest = compute_digests(corpus.engine, [DigestRequest(sub())], seen, T0 + timedelta(days=1))[1]
    assert digest.cutoff < late  # the next digest's "since" is before it: it can't be skipped


def test_a_long_pause_looks_back_a_month_at_most(corpus: CorpusDir) -> None:
    old = sub(created_at=T0 - timedelta(days=400))
    now = T0 + timedelta(days=1)
    digest = compute_digests(corpus.engine, [DigestRequest(old)], {}, now)[1]
    assert digest.since == now - MAX_LOOKBACK


def test_nothing_new_everywhere_is_cheap_and_empty(corpus: CorpusDir) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    requests = [DigestRequest(sub(id=i)) for i in range(1, 50)]
    digests = compute_digests(corpus.engine, requests, seen, datetime(2024, 3, 2, tzinfo=UTC))
    assert all(d.empty for d in digests.values())


def test_channels_asking_the_same_share_one_search(corpus: CorpusDir, monkeypatch) -> None:
    seen = seen_at(corpus, T0 - timedelta(days=1))
    added = corpus.refresh([more_clearview(corpus, "Engadget")]).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    now = T0 + timedelta(days=1)
    coverage = NewCoverage(corpus.engine, seen, T0, now)
    calls = []
    search = coverage.index.search_filtered
    monkeypatch.setattr(
        coverage.index, "search_filtered", lambda *a, **k: calls.append(a) or search(*a, **k)
    )
    for channel in range(5):
        digest = coverage.digest(
            DigestRequest(sub(id=channel, target=Target.channel(channel))), now
        )
        assert set(digest.article_ids) == set(added)
    assert len(calls) == 1


def test_an_outlet_filter_means_that_outlet_even_when_it_has_nothing_new(
    corpus: CorpusDir,
) -> None:
    # The run's index of new articles knows only their outlets: "The Verge" must not be
    # fuzzy-matched there to another outlet that happens to have news.
    seen = seen_at(corpus, T0 - timedelta(days=1))
    added = corpus.refresh([more_clearview(corpus, "The Verger", 0)]).added
    seen.update({i: T0 + timedelta(hours=2) for i in added})
    now = T0 + timedelta(days=1)
    requests = [DigestRequest(sub(outlet="The Verge")), DigestRequest(sub(id=2))]
    digests = compute_digests(corpus.engine, requests, seen, now)
    assert digests[1].article_ids == ()
    assert set(digests[2].article_ids) == set(added)  # the news itself is there to find


def test_a_digest_run_reads_a_query_as_the_bot_does_whatever_has_news(
    corpus: CorpusDir,
) -> None:
    # Only Engadget has news; "The Verge" in a query is still an outlet, read as /search
    # reads it, not a pair of subject words the new articles lack.
    seen = seen_at(corpus, T0 - timedelta(days=1))
    added = corpus.refresh([more_clearview(corpus, "Engadget")]).added
    seen.update({i: T0 + timedelta(hours=1) for i in added})
    coverage = NewCoverage(corpus.engine, seen, T0, T0 + timedelta(days=1))
    assert coverage.index is not None
    query = "what did the verge write about clearview"
    assert coverage.index.read(query) == corpus.engine.read(query)
    assert coverage.index.read(query).outlet_names == ("The Verge",)
