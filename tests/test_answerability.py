"""Answers people type: a named outlet decides, frame words are not the subject, and a question
whose premise the coverage does not report is refused with the closest coverage shown as such.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.answers import run_command, to_json
from bot.corpus.loader import CorpusLoader
from bot.engine.answerable import MAX_GAP_MONTHS, why_not
from bot.engine.engine import Engine
from bot.engine.results import AskAnswer, NotFound, SearchResult, SourceAnswer
from tests.bench_scripts import needs_labelled_corpus, run_script
from tests.tiny_corpus import SEEDS, engine_over

MONEY_STORIES = [
    ("Acme pays $3 million to settle drone patent suit", "Acme Robotics", "acme.example"),
    ("Springfield pays $450,000 for police body cameras", "Springfield Times", "st.example"),
    ("Vision startup raises $12 million to pay for expansion", "Startup Wire", "sw.example"),
    ("Retailer fined $1.2 million over face scanning in stores", "Retail Daily", "rd.example"),
    ("Agency pays $90,000 for license plate readers", "Gov Tech Review", "gtr.example"),
    ("Chipmaker pays $2 billion for AI accelerator designer", "Chip News", "cn.example"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The seeds plus a folder of other stories about money paid, by other outlets."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SEEDS, root / "seeds")
    other = root / "money"
    other.mkdir()
    for n, (title, outlet, domain) in enumerate(MONEY_STORIES):
        (other / f"m{n}.md").write_text(
            f"---\ntitle: {title}\nwebUrl: https://{domain}/story-{n}\n"
            f"publishedDateTime: 2020-08-1{n}T10:00:00Z\n"
            f"provider:\n  name: {outlet}\n  domain: {domain}\n"
            f"excerpt: The deal was paid in cash, the buyer said on Tuesday.\n---\n",
            encoding="utf-8",
        )
    snapshot, _, _ = CorpusLoader([root], tmp_path_factory.mktemp("db") / "c.db").load()
    assert not snapshot.errors
    return Engine(snapshot)


def test_how_much_money_is_answered_with_the_amount_among_many_money_stories(
    engine: Engine,
) -> None:
    answer = engine.ask("how much money did ICE pay Clearview")
    assert isinstance(answer, AskAnswer)
    assert "$224,000" in answer.passage.text


def test_when_is_answered_by_a_report_that_dates_it_this_week(tmp_path: Path) -> None:
    # "ICE just signed a contract … this week": news says when in words relative to its date.
    snapshot, _, _ = CorpusLoader([SEEDS], tmp_path / "c.db").load()
    engine = Engine(snapshot)
    asked = "When did ICE sign the Clearview contract?"
    stated = {a.outlet.name: f["missing_answer"] for a, _, f in engine.explain(asked)}
    assert stated["The Verge"] == 0  # "signed a contract … this week"
    answer = engine.ask(asked)
    assert isinstance(answer, AskAnswer)
    assert "Clearview" in answer.hit.article.title


def test_an_outlet_named_in_source_decides_the_article(engine: Engine) -> None:
    for query, outlet in (
        ("what did business insider say about the clearview ice contract", "Business Insider"),
        ("the verge on ice and clearview", "The Verge"),
    ):
        answer = engine.source(query)
        assert isinstance(answer, SourceAnswer), query
        assert answer.hit.article.outlet.name == outlet, query


def test_an_outlet_without_an_article_on_the_subject_is_said_so_with_who_did(
    engine: Engine,
) -> None:
    answer = engine.source("cnet coverage of the ice clearview contract")
    assert isinstance(answer, NotFound)
    assert answer.reason.startswith("CNET has no article on this")
    assert "Business Insider" in answer.reason or "The Verge" in answer.reason
    assert any("ICE" in title for title in answer.suggestions)


def test_a_false_premise_is_refused_with_the_closest_coverage_as_suggestions(
    engine: Engine,
) -> None:
    answer = run_command(engine, "ask", "why did ICE cancel its Clearview contract")
    assert isinstance(answer, NotFound)
    assert "cancel" in answer.reason
    assert any("ICE" in title for title in answer.suggestions)
    out = to_json("ask", answer.query, answer)
    assert out["results"] == [] and out["suggestions"] and "cancel" in out["reason"]


def test_the_same_question_with_the_reported_event_is_answered(engine: Engine) -> None:
    answer = run_command(engine, "ask", "why did ICE sign a contract with Clearview")
    assert isinstance(answer, AskAnswer)
    assert "Clearview" in answer.hit.article.title


def test_an_amount_the_coverage_does_not_state_is_not_confirmed(engine: Engine) -> None:
    answer = run_command(engine, "search", "ICE pays Clearview $5 million")
    assert answer.not_found is not None  # type: ignore[union-attr]
    assert "$5 million" in answer.not_found.reason  # type: ignore[union-attr]


@needs_labelled_corpus
def test_refitting_the_answerability_model_reproduces_the_shipped_weights() -> None:
    run_script("answerability/fit.py", "--check")


def test_an_outlet_filter_is_the_rule_and_an_outlet_in_the_query_only_reorders(
    engine: Engine,
) -> None:
    result = engine.search("the verge on ice and clearview", outlet="Business Insider")
    assert all(h.article.outlet.name == "Business Insider" for h in result.hits)
    assert result.hits or result.not_found is not None


def test_source_with_a_named_outlet_answers_with_its_article_on_the_same_story(
    engine: Engine,
) -> None:
    # The words are Business Insider's headline; the outlet asked for is The Verge, whose
    # article is on the same story.
    answer = engine.source("the verge coverage of ICE signs contract with Clearview AI")
    assert isinstance(answer, SourceAnswer)
    assert answer.hit.article.outlet.name == "The Verge"


def test_a_megabyte_excerpt_costs_its_own_answers_under_a_second(tmp_path: Path) -> None:
    import time

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    # ~4 MB of the very figures and names a money question reads an article for.
    hostile = "Clearview paid $1,234 million to ICE in May 2020 and 45% more. " * 60_000
    for n in range(5):  # five, so every query near them reads them all
        record = {"title": f"ICE and Clearview {n}", "url": f"https://e.example/{n}"}
        (corpus / f"huge{n}.json").write_text(json.dumps({**record, "excerpt": hostile}), "utf-8")
    snapshot, _, _ = CorpusLoader([corpus], tmp_path / "c.db", max_bytes=8_000_000).load()
    engine = Engine(snapshot)
    for command in ("search", "summary", "source", "ask", "coverage"):
        start = time.perf_counter()
        run_command(engine, command, "How much did Clearview pay ICE?")
        assert time.perf_counter() - start < 1.0, command


@needs_labelled_corpus
def test_trying_a_feature_reports_each_set_cross_validated_and_tested() -> None:
    done = run_script("answerability/features.py")
    lines = done.stdout.splitlines()
    for name in ("shipped", "+ command", "+ sentence_share"):
        at = lines.index(name)
        assert lines[at + 1].lstrip().startswith("CV") and "pairs" in lines[at + 1]
        assert lines[at + 2].lstrip().startswith("test") and "worse-of-two" in lines[at + 2]


def test_a_year_the_article_tells_of_agrees_with_the_period_asked_about(tmp_path: Path) -> None:
    # "in 2016" can name the year of the event, not of the report: an article of 2021 telling
    # of 2016 agrees with it; one naming no such year is years away from it.
    docs = {
        "told": ("Photo captions improve", "Facebook launched automatic alt text in 2016."),
        "untold": ("Photo captions improve again", "Facebook launched automatic alt text."),
    }
    engine = engine_over(tmp_path, docs, published="2021-01-20T10:00:00Z")
    gap = {
        article.title: features["period_gap"]
        for article, _, features in engine.explain("did facebook launch alt text in 2016")
    }
    assert gap == {"Photo captions improve": 0.0, "Photo captions improve again": MAX_GAP_MONTHS}
    published_then = engine.explain("did facebook launch alt text in january 2021")
    assert all(features["period_gap"] == 0.0 for _, _, features in published_then)
    # Naming 2016 says nothing of March 2016.
    in_march = engine.explain("did facebook launch alt text in march 2016")
    assert all(features["period_gap"] == MAX_GAP_MONTHS for _, _, features in in_march)


def test_a_report_weeks_after_the_period_asked_about_is_nearer_than_one_months_later(
    tmp_path: Path,
) -> None:
    # "june 2020 boston council vote" is told by reports of early July as much as of June.
    docs = {"vote": ("Boston council bans face scans", "Councillors voted to ban them.")}
    engine = engine_over(tmp_path, docs, published="2020-07-09T10:00:00Z")

    def gap(query: str) -> float:
        (_, _, features), *_ = engine.explain(query)
        return features["period_gap"]

    assert gap("boston council vote on face scans in july 2020") == 0.0
    weeks_after = gap("boston council vote on face scans in june 2020")
    months_after = gap("boston council vote on face scans in february 2020")
    months_before = gap("boston council vote on face scans in december 2020")
    assert 0.0 < weeks_after < 0.5 < months_after < MAX_GAP_MONTHS
    assert 0.0 < months_before < MAX_GAP_MONTHS


def test_a_count_or_a_date_stated_in_words_is_the_kind_of_answer_asked_for(
    tmp_path: Path,
) -> None:
    # "four legs", "on Wednesday": articles state counts and dates in words as often as in
    # figures; an article stating neither does not hold the kind of answer asked for.
    docs = {
        "legs": ("Walking robot shown", "The Neuropod robot walks on four legs over rough ground."),
        "walk": ("Walking robot shown again", "The Neuropod robot walks over rough ground."),
        "vote": ("Council bans face scans", "Boston councillors voted on Wednesday to ban them."),
    }
    engine = engine_over(tmp_path, docs)

    def lacking(query: str) -> dict[str, float]:
        return {a.title: f["missing_answer"] for a, _, f in engine.explain(query, limit=10)}

    legs = lacking("how many legs does the neuropod robot have")
    assert legs["Walking robot shown"] == 0.0 and legs["Walking robot shown again"] == 1.0
    assert lacking("when did boston ban face scans")["Council bans face scans"] == 0.0


def test_an_outlets_name_states_no_answer(tmp_path: Path) -> None:
    # "Newswire Today" names a day, but its article need not say when anything happened.
    docs = {"ban": ("Council bans face scans", "Boston councillors voted to ban the scans.")}
    engine = engine_over(tmp_path, docs, outlet="Newswire Today")
    [(article, _, features)] = engine.explain("when did boston ban face scans")
    assert article.outlet.name == "Newswire Today"
    assert features["missing_answer"] == 1.0


def test_a_clipped_word_is_told_from_a_name_the_corpus_lacks(tmp_path: Path) -> None:
    # "ppl", "recog", "govt": short forms of words the article holds. "portsmouth": a name no
    # article spells out. Both are words the corpus never uses; only the first kind is clipped.
    docs = {
        "cams": (
            "Face recognition cameras watch people in Plymouth",
            "The government says the cameras will stay.",
        )
    }
    engine = engine_over(tmp_path, docs)

    def clipped(query: str) -> float:
        [(_, _, features)] = engine.explain(query)
        assert features["unknown_share"] > 0
        return features["clipped_words"]

    assert clipped("face recog cameras watching ppl, govt says") == 3.0
    assert clipped("face recognition cameras in portsmouth") == 0.0


def test_a_swapped_name_is_refused_where_the_story_it_swaps_is_answered(tmp_path: Path) -> None:
    # The near-miss keeps the story's words and swaps its firm for one the corpus writes as a
    # name elsewhere: the rest is held and a name is missing, the signature the model reads.
    docs = {
        "pwc": (
            "PwC face recognition tool monitors traders working at home",
            "The PwC tool checks that traders stay at their desks, the firm said.",
        ),
        "audit": (
            "Audit firms hire data scientists",
            "Firms such as Deloitte and KPMG are hiring, a survey found.",
        ),
        "cams": (
            "Police test face recognition cameras in London",
            "The Met says the cameras found eight people.",
        ),
        "bank": (
            "Bank traders return to the office",
            "Traders at the bank went back to their desks on Monday.",
        ),
        "ban": (
            "City bans face recognition",
            "The council voted to ban the technology at home and abroad.",
        ),
    }
    engine = engine_over(tmp_path, docs)
    asked = "did {} use face recognition to monitor traders working from home"

    [(_, _, right)] = engine.explain(asked.format("pwc"), 1)
    assert right["missing_names"] == 0 and right["name_swapped"] == 0
    [(_, _, swapped)] = engine.explain(asked.format("deloitte"), 1)
    assert swapped["missing_names"] == 1
    assert swapped["name_swapped"] == pytest.approx(swapped["coverage"])
    assert swapped["coverage"] > 0.5

    answer = engine.ask(asked.format("pwc"))
    assert isinstance(answer, AskAnswer) and answer.hit.article.title.startswith("PwC")
    refused = engine.ask(asked.format("deloitte"))
    assert isinstance(refused, NotFound)
    assert refused.suggestions[0].startswith("PwC")


def test_every_event_the_question_asserts_must_be_stated(tmp_path: Path) -> None:
    docs = {
        "portland": (
            "Portland bans police use of facial recognition",
            "The city council voted for the ban on Wednesday, the strictest in the country.",
        ),
        "boston": ("Boston weighs camera rules", "Officers asked the council about cameras."),
        "seattle": ("Seattle police buy drones", "The department bought four drones in May."),
    }
    engine = engine_over(tmp_path, docs)
    asked = "why did portland repeal its facial recognition ban"
    [(_, _, reported)] = engine.explain("why did portland ban facial recognition", 1)
    [(article, _, premise)] = engine.explain(asked, 1)
    assert reported["missing_event"] == 0
    # The ban is stated; the repeal the question asserts alongside it is not, and a refusal
    # names the repeal alone.
    assert premise["missing_event"] == 1
    reason = why_not(engine.read(asked), premise, article)
    assert reason == "The coverage closest to this doesn't report “repeal”."


def test_a_period_named_in_the_query_puts_its_articles_first(tmp_path: Path) -> None:
    # Fifty August reports hold more of the words than September's, which BM25 ranks last:
    # beyond the candidates it returns, unless the period fetches it and puts it first.
    docs: dict[str, tuple[str, str, str]] = {
        f"debate{n}": (
            f"Portland debates a facial recognition ban for the city ({n})",
            "Portland's city council debates a facial recognition ban for stores and police.",
            f"2020-08-{1 + n % 30:02d}T{n % 24:02d}:00:00Z",
        )
        for n in range(50)
    }
    docs["vote"] = (
        "Portland city council votes for the facial recognition ban",
        "Portland's city council passed the facial recognition ban for stores on Wednesday.",
        "2020-09-10T10:00:00Z",
    )
    engine = engine_over(tmp_path, docs)
    query = "portland city council facial recognition ban for stores and police"

    def shown(result: SearchResult) -> list[str]:
        """The titles shown: the answers, or the "did you mean" list when it is refused."""
        if result.hits:
            return [h.article.title for h in result.hits]
        assert result.not_found is not None
        return list(result.not_found.suggestions)

    september = "Portland city council votes for the facial recognition ban"
    assert shown(engine.search(f"{query} in september 2020"))[0] == september
    assert september not in shown(engine.search(query))[:3]
    # Within a caller's own dates too; another period puts its own articles first.
    since = datetime(2020, 8, 1, tzinfo=UTC)
    assert shown(engine.search(f"{query} in september 2020", since=since))[0] == september
    assert september not in shown(engine.search(f"{query} in august 2020"))[:3]


def test_an_outlet_a_record_names_by_a_url_is_the_outlet_that_url_belongs_to(
    tmp_path: Path,
) -> None:
    # Feeds put an article's own address where the outlet's name goes; people still type the
    # outlet's name, and the card shows the site, not a path.
    records = {
        "cruise": (
            "Tom Cruise deepfake creator says public shouldn't be worried",
            "theverge.com/2021/3/5/22314980/tom-cruise-deepfake-tiktok",
            "theverge.com/2021/3/5/22314980/tom-cruise-deepfake-tiktok",
        ),
        "gizmodo": ("The Tom Cruise deepfakes on TikTok fooled millions", "Gizmodo", "gizmodo.com"),
        "verge1": ("Twitter tests a new timeline", "The Verge", "theverge.com"),
        "verge2": ("Apple opens a store in Mumbai", "The Verge", "theverge.com"),
    }
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, outlet, domain) in records.items():
        (corpus / f"{name}.md").write_text(
            f"---\ntitle: {title}\nwebUrl: https://www.{domain.split('/')[0]}/{name}\n"
            f"provider:\n  name: {outlet}\n  domain: {domain}\n"
            "excerpt: The videos of the actor made with AI went viral on TikTok.\n---\n",
            encoding="utf-8",
        )
    snapshot, _, _ = CorpusLoader([corpus], tmp_path / "c.db").load()
    engine = Engine(snapshot)
    answer = engine.source("what did the verge say about the tom cruise deepfakes")
    assert isinstance(answer, SourceAnswer)
    assert answer.hit.article.title.startswith("Tom Cruise deepfake creator")
    assert answer.hit.article.outlet.name == "theverge.com"
    result = engine.search("gizmodo tom cruise deepfakes")
    assert result.hits and result.hits[0].article.outlet.name == "Gizmodo"
