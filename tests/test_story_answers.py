"""Story-level answers (issue 13): what /related and /coverage show for a story, not one record.

A story's articles come from different feeds: each record has its own ``related:`` list, and a
scraped page may have no title at all. /related on any member should show the related reading
of the whole story, saying whose list each entry came from; /coverage should be titled by a
headline, never by a scrape's first sentence. Everything here runs on the seeds (The Verge and
Business Insider's records, the Highsnobiety scrape) plus small files written to ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answers import to_json
from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine
from bot.engine.results import CoverageAnswer, NotFound, RelatedAnswer
from bot.render import answer_cards

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
VERGE_TITLE = "ICE just signed a contract with facial recognition company Clearview AI"

# One story told by three outlets and a scrape, the first two records with their own
# ``related:`` lists; Metro Wire's piece is on both lists. Ferry News, Engineering Weekly and
# Metro Wire are on other subjects, so they are related reading, not story mates.
METRO_WIRE = """\
  - title: "Why city budgets are leaning on road pricing"
    excerpt: "Congestion charges and tolls are filling gaps in municipal budgets."
    publishedDateTime: 2021-02-25T09:00:00Z
    webUrl: "https://metrowire.example/road-pricing-budgets"
    provider: {name: Metro Wire, domain: metrowire.example}
"""
FILES = {
    "planet.md": f"""\
---
title: "Gotham council approves harbor bridge toll for heavy trucks"
excerpt: "Gotham's city council voted 7-2 on Monday to charge heavy trucks a $12 toll on the \
Harbor Bridge from June, to pay for repairs to the 1931 span."
publishedDateTime: 2021-03-01T10:00:00Z
webUrl: "https://dailyplanet.example/gotham-harbor-bridge-toll"
provider: {{name: Daily Planet, domain: dailyplanet.example}}
related:
  - title: "Harbor ferry timetable changes this spring"
    excerpt: "The ferry to Wayne Island will run every 40 minutes from April."
    publishedDateTime: 2021-02-20T09:00:00Z
    webUrl: "https://ferrynews.example/spring-timetable"
    provider: {{name: Ferry News, domain: ferrynews.example}}
{METRO_WIRE}---
""",
    "gazette.md": f"""\
---
title: "Heavy trucks will pay a $12 Harbor Bridge toll, Gotham council decides"
excerpt: "Gotham's council approved a $12 toll for heavy trucks crossing the Harbor Bridge, \
with the money going to repairs of the 1931 span."
publishedDateTime: 2021-03-01T14:00:00Z
webUrl: "https://gothamgazette.example/harbor-bridge-truck-toll"
provider: {{name: Gotham Gazette, domain: gothamgazette.example}}
related:
  - title: "Inspectors find corroded cables on an old suspension span"
    excerpt: "A report on the state's bridges found corrosion on three of its oldest spans."
    publishedDateTime: 2021-01-15T09:00:00Z
    webUrl: "https://engineeringweekly.example/corroded-cables"
    provider: {{name: Engineering Weekly, domain: engineeringweekly.example}}
{METRO_WIRE}---
""",
    "times.md": """\
---
title: "Truckers face $12 toll on Gotham's Harbor Bridge after council vote"
excerpt: "Heavy trucks will pay $12 to cross the Harbor Bridge from June after Gotham's council \
approved the toll to repair the 1931 span."
publishedDateTime: 2021-03-02T08:00:00Z
webUrl: "https://citytimes.example/harbor-bridge-toll-truckers"
provider: {name: City Times, domain: citytimes.example}
---
""",
    # A scrape without a title: its first sentence becomes an inferred title.
    "scrape.txt": """\
Harbor Blog

In a blow to hauliers across the region, Gotham's council has voted for a $12 toll on heavy \
trucks crossing the Harbor Bridge to pay for repairs of the 1931 span.

The toll starts in June and the council expects it to raise millions a year.
""",
    # A scrape that is a story of its own: nothing better to title it by.
    "alpaca.txt": """\
Quiet Blog

Three alpacas escaped from a petting zoo in Smallville on Tuesday and were found grazing on \
the town green.

Keepers walked them home by lunchtime.
""",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("stories")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in FILES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    snapshot, _, _ = CorpusLoader([SEEDS, corpus], root / "c.db").load()
    assert not [p for p in snapshot.problems if p.severity == "error"], snapshot.problems
    return Engine(snapshot)


def related(engine: Engine, query: str, limit: int = 10) -> RelatedAnswer:
    answer = engine.related(query, limit=limit)
    assert isinstance(answer, RelatedAnswer), answer
    return answer


def coverage(engine: Engine, query: str) -> CoverageAnswer:
    answer = engine.coverage(query)
    assert isinstance(answer, CoverageAnswer), answer
    return answer


def test_related_on_the_verge_lists_business_insiders_related_entries(engine: Engine) -> None:
    # The CEO's case: The Verge's report is known only as an entry of Business Insider's
    # record, so it has no list of its own; its story mate's list is the related reading.
    answer = related(engine, "verge clearview")
    assert answer.hit.article.outlet.name == "The Verge"
    reasons = [(i.article.outlet.name, i.reason) for i in answer.items]
    assert reasons[:4] == [
        ("Business Insider", "listed as related; same story"),  # it lists The Verge
        ("CNET", "in Business Insider's related list"),
        ("KTVZ", "in Business Insider's related list"),
        ("Highsnobiety", "same story"),
    ]

    card = answer_cards(answer)[0]
    assert card.title == f"Related to: {VERGE_TITLE}"
    assert "— CNET (in Business Insider's related list)" in card.description
    assert "— KTVZ (in Business Insider's related list)" in card.description

    out = to_json("related", "verge clearview", answer)
    assert out["article"]["outlet"] == "The Verge"
    by_outlet = {r["outlet"]: r["reason"] for r in out["results"]}
    assert by_outlet["CNET"] == by_outlet["KTVZ"] == "in Business Insider's related list"


def test_related_names_the_first_list_once_and_keeps_its_order(engine: Engine) -> None:
    # City Times has no list: Daily Planet's (the first report) comes first, then Gotham
    # Gazette's; Metro Wire, on both lists, is shown once, under Daily Planet's.
    answer = related(engine, "city times truckers harbor bridge toll")
    assert answer.hit.article.outlet.name == "City Times"
    reasons = [(i.article.outlet.name, i.reason) for i in answer.items]
    assert reasons == [
        ("Ferry News", "in Daily Planet's related list"),
        ("Metro Wire", "in Daily Planet's related list"),
        ("Engineering Weekly", "in Gotham Gazette's related list"),
        ("Daily Planet", "same story"),
        ("Gotham Gazette", "same story"),
        ("Harbor Blog", "same story"),
    ]
    # The article's own list first, then its story mates' lists, then the rest of the story.
    own = related(engine, "gotham gazette heavy trucks harbor bridge toll")
    assert [(i.article.outlet.name, i.reason) for i in own.items][:3] == [
        ("Engineering Weekly", "listed as related"),
        ("Metro Wire", "listed as related"),
        ("Ferry News", "in Daily Planet's related list"),
    ]
    # ``limit`` holds, keeping the first of that order.
    cut = related(engine, "city times truckers harbor bridge toll", limit=2)
    assert [i.article.outlet.name for i in cut.items] == ["Ferry News", "Metro Wire"]
    text = answer_cards(answer)[0].description
    assert text.count("Metro Wire") == 1
    assert "— Engineering Weekly (in Gotham Gazette's related list)" in text
    out = to_json("related", "city times", answer)
    assert [r["reason"] for r in out["results"]][:3] == [
        "in Daily Planet's related list",
        "in Daily Planet's related list",
        "in Gotham Gazette's related list",
    ]


def test_coverage_of_a_scrape_is_titled_by_a_real_headline(engine: Engine) -> None:
    # "sinister partnership" is only in the Highsnobiety scrape, whose title is its first
    # sentence; the story's first report with a real title names the story.
    query = "sinister partnership human rights"
    answer = coverage(engine, query)
    scrape = answer.hit.article
    assert scrape.outlet.name == "Highsnobiety" and scrape.title_inferred

    card = answer_cards(answer)[0]
    assert card.title == f"Coverage: {VERGE_TITLE}"
    assert "sinister" not in card.title
    assert card.author == "The Verge"
    assert card.footer.startswith("matched in Highsnobiety's title")  # what matched, still

    out = to_json("coverage", query, answer)
    assert out["story"]["title"] == VERGE_TITLE
    assert out["results"][0]["outlet"] == "Highsnobiety"  # the match itself is unchanged


def test_coverage_title_is_the_first_real_headline_else_the_scrapes_own(engine: Engine) -> None:
    answer = coverage(engine, "blow to hauliers")
    assert answer.hit.article.outlet.name == "Harbor Blog"
    headline = "Gotham council approves harbor bridge toll for heavy trucks"  # Daily Planet
    assert answer_cards(answer)[0].title == f"Coverage: {headline}"
    assert to_json("coverage", "blow to hauliers", answer)["story"]["title"] == headline

    # A matched article with a real title keeps naming the story it was asked about.
    gazette = coverage(engine, "gotham gazette heavy trucks harbor bridge toll")
    assert answer_cards(gazette)[0].title.startswith("Coverage: Heavy trucks will pay")
    assert answer_cards(gazette)[0].footer.startswith("matched in title")

    # A scrape alone in its story has nothing better: its own first sentence stays.
    alone = engine.coverage("alpacas escaped petting zoo")
    assert not isinstance(alone, NotFound)
    assert answer_cards(alone)[0].title.startswith("Coverage: Three alpacas escaped")
    assert to_json("coverage", "alpacas", alone)["story"]["title"].startswith("Three alpacas")
