"""Query understanding (bot/engine/query.py): queries as people type them into a chat bot.

Outlet names are copied from the smartable corpus's ``provider: name:`` fields (plus three
well-known outlets it lacks, for the short-form table); the capitalisation shares are what a
news corpus gives: "verge" is mostly "on the verge of", "detroit" is always capitalised.
"""

from __future__ import annotations

import string
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.query import (
    ANSWER_TYPES,
    MAX_QUERY_WORDS,
    QueryIntent,
    QueryReader,
    stated_facts,
)

CORPUS_OUTLETS = [
    "MarketWatch",
    "Forbes",
    "VentureBeat",
    "PR Newswire",
    "ZDNet",
    "Business Insider",
    "TechCrunch",
    "Benzinga.com",
    "BBC",
    "The Next Web",
    "The Guardian",
    "Reuters",
    "Government Technology",
    "CNET",
    "The Financial Times",
    "Nature",
    "Digital Trends",
    "Gizmodo Australia",
    "Gizmodo",
    "Washington Post",
    "The Verge",
    "The Times",
    "The Hill",
    "The Atlantic",
    "Seattle Times",
    "Tesla News",
    "Associated Press",
    "ABC 17 News",
    "9&10 News",
    "Wired",
    "VICE",
    "CNBC",
    "U.S. News & World Report",
    "Morningstar, Inc.",
    "Tom's Guide",
    "Engadget",
    "theverge.com/2021/3/5/22314980/tom-cruise-deepfake-tiktok-videos-ai-impersonator",
]
EXTRA_OUTLETS = ["The New York Times", "The Wall Street Journal", "Fortune"]
TOPICS = [
    "AI",
    "Computer Vision",
    "Natural Language Processing",
    "Machine Learning",
    "AI in Autos",
    "AI in Healthcare",
    "AWS AI",
    "IBM AI",
    "Microsoft AI",
    "AI Ethics",
    "Facial Recognition",
]
# Share of each word's mid-sentence occurrences the corpus writes capitalised.
SHARE = {
    "verge": 0.25,
    "times": 0.35,
    "hill": 0.2,
    "atlantic": 0.7,
    "guardian": 0.5,
    "nature": 0.05,
    "wired": 0.1,
    "vice": 0.2,
    "fortune": 0.3,
    "forbes": 1.0,
    "reuters": 1.0,
    "engadget": 1.0,
    "gizmodo": 1.0,
    "australia": 1.0,
    "seattle": 1.0,
    "tesla": 0.99,
    "news": 0.3,
    "digital": 0.05,
    "trends": 0.02,
    "government": 0.15,
    "technology": 0.05,
    "business": 0.1,
    "insider": 0.4,
    "next": 0.02,
    "web": 0.1,
    "ice": 0.9,
    "clearview": 0.98,
    "detroit": 1.0,
    "nfl": 1.0,
    "amazon": 0.97,
    "rekognition": 0.99,
    "san": 0.95,
    "diego": 1.0,
    "facebook": 0.99,
    "ibm": 1.0,
    "rcmp": 1.0,
    "pay": 0.01,
    "ban": 0.02,
    "police": 0.05,
    "facial": 0.03,
    "recognition": 0.02,
    "contract": 0.01,
    "stadium": 0.05,
    "square": 0.2,
    "apple": 0.9,
}
NOW = datetime(2021, 3, 10, 15, 30, tzinfo=UTC)  # the corpus runs April 2020 - March 2021


@pytest.fixture(scope="module")
def reader() -> QueryReader:
    return QueryReader(CORPUS_OUTLETS + EXTRA_OUTLETS, TOPICS, capitalised_share=SHARE.get)


@pytest.fixture(scope="module")
def corpus_reader() -> QueryReader:
    """Only the corpus's own outlets: no New York Times, no Fortune."""
    return QueryReader(CORPUS_OUTLETS, TOPICS, capitalised_share=SHARE.get)


def read(reader: QueryReader, query: str) -> QueryIntent:
    return reader.read(query, now=NOW)


def dt(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- Outlets -------------------------------------------------------------------------------
OUTLET_CASES = [
    # (query, expected outlets, the words that named the first one)
    ("what did the verge write about clearview and ice", ["The Verge"], "the verge"),
    ("what did teh verge write about facial recognition", ["The Verge"], "teh verge"),
    ("verge coverage of the amazon rekognition ban", ["The Verge"], "verge"),
    ("the verge's take on clearview", ["The Verge"], "the verge's"),
    ("the verge on clearview", ["The Verge"], "the verge"),
    ("nyt on clearview", ["The New York Times"], "nyt"),
    (
        "what did the new york times say about clearview",
        ["The New York Times"],
        "the new york times",
    ),
    ("wsj clearview lawsuit", ["The Wall Street Journal"], "wsj"),
    ("biz insider on amazon rekognition", ["Business Insider"], "biz insider"),
    ("business insider clearview", ["Business Insider"], "business insider"),
    ("bi article about clearview", ["Business Insider"], "bi"),
    ("buisness insider reported on clearview", ["Business Insider"], "buisness insider"),
    ("what did ap report about the clearview breach", ["Associated Press"], "ap"),
    ("ap's story on detroit police", ["Associated Press"], "ap's"),
    ("wapo story on facial recognition in detroit", ["Washington Post"], "wapo"),
    ("ft coverage of clearview", ["The Financial Times"], "ft"),
    ("financial times clearview", ["The Financial Times"], "financial times"),
    ("clearview coverage by techcrnch", ["TechCrunch"], "techcrnch"),
    ("tc article about otter", ["TechCrunch"], "tc"),
    ("cnbc facial recognition", ["CNBC"], "cnbc"),
    ("zdnet afp clearview", ["ZDNet"], "zdnet"),
    ("vb on openai", ["VentureBeat"], "vb"),
    ("from venturebeat: openai gpt-3", ["VentureBeat"], "venturebeat"),
    ("gizmodo australia facial recognition", ["Gizmodo Australia"], "gizmodo australia"),
    ("gizmodo clearview", ["Gizmodo"], "gizmodo"),
    ("abc 17 news police facial recognition", ["ABC 17 News"], "abc 17 news"),
    ("us news and world report ai", ["U.S. News & World Report"], "us news and world report"),
    ("research published in nature about face masks", ["Nature"], "nature"),
    ("according to reuters clearview", ["Reuters"], "reuters"),
    ("forbes clearview", ["Forbes"], "forbes"),
    ("the times reported on clearview", ["The Times"], "the times"),
    ("morningstar ai stocks", ["Morningstar, Inc."], "morningstar"),
    ("did the verge and techcrunch cover the amazon ban", ["The Verge", "TechCrunch"], "the verge"),
    ("compare bbc and cnbc coverage of clearview", ["BBC", "CNBC"], "bbc"),
    ("what did fortune write about ai", ["Fortune"], "fortune"),
]


@pytest.mark.parametrize(("query", "outlets", "typed"), OUTLET_CASES)
def test_outlets_typed_anywhere_are_resolved_to_corpus_names(reader, query, outlets, typed):
    intent = read(reader, query)
    assert list(intent.outlet_names) == outlets
    first = intent.outlets[0]
    assert first.typed == typed
    assert query[first.span[0] : first.span[1]] == typed
    # Words that named an outlet are never left in the subject.
    for word in typed.replace("'s", "").split():
        assert word.casefold() not in intent.subject_words


NOT_OUTLET_CASES = [
    "clearview on the verge of a ban",
    "police on the verge",  # no talk of coverage: "on" is a place here
    "ice contract with clearview",  # "ice" is not VICE
    "how much money did ICE pay clearview",
    "times square facial recognition cameras",
    "in times square facial recognition",
    "how many times was clearview hacked",
    "in times of crisis police use facial recognition",
    "apple facial recognition",  # Apple is not an outlet in the list
    "apple's face id",
    "a fortune 500 company uses facial recognition",
    "clearview made a fortune selling to police",
    "any news on the nature of facial recognition",
    "wired earbuds with facial recognition",
    "digital trends in facial recognition",
    "government technology for police",
    "protesters on the hill",
    "the",
    "what is the next web trend",
    "insider trading at clearview",
    "clearview in the atlantic city casinos",
]


@pytest.mark.parametrize("query", NOT_OUTLET_CASES)
def test_ordinary_words_are_not_outlets(reader, query):
    assert read(reader, query).outlets == ()


def test_an_outlet_the_corpus_lacks_is_not_resolved_to_a_similar_one(corpus_reader):
    # No New York Times in the corpus: "times" is glued to "york", so not The Times either.
    intent = read(corpus_reader, "what did the new york times say about clearview")
    assert intent.outlets == ()
    assert read(corpus_reader, "nyt on clearview").outlets == ()
    assert read(corpus_reader, "what did fortune write about ai").outlets == ()


def test_outlet_decisions_say_which_rule_accepted_them(reader):
    by_cue = read(reader, "clearview coverage by techcrnch").outlets[0]
    assert by_cue.rule.startswith("cue 'by'")
    assert 85 <= by_cue.score < 100
    assert read(reader, "gizmodo australia clearview").outlets[0].rule == "distinctive name"
    assert read(reader, "what did the verge write").outlets[0].rule == "cue 'write' + score 100"


def test_without_capitalisation_data_only_coined_names_stand_alone():
    plain = QueryReader(CORPUS_OUTLETS, TOPICS)
    assert plain.read("zdnet clearview", now=NOW).outlet_names == ("ZDNet",)
    assert plain.read("benzinga ai stocks", now=NOW).outlet_names == ("Benzinga.com",)
    assert plain.read("forbes clearview", now=NOW).outlets == ()  # could be a word
    assert plain.read("what did forbes write about clearview", now=NOW).outlet_names == ("Forbes",)
    assert plain.read("digital trends in ai", now=NOW).outlets == ()


def test_article_counts_break_ties_between_outlets_a_short_form_may_mean():
    reader = QueryReader({"BBC": 3, "BBC News": 40}, (), capitalised_share=SHARE.get)
    assert reader.read("bbc clearview", now=NOW).outlet_names == ("BBC News",)


# --- Periods -------------------------------------------------------------------------------
PERIOD_CASES = [
    # (query, start, end, span text); NOW is 10 March 2021
    ("clearview in april 2020", dt(2020, 4, 1), dt(2020, 5, 1), "in april 2020"),
    ("clearview last august", dt(2020, 8, 1), dt(2020, 9, 1), "last august"),
    ("last march", dt(2020, 3, 1), dt(2020, 4, 1), "last march"),
    ("facial recognition bans 2021", dt(2021, 1, 1), dt(2022, 1, 1), "2021"),
    ("june 2020 protests", dt(2020, 6, 1), dt(2020, 7, 1), "june 2020"),
    ("what happened on 14 august 2020", dt(2020, 8, 14), dt(2020, 8, 15), "on 14 august 2020"),
    ("amazon aug 14", dt(2020, 8, 14), dt(2020, 8, 15), "aug 14"),
    ("august 14th, 2020 clearview", dt(2020, 8, 14), dt(2020, 8, 15), "august 14th, 2020"),
    ("clearview this year", dt(2021, 1, 1), dt(2022, 1, 1), "this year"),
    ("last year", dt(2020, 1, 1), dt(2021, 1, 1), "last year"),
    ("clearview news last month", dt(2021, 2, 1), dt(2021, 3, 1), "last month"),
    ("since may clearview", dt(2020, 5, 1), None, "since may"),
    ("before july 2020", None, dt(2020, 7, 1), "before july 2020"),
    ("until july 2020", None, dt(2020, 8, 1), "until july 2020"),
    ("after june 2020", dt(2020, 7, 1), None, "after june 2020"),
    ("early 2020 clearview", dt(2020, 1, 1), dt(2020, 5, 1), "early 2020"),
    ("mid-2020", dt(2020, 5, 1), dt(2020, 9, 1), "mid-2020"),
    ("late april", dt(2020, 4, 21), dt(2020, 5, 1), "late april"),
    ("by the end of 2020", dt(2020, 9, 1), dt(2021, 1, 1), "the end of 2020"),
    (
        "between april and june 2020 rekognition",
        dt(2020, 4, 1),
        dt(2020, 7, 1),
        "between april and june 2020",
    ),
    ("from march to may 2020", dt(2020, 3, 1), dt(2020, 6, 1), "from march to may 2020"),
    ("2019-2020", dt(2019, 1, 1), dt(2021, 1, 1), "2019-2020"),
    ("2020-08-14", dt(2020, 8, 14), dt(2020, 8, 15), "2020-08-14"),
    ("facial recognition 8/14/2020", dt(2020, 8, 14), dt(2020, 8, 15), "8/14/2020"),
    ("past 2 weeks", dt(2021, 2, 24), None, "past 2 weeks"),
    ("yesterday", dt(2021, 3, 9), dt(2021, 3, 10), "yesterday"),
    ("q3 2020 earnings", dt(2020, 7, 1), dt(2020, 10, 1), "q3 2020"),
    ("in march", dt(2021, 3, 1), dt(2021, 4, 1), "in march"),  # this month has begun
    ("in december", dt(2020, 12, 1), dt(2021, 1, 1), "in december"),
    ("the 2010s", dt(2010, 1, 1), dt(2020, 1, 1), "2010s"),
]


@pytest.mark.parametrize(("query", "start", "end", "typed"), PERIOD_CASES)
def test_periods_are_utc_intervals_with_exclusive_ends(reader, query, start, end, typed):
    period = read(reader, query).period
    assert period is not None
    assert (period.start, period.end) == (start, end)
    assert period.typed == typed
    assert query[period.span[0] : period.span[1]] == typed


@pytest.mark.parametrize(
    "query",
    [
        "may clearview sue amazon",
        "march for racial justice",
        "april smith on facial recognition",
        "2000 employees",
        "how many of the 2000 cameras",
        "clearview raised $2020",
    ],
)
def test_words_that_only_look_like_dates_are_not_periods(reader, query):
    assert read(reader, query).period is None


def test_relative_periods_follow_the_injected_now(reader):
    september = datetime(2021, 9, 2, tzinfo=UTC)
    period = reader.read("last august", now=september).period
    assert period is not None and period.start == dt(2021, 8, 1)
    naive = reader.read("this year", now=datetime(2019, 6, 1)).period
    assert naive is not None and naive.start == dt(2019, 1, 1)


def test_period_words_leave_the_subject(reader):
    intent = read(reader, "how much did ice pay clearview in april 2020")
    assert intent.subject_words == ("ice", "pay", "clearview")


# --- Topics --------------------------------------------------------------------------------
TOPIC_CASES = [
    ("computer vision in retail", ["Computer Vision"], "computer vision"),
    ("computer vison startups", ["Computer Vision"], "computer vison"),
    ("machine learnig for x-rays", ["Machine Learning"], "machine learnig"),
    ("facial recogntion bans", ["Facial Recognition"], "facial recogntion"),
    ("nlp models", ["Natural Language Processing"], "nlp"),
    ("aws ai announcements", ["AWS AI"], "aws ai"),
    ("ai in autos", ["AI in Autos"], "ai in autos"),
    ("ai etics", ["AI Ethics"], "ai etics"),
    ("clearview ai", ["AI"], "ai"),
    ("what did the verge write about computer vision", ["Computer Vision"], "computer vision"),
]


@pytest.mark.parametrize(("query", "topics", "typed"), TOPIC_CASES)
def test_topics_are_matched_when_typed(reader, query, topics, typed):
    intent = read(reader, query)
    assert list(intent.topic_names) == topics
    start, end = intent.topics[0].span
    assert query[start:end] == typed


@pytest.mark.parametrize(
    "query", ["aid to police", "computer science degrees", "said", "machine guns", "ibm"]
)
def test_short_topics_are_exact_and_unrelated_phrases_miss(reader, query):
    assert read(reader, query).topics == ()


# --- Answer types --------------------------------------------------------------------------
ANSWER_CASES = [
    ("how much money did ICE pay Clearview", "money"),
    ("how much did the ftc fine facebook", "money"),
    ("what did the FTC fine facebook", "money"),
    ("how many police departments use clearview", "count"),
    ("what percentage of police use facial recognition", "count"),
    ("when did amazon ban police use of rekognition", "date"),
    ("what year was clearview founded", "date"),
    ("how long ago did ibm quit facial recognition", "date"),
    ("how long is amazon's moratorium", "duration"),
    ("who founded clearview", "person"),
    ("which company bought clearview", "organization"),
    ("which tech companies stopped selling facial recognition", "organization"),
    ("which outlets covered the clearview breach", "organization"),
    ("who covered the clearview breach", "organization"),
    ("where is clearview based", "place"),
    ("which cities banned facial recognition", "place"),
    ("why did ibm quit facial recognition", "reason"),
    ("is it true that ICE paid clearview", "yes_no"),
    ("did the verge cover clearview", "yes_no"),
    ("does amazon sell rekognition to police?", "yes_no"),
    ("hey, is clearview legal", "yes_no"),
    ("what is clearview ai", "definition"),
    ("what does gdpr mean", "definition"),
    ("define deepfake", "definition"),
    ("what did the verge write about clearview", "what"),
    ("tell me about clearview", "none"),
    ("can you find articles about clearview", "none"),
    ("what's the story with clearview", "none"),
    ("clearview ice contract", "none"),
    # A wh-word inside the question starts a clause: the opening frame decides.
    ("which airport put in a system that alarms when crowds build up", "what"),
    ("what did engadget say clearview was preparing for when it won the contract", "what"),
    ("how many police departments used clearview when it launched", "count"),
    # An opening that asks for nothing in particular leaves it to the frame after it.
    ("tell me how many police departments use clearview", "count"),
    ("i want to know how much ice paid clearview", "money"),
    ("do you know when amazon banned police use of rekognition", "date"),
]


@pytest.mark.parametrize(("query", "answer"), ANSWER_CASES)
def test_answer_type_comes_from_the_question_frame(reader, query, answer):
    assert read(reader, query).answer_type == answer


def test_every_answer_type_is_known_and_maps_to_passage_cues(reader):
    intents = [read(reader, q) for q, _ in ANSWER_CASES]
    assert {i.answer_type for i in intents} <= set(ANSWER_TYPES)
    assert read(reader, "how many cameras").passage_answer_type == "number"
    assert read(reader, "which company bought clearview").passage_answer_type == "who"
    assert read(reader, "tell me about clearview").passage_answer_type is None


# --- Frame and subject words ---------------------------------------------------------------
FRAME_CASES = [
    (
        "how much money did ICE pay Clearview",
        {"how", "much", "money", "did"},
        ("ice", "pay", "clearview"),
    ),
    (
        "what did the verge write about clearview and ice",
        {"what", "did", "write", "about"},
        ("clearview", "ice"),
    ),
    (
        "is it true that clearview scraped facebook photos",
        {"is", "it", "true", "that"},
        ("clearview", "scraped", "facebook", "photos"),
    ),
    (
        "tell me about the amazon rekognition moratorium",
        {"tell", "me", "about"},
        ("amazon", "rekognition", "moratorium"),
    ),
    (
        "coverage of the portland facial recognition ban",
        {"coverage", "of"},
        ("portland", "facial", "recognition", "ban"),
    ),
    (
        "who first reported the clearview breach",
        {"who", "first", "reported"},
        ("clearview", "breach"),
    ),
    (
        "what's the story with clearview and the rcmp",
        {"what", "is", "the", "story", "with"},
        ("clearview", "rcmp"),
    ),
    (
        "any news on detroit police facial recognition",
        {"any", "news", "on"},
        ("detroit", "police", "facial", "recognition"),
    ),
    (
        "can you find an article about ibm quitting facial recognition",
        {"can", "you", "find", "article", "about"},
        ("ibm", "quitting", "facial", "recognition"),
    ),
    (
        "which company did clearview partner with",
        {"which", "company", "did"},
        ("clearview", "partner"),
    ),
    (
        "hey so what did techcrunch say about otter",
        {"hey", "so", "what", "did", "say", "about"},
        ("otter",),
    ),
    ("who reported on clearview first", {"who", "reported", "on", "first"}, ("clearview",)),
    (
        "which police departments used clearview",
        {"which", "departments"},
        ("police", "used", "clearview"),
    ),
]


@pytest.mark.parametrize(("query", "frame", "subject"), FRAME_CASES)
def test_frame_words_leave_only_what_the_question_is_about(reader, query, frame, subject):
    intent = read(reader, query)
    assert set(intent.frame_words) == frame
    assert intent.subject_words == subject


def test_subject_words_spell_figures_as_the_index_does(reader):
    intent = read(reader, "did ice pay clearview $224,000")
    assert intent.subject_words == ("ice", "pay", "clearview", "224000")
    # "dollars" after a figure is the currency of a fact, not a word to look for.
    assert "dollars" not in read(reader, "5 million dollars contract").subject_words


# --- Names ---------------------------------------------------------------------------------
NAME_CASES = [
    ("detroit police facial recognition", ("detroit",), ("detroit",)),
    ("nfl stadium facial recognition", ("nfl",), ("nfl",)),
    ("amazon rekognition ban", ("amazon", "rekognition"), ("amazon rekognition",)),
    ("san diego police ban", ("san", "diego"), ("san diego",)),
    ("Ban on Facial Recognition", (), ()),  # typed capitals the corpus doesn't use
    ("how much money did ICE pay Clearview", ("ice", "clearview"), ("ice", "clearview")),
    ("clearview in august", ("clearview",), ("clearview",)),  # months are never names
]


@pytest.mark.parametrize(("query", "names", "phrases"), NAME_CASES)
def test_names_are_words_the_corpus_capitalises(reader, query, names, phrases):
    intent = read(reader, query)
    assert intent.names == names
    assert intent.name_phrases == phrases


def test_without_corpus_data_names_come_from_the_query_capitals():
    plain = QueryReader(CORPUS_OUTLETS, TOPICS)
    assert plain.read("Detroit police", now=NOW).names == ()  # a first word is capitalised anyway
    assert plain.read("police in Detroit", now=NOW).names == ("detroit",)
    assert plain.read("San Diego police", now=NOW).name_phrases == ("san diego",)
    assert plain.read("is ICE paying clearview", now=NOW).names == ("ice",)
    # A word the corpus lacks falls back to the typed capitals too.
    unknown = QueryReader((), (), capitalised_share=SHARE.get)
    assert unknown.read("recalls by Rivian", now=NOW).names == ("rivian",)


def test_words_whose_casing_the_corpus_cannot_show_are_listed(reader):
    # "samsung" is in no sentence of the corpus (never used, or only in headlines); "tesla"
    # and "government" are, as a name and as a word; without corpus data nothing is listed.
    intent = read(reader, "did tesla or samsung brief the government")
    assert intent.uncased == ("samsung", "brief")
    assert QueryReader((), ()).read("did tesla or samsung brief", now=NOW).uncased == ()


# --- Facts ---------------------------------------------------------------------------------
FACT_CASES = [
    ("did ice pay clearview $224,000", [("money", 224000.0, "224000", "$224,000")]),
    ("a 224k contract", [("number", 224000.0, "224000", "224k")]),
    ("$5 million settlement", [("money", 5e6, "5000000", "$5 million")]),
    ("5 million dollars", [("money", 5e6, "5000000", "5 million dollars")]),
    ("€1.5bn fine", [("money", 1.5e9, "1500000000", "€1.5bn")]),
    ("40% of police", [("percent", 40.0, "40", "40%")]),
    ("30 percent of police", [("percent", 30.0, "30", "30 percent")]),
    ("30 cameras", [("number", 30.0, "30", "30")]),
    ("clearview in 2020", [("year", 2020.0, "2020", "2020")]),
    (
        "on 14 august 2020",
        [("year", 2020.0, "2020", "2020"), ("date", None, "2020-08-14", "on 14 august 2020")],
    ),
    ("april 2020", [("year", 2020.0, "2020", "2020"), ("month", None, "2020-04", "april 2020")]),
    ("2000 employees", [("number", 2000.0, "2000", "2000")]),
    ("did granulate raise 12 mil", [("number", 12e6, "12000000", "12 mil")]),
]


def test_a_scale_typed_short_is_sought_as_articles_write_it(reader):
    assert read(reader, "did granulate raise 12 mil").subject_words == (
        "granulate",
        "raise",
        "12",
        "million",
    )
    assert read(reader, "a series b round").subject_words == ("series", "b", "round")


@pytest.mark.parametrize(("query", "facts"), FACT_CASES)
def test_figures_are_facts(reader, query, facts):
    found = read(reader, query).facts
    assert [(f.kind, f.value, f.normalized, f.typed) for f in found] == facts
    for fact in found:
        assert query[fact.span[0] : fact.span[1]] == fact.typed


# Prose around a figure: contractions, a possessive, figures before and after it.
PROSE = "In 1999 it's what they'd said: {} - and that isn't all, the report's 3 authors wrote."


@pytest.mark.parametrize(
    "figure",
    [q for q, f in FACT_CASES if not {kind for kind, *_ in f} & {"date", "month"}]
    + ["$5 million dollars percent", "it's 12 mil, isn't it", "2020's 40%"],
)
def test_an_article_states_the_figures_a_query_names(reader, figure):
    # What an answer checks an article's text for: the same figures a query naming them is
    # read for, read the same way, amid the words of a paragraph (of which only those next to
    # a figure are read).
    found = stated_facts(PROSE.format(figure))
    named = read(reader, figure).facts
    assert named
    assert [(f.kind, f.value, f.normalized, f.typed) for f in found] == [
        ("year", 1999.0, "1999", "1999"),
        *((f.kind, f.value, f.normalized, f.typed) for f in named),
        ("number", 3.0, "3", "3"),
    ]


def test_a_paragraph_without_figures_states_none():
    assert stated_facts("Clearview signed a contract with ICE, the agency's first. " * 50) == ()


# --- Relations -----------------------------------------------------------------------------
RELATION_CASES = [
    ("did amazon acquire a facial recognition startup", ("acquire",)),
    ("who bought clearview", ("acquire",)),
    ("why was the contract cancelled", ("cancel",)),
    ("clearview settled the aclu lawsuit", ("settle", "sue")),
    ("which cities banned facial recognition", ("ban",)),
    ("who sued clearview", ("sue",)),
    ("how much money did ICE pay Clearview", ("pay",)),
    ("was facebook fined", ("fine",)),
    ("why did tesla lose the trade secrets case", ("lose",)),
    ("did portland repeal its ban", ("repeal", "ban")),
    ("when did facebook shut down the feature", ("close",)),
    ("was the vote postponed", ("delay",)),
    ("amazon launches rekognition feature", ("launch",)),
    ("ibm partnered with", ("partner",)),
    ("softbank invested in", ("invest",)),
    ("uk regulators investigating clearview", ("investigate",)),
    ("privacy probe into clearview", ("investigate",)),
    ("what did the verge write about clearview", ()),
]


@pytest.mark.parametrize(("query", "relations"), RELATION_CASES)
def test_event_verbs_are_relations(reader, query, relations):
    intent = read(reader, query)
    assert intent.relations == relations
    # The relation verb is part of what is asserted: it stays a subject word.
    for word in query.split():
        if word in ("paid", "pay", "banned", "sued"):
            assert word in intent.subject_words


# --- All at once, and the edges ------------------------------------------------------------
def test_one_query_with_everything(reader):
    query = "did teh verge report that ICE paid Clearview $224,000 last august?"
    intent = read(reader, query)
    assert intent.outlet_names == ("The Verge",)
    assert intent.period is not None and intent.period.start == dt(2020, 8, 1)
    assert intent.answer_type == "yes_no"
    assert intent.subject_words == ("ice", "paid", "clearview", "224000")
    assert intent.names == ("ice", "clearview")
    assert [f.kind for f in intent.facts] == ["money", "month"]
    assert intent.relations == ("pay",)
    assert intent.question


@pytest.mark.parametrize(
    "query", ["", "   ", "?", "the", "$", "…", "'s", "2020-13-45", "31/31/2020"]
)
def test_degenerate_queries_read_as_nothing_much(reader, query):
    intent = read(reader, query)
    assert intent.outlets == () and intent.topics == ()
    assert intent.answer_type in ANSWER_TYPES


def _adversarial_inputs() -> dict[str, str]:
    size = 65_536
    runs = {f"run {p!r}": (p * size)[:size] for p in string.punctuation}
    words = {
        "letters": "a" * size,
        "digits": "1" * size,
        "digit dots": "1." * (size // 2),
        "money": "$1," * (size // 3),
        "slashes": "1/" * (size // 2),
        "dashes": "2020-" * (size // 5),
        "digits spaced": "1 " * (size // 2),
        "apostrophes": "a'" * (size // 2),
        "cues": "by verge " * (size // 9),
        "fuzzy cues": "by techcrnch " * (size // 13),
        "possessives": "verge's " * (size // 8),
        "dates": "aug 14 " * (size // 7),
        "ranges": "between april and " * (size // 18),
        "frames": "what is the story with " * (size // 23),
        "topics": "facial recogntion " * (size // 18),
        "fillers": "ok " * (size // 3) + "is it",
        "unique words": " ".join(f"w{i}" for i in range(size // 6))[:size],
        "whitespace": " \t\n" * (size // 3),
        "unicode": "é’ß²" * (size // 4),
        "long digit run": "9" * 5000 + " million " + "9" * (size - 5010),
        "everything": "".join(chr(32 + i % 95) for i in range(size)),
    }
    return runs | words


@pytest.mark.parametrize(("name", "text"), list(_adversarial_inputs().items()))
def test_hostile_64k_queries_finish_quickly(reader, name, text):
    started = time.perf_counter()
    intent = read(reader, text)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{name}: {elapsed:.3f} s"
    assert len(intent.subject_words) <= MAX_QUERY_WORDS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_reads_without_error_and_spans_fit(text):
    intent = _SHARED_READER.read(text, now=NOW)
    spans = [m.span for m in intent.outlets] + [m.span for m in intent.topics]
    spans += [f.span for f in intent.facts]
    if intent.period is not None:
        spans.append(intent.period.span)
        if intent.period.start and intent.period.end:
            assert intent.period.start < intent.period.end
    for start, end in spans:
        assert 0 <= start < end <= len(text)


_SHARED_READER = QueryReader(CORPUS_OUTLETS + EXTRA_OUTLETS, TOPICS, capitalised_share=SHARE.get)


def test_reading_is_fast(reader):
    """Tens of microseconds a query; the bound is ten times that, for a loaded machine."""
    queries = [q for q, *_ in OUTLET_CASES + ANSWER_CASES + FRAME_CASES]
    for query in queries:
        read(reader, query)
    started = time.perf_counter()
    for _ in range(5):
        for query in queries:
            read(reader, query)
    per_query = (time.perf_counter() - started) / (5 * len(queries))
    assert per_query < 0.0005, f"{per_query * 1e6:.0f} µs a query"
