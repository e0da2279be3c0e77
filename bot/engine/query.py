"""What a query asks, read the way people type into a chat bot: no index access, no I/O.

A query such as "how much money did ICE pay clearview last august?" or "what did teh verge
write about facial recognition" says several things at once: which outlet it is about, which
period, which of the corpus's topics, what kind of answer it wants (an amount, a date, a
name…), which words only frame the question, and what the question is about. ``QueryReader``
separates them so later stages (retrieval, answerability) can use each for what it is:

* **outlets** (``OutletMention``): outlet names typed anywhere in the query, with their short
  forms ("nyt", "wapo", "biz insider"), resolved against the corpus's own outlet names. The
  decision is one rule, kept in ``OutletMention.rule`` so it can be explained:

      accept = (exact match of a DISTINCTIVE name)
               or (a CUE names it as a source and the fuzzy score >= OUTLET_FUZZY_SCORE)

  A cue is "by/from/in/on/at/via/per/according to" before it, or "'s", "coverage", "article",
  "wrote", "reported", "said", "covered"… after it. A name is distinctive when it cannot be an
  ordinary word of a question: a short form the table marks so ("nyt", "techcrunch"), a coined
  name (CamelCase, digits, a domain: "ZDNet", "ABC 17 News", "Benzinga.com"), or a name the
  corpus itself writes capitalised (``capitalised_share``; "Forbes" but not "Nature"). A
  plain-word name ("verge", "times", "fortune", "ap") must also stand apart: not glued to a
  content word ("new york times", "times square") nor followed by "of" ("on the verge of").
  Short names (under five letters) are matched exactly; fuzzy matching is only ever tried next
  to a cue, so "ice" never becomes "VICE" and an uncued typo never becomes an outlet.
* **period** (``Period``): "in april 2020", "last august", "aug 14", "since may", "before july
  2020", "early 2020", "between april and june 2020", "this year"… as a UTC interval with an
  exclusive end; ``None`` on a side means open. Relative forms use the injected ``now``.
* **topics**: the corpus's topics when typed (exact; fuzzy for multi-word topics).
* **answer_type**: money, count, date, duration, person, place, organization, reason, yes_no,
  definition, what, or none, from the question frame ("how much", "which company"…).
* **frame_words** / **subject_words**: the words that only frame the question ("how much
  money", "what did … write about", "tell me about") and the content words that remain.
* **names**: subject words the CORPUS mostly writes capitalised (people type "detroit",
  "nfl"), from ``capitalised_share``; **facts**: amounts, counts, years and dates asserted;
  **relations**: the event verbs ("pay", "acquire", "ban"…) as lemmas.

Speed: everything the outlet and topic lists imply is built once in ``QueryReader``; a read is
a few dictionary lookups per word (tens of microseconds). The only regex is the tokenizer,
which has no nested quantifiers and runs in linear time; fuzzy matching is bounded per query.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from rapidfuzz import fuzz, process

from bot.engine.text import QUESTION_WORDS, STOPWORDS, words

Span = tuple[int, int]  # character offsets into the query: query[start:end]
CapitalisedShare = Callable[[str], float | None]

# Answer types. ``PASSAGE_ANSWER_TYPES`` maps them onto the names ``passages.py`` uses.
MONEY, COUNT, DATE, DURATION = "money", "count", "date", "duration"
PERSON, PLACE, ORGANIZATION, REASON = "person", "place", "organization", "reason"
YES_NO, DEFINITION, WHAT, NONE = "yes_no", "definition", "what", "none"
ANSWER_TYPES = (MONEY, COUNT, DATE, DURATION, PERSON, PLACE, ORGANIZATION, REASON, YES_NO)
ANSWER_TYPES += (DEFINITION, WHAT, NONE)
PASSAGE_ANSWER_TYPES: dict[str, str] = {
    MONEY: "money",
    COUNT: "number",
    DATE: "date",
    DURATION: "duration",
    PERSON: "who",
    ORGANIZATION: "who",
    PLACE: "where",
    REASON: "why",
}

# Hand-set thresholds (not fitted): a typo of a long name scores 88-97 with ``fuzz.ratio``
# ("techcrnch" 94.7, "buisness insider" 93.8); two different ordinary words rarely reach 85.
OUTLET_FUZZY_SCORE = 85.0
TOPIC_FUZZY_SCORE = 88.0
FUZZY_MIN_CHARS = 5  # names shorter than this are matched exactly ("ice" is not "vice")
NAME_SHARE = 0.6  # a word the corpus capitalises this often (mid-sentence) is a name
MAX_FUZZY_CALLS = 24  # per query: bounds the work an adversarial query can cause
# Words read per query; the rest is ignored. A chat message (4,000 characters at most) holds
# fewer; a pasted 64 KB page costs ~25 ms instead of ~0.8 s.
MAX_QUERY_WORDS = 1000

# --- Tokens ------------------------------------------------------------------------------------
# A figure ("$224,000", "224k", "1.5bn", "40%", "14th", "2010s") or a word with an optional
# apostrophe part ("clearview's", "what's"). No nested quantifiers: linear on any input.
_TOKEN = re.compile(r"[$€£¥]?[0-9][0-9.,]*[^\W_]*%?|[^\W_]+(?:['’][^\W_]+)?")
_CURRENCY_SIGNS = "$€£¥"
_FIGURE_START = frozenset(_CURRENCY_SIGNS + "0123456789")
_DIGIT = re.compile(r"[0-9]")
_AFTER_FIGURE = 3  # words read after a figure: "5 million dollars percent" at most
_TYPOS = {"teh": "the", "hte": "the"}  # typed for "the" often enough to matter
_CONTRACTIONS: dict[str, tuple[str, ...]] = {
    "what's": ("what", "is"),
    "who's": ("who", "is"),
    "where's": ("where", "is"),
    "when's": ("when", "is"),
    "how's": ("how", "is"),
    "why's": ("why", "is"),
    "that's": ("that", "is"),
    "it's": ("it", "is"),
    "there's": ("there", "is"),
    "what're": ("what", "are"),
    "isn't": ("is", "not"),
    "aren't": ("are", "not"),
    "wasn't": ("was", "not"),
    "weren't": ("were", "not"),
    "didn't": ("did", "not"),
    "doesn't": ("does", "not"),
    "don't": ("do", "not"),
    "hasn't": ("has", "not"),
    "haven't": ("have", "not"),
    "can't": ("can", "not"),
    "won't": ("will", "not"),
    "i'm": ("i", "am"),
}


class _Tok(NamedTuple):
    """One word of the query: as typed, normalised, and where it sits (a tuple: made fast)."""

    text: str  # as typed (a contraction's parts share its text and span)
    low: str  # casefolded, "’" as "'", a possessive "'s" removed, "teh" as "the"
    start: int
    end: int
    possessive: bool = False
    numeric: bool = False


def _tokens(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in itertools.islice(_TOKEN.finditer(query), MAX_QUERY_WORDS):
        _add_tokens(out, m)
    return out


def _add_tokens(out: list[_Tok], m: re.Match[str]) -> None:
    """The tokens of one word matched by ``_TOKEN`` (a contraction is two), added to ``out``."""
    text = m.group()
    start, end = m.span()
    if text[0] in _FIGURE_START:
        trimmed = text.rstrip(".,")  # "in 2020." - the period ends the sentence
        end -= len(text) - len(trimmed)
        out.append(_Tok(trimmed, trimmed.casefold(), start, end, False, True))
        return
    low = text.casefold()
    if "'" in low or "’" in low:
        low = low.replace("’", "'")
        parts = _CONTRACTIONS.get(low)
        if parts:
            out.extend(_Tok(text, part, start, end, False, False) for part in parts)
        elif low.endswith("'s"):
            out.append(_Tok(text, low[:-2], start, end, True, False))
        else:
            out.append(_Tok(text, low, start, end, False, False))
    else:
        out.append(_Tok(text, _TYPOS.get(low, low), start, end, False, False))


# --- Outlets -----------------------------------------------------------------------------------
# Short forms people type, the outlet names (normalised, without a leading "the") each may
# stand for, and whether the short form is distinctive (can name the outlet without a cue).
# An entry counts only for outlets the corpus has; its flag overrides the general rule, so
# plain words that are also outlet names ("verge", "times", "fortune") always need a cue.
SHORT_FORMS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("verge", ("verge",), False),
    ("nyt", ("new york times",), True),
    ("ny times", ("new york times",), True),
    ("nytimes", ("new york times",), True),
    ("new york times", ("new york times",), True),
    ("wsj", ("wall street journal",), True),
    ("wall street journal", ("wall street journal",), True),
    ("bbc", ("bbc", "bbc news"), True),
    ("bbc news", ("bbc news", "bbc"), True),
    ("ap", ("associated press", "ap", "ap news"), False),
    ("ap news", ("ap news", "associated press"), True),
    ("associated press", ("associated press",), True),
    ("business insider", ("business insider",), True),
    ("biz insider", ("business insider",), True),
    ("businessinsider", ("business insider",), True),
    ("bi", ("business insider",), False),
    ("insider", ("insider", "business insider"), False),
    ("wapo", ("washington post",), True),
    ("washington post", ("washington post",), True),
    ("wash post", ("washington post",), True),
    ("ft", ("financial times",), False),
    ("financial times", ("financial times",), True),
    ("cnbc", ("cnbc",), True),
    ("zdnet", ("zdnet",), True),
    ("zd net", ("zdnet",), True),
    ("techcrunch", ("techcrunch",), True),
    ("tech crunch", ("techcrunch",), True),
    ("tc", ("techcrunch",), False),
    ("venturebeat", ("venturebeat",), True),
    ("venture beat", ("venturebeat",), True),
    ("vb", ("venturebeat",), False),
    ("tnw", ("next web",), True),
    ("next web", ("next web",), False),
    ("guardian", ("guardian",), False),
    ("telegraph", ("daily telegraph", "telegraph"), False),
    ("times", ("times",), False),
    ("la times", ("los angeles times",), True),
    ("scmp", ("south china morning post",), True),
    ("sf chronicle", ("san francisco chronicle",), True),
    ("sfgate", ("sfgate",), True),
    ("marketwatch", ("marketwatch",), True),
    ("market watch", ("marketwatch",), True),
    ("motley fool", ("motley fool",), True),
    ("fool", ("motley fool",), False),
    ("ars", ("ars technica",), False),
    ("ars technica", ("ars technica",), True),
    ("pr newswire", ("pr newswire",), True),
    ("prnewswire", ("pr newswire",), True),
    ("business wire", ("business wire",), True),
    ("businesswire", ("business wire",), True),
    ("cnet", ("cnet",), True),
    ("cnn", ("cnn",), True),
    ("nbc", ("nbc news",), False),
    ("cbs", ("cbs news",), False),
    ("abc", ("abc news",), False),
    ("usa today", ("usa today",), True),
    # Outlets named by ordinary words: never without a cue.
    ("fortune", ("fortune",), False),
    ("wired", ("wired",), False),
    ("nature", ("nature",), False),
    ("vice", ("vice", "vice news"), False),
    ("stat", ("stat", "stat news"), False),
    ("hill", ("hill",), False),
    ("atlantic", ("atlantic",), False),
    ("conversation", ("conversation",), False),
    ("star", ("star",), False),
    ("edge", ("edge",), False),
    ("mic", ("mic",), False),
    ("salon", ("salon",), False),
    ("variety", ("variety",), False),
    ("windows", ("windows",), False),
    ("embedded", ("embedded",), False),
    ("law", ("law",), False),
    ("research", ("research",), False),
    ("construction", ("construction",), False),
)
_DOMAIN_ENDINGS = (".com.au", ".co.uk", ".com", ".net", ".org", ".ie", ".eu", ".io", ".co")
ALIASES = 8  # the most names one outlet is aliased under (see ``_aliases``)
_CORPORATE = frozenset("inc ltd llc plc corp co".split())
_BEFORE_CUES = frozenset("by from in on at via per".split())
# "in", "on" and "at" name places as often as sources ("on the hill", "in the atlantic"): after
# one of them a plain-word name also needs the query to talk about coverage.
_WEAK_CUES = frozenset("in on at".split())
_COVERAGE_WORDS = frozenset(
    """coverage article articles story stories piece report reports reported reporting wrote
    write writes written said says covered cover covers published publish headline read news
    editorial interview""".split()  # "op-ed" is read as op, ed: never one word
)
_AFTER_CUES = frozenset(
    """coverage article articles story stories piece pieces report reports reported reporting
    wrote write writes written writing said say says saying covered cover covers covering
    published publish publishes headline headlines journalist journalists reporter reporters
    editorial interview news claims claimed found""".split()
)
_COORDINATION = frozenset("and or vs versus".split())


@dataclass(frozen=True, slots=True)
class OutletMention:
    """An outlet the query names: the corpus's name for it, and the words that named it.

    ``rule`` says why it was accepted ("distinctive name" or "cue 'by' + score 94"), so a
    wrong resolution can be explained and a rule changed rather than a case patched.
    """

    name: str
    span: Span
    typed: str
    score: float
    rule: str
    # The corpus's other names for the same outlet: a record that names its outlet by its
    # domain, or by a URL of it ("theverge.com/2021/3/5/…"), beside "The Verge".
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _OutletKey:
    """A typed form of an outlet name and what it resolves to.

    Whether it is distinctive (can name the outlet without a cue) is decided when a query
    first meets it (``QueryReader._is_distinctive``): it asks the corpus how it cases the
    name's words, and a corpus of thousands of outlets made that seconds of start-up for
    names no query may ever type. Short forms say it themselves (``given``).
    """

    outlet: str
    words: int
    form: tuple[str, ...] = ()
    coined: bool = False
    given: bool | None = None


@dataclass(slots=True)
class _Candidate:
    """A stretch of query words that may name an outlet, before the rule decides."""

    first: int  # token index (a leading "the" included)
    last: int  # token index, inclusive
    key: _OutletKey
    score: float
    accepted: str = ""  # the rule that accepted it; "" while not accepted


def _aliases(by_normal: Mapping[tuple[str, ...], list[str]]) -> dict[str, tuple[str, ...]]:
    """Each outlet's other names: a domain's, and the name that, run together, spells it.

    "theverge.com" (or a URL of it) and "The Verge" ("theverge") are one outlet. Only domains:
    "AP/Reuters" is not AP, nor is "The Sun" Sun. A group holds at most ``2 * ALIASES`` names,
    so a corpus of made-up variants ("THEVERGE.COM", "t HeVerge", …) costs nothing.
    """
    spelling: dict[str, list[str]] = {}  # run together -> the names spelled so that are not domains
    for key, names in by_normal.items():
        for form in ("".join(key), "the" + "".join(key)):  # "the" is dropped from keys
            group = spelling.setdefault(form, [])
            group += [n for n in names if not _is_domain(n) and len(group) < ALIASES]
    groups: dict[str, set[str]] = {}
    for key, names in by_normal.items():
        for name in names:
            spelled = spelling.get("".join(key))
            if spelled and _is_domain(name):
                group = groups.setdefault("".join(key), set(spelled))
                if len(group) < 2 * ALIASES:
                    group.add(name)
    out: dict[str, tuple[str, ...]] = {}
    for group in groups.values():
        for name in group:
            out[name] = tuple(sorted(group - {name}))
    return out


def _is_domain(name: str) -> bool:
    """Whether an outlet's name is a domain, or a URL of one ("theverge.com/2021/3/5/…")."""
    return bool(_domain_ending(name))


def _domain_ending(name: str) -> str:
    """The ending (".com") of a name that is a domain or a URL of one; "" for any other name."""
    text = name.strip().casefold()
    if " " in text:
        return ""
    host = _host(text)
    return next((ending for ending in _DOMAIN_ENDINGS if host.endswith(ending)), "")


def _host(text: str) -> str:
    """A URL's host as written ("theverge.com" of "https://theverge.com/2021/…"); else ``text``."""
    return text.split("//")[-1].split("/")[0] if "/" in text else text


def _normalise_name(name: str) -> tuple[list[str], bool]:
    """An outlet display name as query-like words, and whether it is a coined name.

    Coined: CamelCase ("ZDNet", "GeekWire"), digits ("ABC 17 News"), or a domain
    ("Benzinga.com"): such a name is never an ordinary word of a question.
    """
    text = _host(name.strip())  # a URL typed as a name: its host
    folded = text.casefold()
    if folded.startswith("www."):
        folded, text = folded[4:], text[4:]
    coined = any(ch.isdigit() for ch in text)
    if ending := _domain_ending(folded):
        folded, coined = folded[: -len(ending)], True
    coined = coined or any(
        any(ch.isupper() for ch in word[1:]) and any(ch.islower() for ch in word)
        for word in text.split()
    )
    folded = folded.replace("&", " and ").replace("’", "'")
    found = [t.low for t in _tokens(folded)]
    while found and found[-1] in _CORPORATE and len(found) > 1:
        found.pop()
    if found and found[0] == "the" and len(found) > 1:
        found = found[1:]
    return found, coined


def _all_caps(name: str) -> bool:
    letters = [ch for ch in name if ch.isalpha()]
    return len(letters) >= 2 and all(ch.isupper() for ch in letters) and " " not in name.strip()


# --- Topics ------------------------------------------------------------------------------------
TOPIC_ALIASES: dict[str, str] = {
    "nlp": "natural language processing",
    "ml": "machine learning",
    "artificial intelligence": "ai",
    "face recognition": "facial recognition",
}


@dataclass(frozen=True, slots=True)
class TopicMention:
    """One of the corpus's topics, as typed in the query."""

    name: str
    span: Span
    score: float


# --- Periods -----------------------------------------------------------------------------------
_MONTHS = {
    name: number
    for number, names in enumerate(
        """january,jan february,feb march,mar april,apr may june,jun july,jul august,aug
        september,sep,sept october,oct november,nov december,dec""".split(),
        start=1,
    )
    for name in names.split(",")
}
_ORDINAL_ENDINGS = ("st", "nd", "rd", "th")
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}
_UNITS |= {"year": 365, "years": 365}
_PERIOD_CUES = frozenset("in on during throughout around of for".split())
_OPEN_START = frozenset("since after from".split())
_OPEN_END = frozenset("before until till through thru".split())
_PART = {"early": 0, "beginning": 0, "start": 0, "mid": 1, "middle": 1, "late": 2, "end": 2}
_RELATIVE = frozenset("last this next previous past current".split())
_PERIOD_LEADS = _PERIOD_CUES | _OPEN_START | _OPEN_END | {"between"}
_RANGE_JOIN = frozenset("to until till through thru and".split())
# Words a date expression can start with (besides figures): only these are tried.
_DATE_WORDS = frozenset(_MONTHS) | _RELATIVE | {"today", "yesterday", "q1", "q2", "q3", "q4"}
_NOT_YEAR_AFTER = frozenset(
    """million billion trillion thousand k m bn mn percent dollars usd euros pounds""".split()
)


@dataclass(frozen=True, slots=True)
class Period:
    """A UTC interval the query asks about; ``end`` is exclusive; ``None`` is an open side."""

    start: datetime | None
    end: datetime | None
    span: Span
    typed: str


@dataclass(slots=True)
class _Atom:
    """One date expression before modifiers: a year, a month, a day or a fixed interval."""

    first: int
    last: int
    year: int | None = None
    month: int | None = None
    day: int | None = None
    decade: bool = False
    quarter: int | None = None
    fixed: tuple[datetime, datetime | None] | None = None


# --- Facts -------------------------------------------------------------------------------------
_SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "mil": 1e6,  # as people type it: "raised 12 mil"
    "mill": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "bil": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "tn": 1e12,
    "trillion": 1e12,
}
_SCALE_WORDS = {1e3: "thousand", 1e6: "million", 1e9: "billion", 1e12: "trillion"}
_CURRENCY_WORDS = frozenset("dollars dollar usd euros euro eur pounds gbp bucks".split())


@dataclass(frozen=True, slots=True)
class Fact:
    """A figure the query asserts: an amount, count, percentage, year or date.

    ``kind`` is money, number, percent, year, month or date; ``normalized`` is the value as
    an article would be matched on ("224000", "2020", "2020-08", "2020-08-14").
    """

    kind: str
    value: float | None
    normalized: str
    span: Span
    typed: str


# --- Relations ---------------------------------------------------------------------------------
# Event verbs (and their nouns) a later stage checks the answering passage states.
_RELATION_FORMS: dict[str, str] = {
    "acquire": "acquire acquires acquired acquiring acquisition acquisitions buy buys bought "
    "buying purchase purchases purchased purchasing takeover",
    "ban": "ban bans banned banning prohibit prohibits prohibited outlaw outlaws outlawed",
    "cancel": "cancel cancels canceled cancelled canceling cancelling cancellation scrap "
    "scraps scrapped",
    "settle": "settle settles settled settling settlement settlements",
    "sue": "sue sues sued suing lawsuit lawsuits",
    "pay": "pay pays paid paying payment payments",
    "fine": "fine fines fined fining penalty penalties penalized penalised",
    "launch": "launch launches launched launching unveil unveils unveiled unveiling",
    "partner": "partner partners partnered partnering partnership partnerships",
    "invest": "invest invests invested investing investment investments",
    "investigate": "investigate investigates investigated investigating investigation "
    "investigations probe probes probed probing inquiry",
    "arrest": "arrest arrests arrested arresting",
    "sell": "sell sells sold selling",
    "spend": "spend spends spent spending",
    "raise": "raise raises raised raising",
    "merge": "merge merges merged merging merger",
    "suspend": "suspend suspends suspended suspension pause pauses paused pausing moratorium",
    "approve": "approve approves approved approving approval",
    "block": "block blocks blocked blocking",
    "hire": "hire hires hired hiring",
    "resign": "resign resigns resigned resigning resignation",
    "leak": "leak leaks leaked leaking breach breached hack hacked",
    "deploy": "deploy deploys deployed deploying deployment",
    "charge": "charge charges charged charging",
    "win": "win wins won winning victory victories",
    "lose": "lose loses lost losing loss losses",
    "sign": "sign signs signed signing",
    "close": "close closes closed closing closure closures shut shuts shutting shutdown",
    "repeal": "repeal repeals repealed repealing overturn overturns overturned overturning",
    "reject": "reject rejects rejected rejecting rejection rejections",
    "delay": "delay delays delayed delaying postpone postpones postponed postponing",
    "fire": "fire fires fired firing sack sacks sacked sacking",
    "expand": "expand expands expanded expanding expansion",
}
_RELATIONS: dict[str, str] = {
    form: lemma for lemma, forms in _RELATION_FORMS.items() for form in forms.split()
}
_MONEY_RELATIONS = frozenset("pay fine spend invest raise charge".split())

# --- Question frames ---------------------------------------------------------------------------
# Phrases that frame a question, and the answer type each asks for (None: no particular kind).
_FRAME_PHRASES: tuple[tuple[str, str | None], ...] = (
    ("how much money", MONEY),
    ("how much cash", MONEY),
    ("how much", MONEY),
    ("how many", COUNT),
    ("how often", COUNT),
    ("how old", COUNT),
    ("how big", COUNT),
    ("how large", COUNT),
    ("what percentage", COUNT),
    ("what percent", COUNT),
    ("what proportion", COUNT),
    ("what share", COUNT),
    ("what number", COUNT),
    ("what amount", MONEY),
    ("what price", MONEY),
    ("how long ago", DATE),
    ("for how long", DURATION),
    ("how long", DURATION),
    ("since when", DATE),
    ("when", DATE),
    ("who first reported", ORGANIZATION),
    ("who covered", ORGANIZATION),
    ("who reported", ORGANIZATION),
    ("who broke", ORGANIZATION),
    ("who", PERSON),
    ("whom", PERSON),
    ("whose", PERSON),
    ("where", PLACE),
    ("why", REASON),
    ("how come", REASON),
    ("for what reason", REASON),
    ("what is the reason", REASON),
    ("what was the reason", REASON),
    ("what are the reasons", REASON),
    ("what were the reasons", REASON),
    ("is it true that", YES_NO),
    ("is it true", YES_NO),
    ("is it the case that", YES_NO),
    ("define", DEFINITION),
    ("meaning of", DEFINITION),
    ("what is the story with", None),
    ("what is the story on", None),
    ("what is the story behind", None),
    ("what is the deal with", None),
    ("what is the latest on", None),
    ("what is the latest with", None),
    ("what is new with", None),
    ("what is going on with", None),
    ("what happened with", None),
    ("what happened to", None),
    ("what do we know about", None),
    ("what is known about", None),
    ("what about", None),
    ("tell me about", None),
    ("tell me", None),
    ("any news on", None),
    ("any news about", None),
    ("any news", None),
    ("latest on", None),
    ("can you find", None),
    ("can you tell me", None),
    ("can you", None),
    ("could you", None),
    ("would you", None),
    ("do you know", None),
    ("do you have", None),
    ("i want to know", None),
    ("i would like to know", None),
    ("i am looking for", None),
    ("looking for", None),
    ("give me", None),
    ("show me", None),
    ("find me", None),
    ("look up", None),
    ("search for", None),
    ("anything on", None),
    ("anything about", None),
    ("something on", None),
    ("something about", None),
    ("summary of", None),
    ("summarize", None),
    ("please", None),
)
# Nouns after "which"/"what" that say what kind of thing is asked for.
_KIND_NOUNS: dict[str, str] = {}
for _kind, _nouns in (
    (
        ORGANIZATION,
        """company companies firm firms organization organizations organisation organisations
        agency agencies startup startups vendor vendors brand brands outlet outlets publication
        publications site sites paper papers newspaper newspapers department departments
        business businesses media""",
    ),
    (
        PLACE,
        """city cities country countries state states place places region regions town towns
        county counties province provinces""",
    ),
    (DATE, "year years date dates day days month months time week"),
    (PERSON, "person people official officials executive executives ceo lawmaker lawmakers"),
):
    _KIND_NOUNS.update(dict.fromkeys(_nouns.split(), _kind))
_NAMED = ("outlet", "period")  # roles whose words can't be part of a topic
_KIND_SKIP = frozenset("is are was were the a an".split())
_WH = frozenset("what which who whom whose when where why how".split())
_AUX = frozenset("is are was were did does do has have had can could will would should".split())
_REPORTING = frozenset(
    """write wrote written writes writing say said says saying report reported reports
    reporting cover covered covers covering publish published publishes mention mentioned
    mentions have has""".split()
)
# Words that only ever frame a question here (the engine's META_WORDS drop them too).
_ALWAYS_FRAME = frozenset(
    """coverage article articles story stories news headline headlines piece pieces summary
    latest anything""".split()
)
_FRAME_PREPOSITIONS = frozenset("about on of regarding concerning re".split())
_FILLERS = frozenset("hey hi hello so ok okay bot um please".split())
# Function words the shared STOPWORDS list keeps but a question's subject never is.
_EXTRA_STOP = frozenset(
    """may might must shall ever really actually anyone anybody someone somebody something
    thing things""".split()  # "i'm" is read as i, am; "me" is a stop word
)
# Words that may sit between a question word and an outlet ("what did the verge…").
_FRAME_WORDS_BEFORE_OUTLET = _AUX | frozenset("first any latest".split())
_NEVER_NAMES = frozenset(_MONTHS) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday i".split()
)


@dataclass(frozen=True, slots=True)
class QueryIntent:
    """What one query asks; every span is character offsets into ``query``."""

    query: str
    outlets: tuple[OutletMention, ...]
    period: Period | None
    topics: tuple[TopicMention, ...]
    answer_type: str  # one of ANSWER_TYPES
    frame_words: tuple[str, ...]
    subject_words: tuple[str, ...]
    names: tuple[str, ...]  # name words, lowercase ("san", "diego", "clearview")
    name_phrases: tuple[str, ...]  # consecutive name words ("san diego")
    facts: tuple[Fact, ...]
    relations: tuple[str, ...]  # lemmas ("pay", "acquire")
    question: bool  # phrased as a question rather than a title fragment
    # Subject words the corpus never writes mid-sentence (unused, or only in titles and
    # outlets' names: "apple", "zealand"): whether they are names, its casing cannot say.
    uncased: tuple[str, ...] = ()

    @property
    def outlet_names(self) -> tuple[str, ...]:
        """The corpus's names of the outlets the query names, in the order typed."""
        return tuple(m.name for m in self.outlets)

    @property
    def outlet_matches(self) -> frozenset[str]:
        """Every name an article of the outlets the query names may carry (aliases too)."""
        return frozenset(n for m in self.outlets for n in (m.name, *m.aliases))

    @property
    def topic_names(self) -> tuple[str, ...]:
        """The corpus's names of the topics the query names."""
        return tuple(m.name for m in self.topics)

    @property
    def passage_answer_type(self) -> str | None:
        """The answer type in ``passages.py``'s terms ("number" for count, "who"…), if any."""
        return PASSAGE_ANSWER_TYPES.get(self.answer_type)


class QueryReader:
    """Reads queries against one corpus's outlets and topics; build once, ``read`` many times.

    ``outlets`` and ``topics`` are the corpus's display names (a mapping from name to article
    count is accepted too; the count breaks ties between outlets a short form may mean).
    ``capitalised_share(word)`` gives, for a lowercase word, the share of the corpus's
    occurrences written capitalised, not counting sentence-initial ones (``None`` when the
    corpus lacks the word). The engine can keep two counters per word at index time; without
    it, names fall back to how the query is typed and plain single-word outlet names need a cue.
    """

    def __init__(
        self,
        outlets: Iterable[str] | Mapping[str, int],
        topics: Iterable[str] = (),
        *,
        capitalised_share: CapitalisedShare | None = None,
    ) -> None:
        self._share = capitalised_share
        counts = dict(outlets) if isinstance(outlets, Mapping) else dict.fromkeys(outlets, 0)
        self._outlet_keys: dict[tuple[str, ...], _OutletKey] = {}
        self._fuzzy_outlets: dict[tuple[int, str], list[str]] = {}
        self._fuzzy_keys: dict[str, _OutletKey] = {}
        self._distinct: dict[tuple[str, ...], bool] = {}
        self._build_outlets(counts)
        self._topic_keys: dict[tuple[str, ...], str] = {}
        self._topic_by_word: dict[str, list[tuple[str, ...]]] = {}
        self._build_topics(topics)
        self._frames = {tuple(phrase.split()): kind for phrase, kind in _FRAME_PHRASES}
        self._frame_first = _lengths_by_first_word(self._frames)

    # -- building ---------------------------------------------------------------------------
    def _build_outlets(self, counts: dict[str, int]) -> None:
        by_normal: dict[tuple[str, ...], list[str]] = {}
        coined: dict[str, bool] = {}
        for name in counts:
            found, is_coined = _normalise_name(name)
            if not found:
                continue
            coined[name] = is_coined or _all_caps(name)
            forms = {tuple(found)}
            if "." in name and "/" not in name:  # "U.S. News" is also typed "us news"
                forms.add(tuple(_normalise_name(name.replace(".", ""))[0]))
            for form in list(forms):  # "&" is typed "and" or left out: "us news world report"
                if "and" in form[1:-1]:
                    forms.add(tuple(w for w in form if w != "and"))
            for form in forms:
                if form and name not in by_normal.get(form, ()):
                    by_normal.setdefault(form, []).append(name)

        def best(names: list[str]) -> str:
            return min(names, key=lambda n: (-counts.get(n, 0), len(n), n))

        self._aliases = _aliases(by_normal)

        for key, names in by_normal.items():
            if all(word in STOPWORDS for word in key):
                continue  # an outlet called "The" is never typed as one
            outlet = best(names)
            self._outlet_keys[key] = _OutletKey(outlet, len(key), key, coined[outlet])
        for typed, full_names, distinctive in SHORT_FORMS:
            targets = [n for full in full_names for n in by_normal.get(tuple(full.split()), [])]
            if targets:
                key = tuple(typed.split())
                self._outlet_keys[key] = _OutletKey(best(targets), len(key), given=distinctive)
        self._outlet_first = _lengths_by_first_word(self._outlet_keys)
        for key, entry in self._outlet_keys.items():
            joined = " ".join(key)
            if len(joined) >= FUZZY_MIN_CHARS:
                self._fuzzy_outlets.setdefault((len(key), joined[0]), []).append(joined)
                self._fuzzy_keys[joined] = entry

    def _is_distinctive(self, entry: _OutletKey) -> bool:
        """``entry``'s name can be an outlet without a cue; decided once, when first met."""
        if entry.given is not None:
            return entry.given
        found = self._distinct.get(entry.form)
        if found is None:  # two threads may both decide it: the same answer either way
            found = self._distinct[entry.form] = self._distinctive(entry.form, entry.coined)
        return found

    def _distinctive(self, key: tuple[str, ...], coined: bool) -> bool:
        """Whether a name can be an outlet without a cue (see the module docstring)."""
        if coined:
            return True
        if self._share is None:
            return False  # without the corpus's capitals only coined names stand alone
        name_like = [self._name_like(w) for w in key if w not in STOPWORDS]
        if len(key) >= 2:
            return any(name_like)
        return bool(name_like) and all(name_like)

    def _name_like(self, word: str) -> bool:
        share = self._share(word) if self._share else None
        return share is None or share >= NAME_SHARE

    def _build_topics(self, topics: Iterable[str]) -> None:
        for topic in topics:
            key = tuple(t.low for t in _tokens(topic.casefold()))
            if key:
                self._topic_keys.setdefault(key, topic)
        for alias, full in TOPIC_ALIASES.items():
            topic = self._topic_keys.get(tuple(full.split()))
            if topic:
                self._topic_keys.setdefault(tuple(alias.split()), topic)
        self._topic_first = _lengths_by_first_word(self._topic_keys)
        for key in self._topic_keys:
            if len(key) >= 2:
                for word in set(key) - STOPWORDS:
                    self._topic_by_word.setdefault(word, []).append(key)

    # -- reading ----------------------------------------------------------------------------
    def read(self, query: str, *, now: datetime | None = None) -> QueryIntent:
        """What ``query`` asks. ``now`` anchors relative periods ("last august", "this year")."""
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        else:
            now = now.astimezone(UTC)
        toks = _tokens(query)
        role = [""] * len(toks)  # "period", "outlet", "frame" or "" (subject or stop word)
        period = _read_period(query, toks, role, now)
        outlets = self._read_outlets(query, toks, role)
        frame_types = self._read_frames(toks, role)
        topics = self._read_topics(query, toks, role)
        subject_idx = [
            i
            for i, t in enumerate(toks)
            if not role[i] and t.low not in STOPWORDS and t.low not in _EXTRA_STOP
        ]
        subject: dict[str, None] = {}  # ordered and deduplicated in linear time
        relation: dict[str, None] = {}
        for i in subject_idx:
            low = toks[i].low
            if toks[i].numeric:  # as the index spells figures: "$224,000" -> "224000"
                subject.update((w, None) for w in words(toks[i].text) if w[0].isdigit())
                continue
            if low in _CURRENCY_WORDS and i and (toks[i - 1].numeric or toks[i - 1].low in _SCALES):
                continue  # "5 million dollars": articles write "$5 million"; see ``facts``
            if len(low) > 1 and low in _SCALES and i and toks[i - 1].numeric:
                low = _SCALE_WORDS[_SCALES[low]]  # "12 mil": articles write "12 million"
            subject[low] = None
            lemma = _RELATIONS.get(low)  # exact forms: a stem would read "scraped" as "scrap"
            if lemma:
                relation[lemma] = None
        relations = list(relation)
        answer = _answer_type(toks, role, frame_types, subject_idx, relations)
        names, phrases, uncased = self._names(toks, subject_idx)
        return QueryIntent(
            query=query,
            outlets=tuple(outlets),
            period=period,
            topics=tuple(topics),
            answer_type=answer,
            frame_words=tuple(t.low for i, t in enumerate(toks) if role[i] == "frame"),
            subject_words=tuple(subject),
            names=names,
            name_phrases=phrases,
            facts=_facts(query, toks, period),
            relations=tuple(relations),
            question=query.rstrip().endswith("?")
            or (len(toks) >= 3 and toks[0].low in QUESTION_WORDS),  # as text.is_question
            uncased=uncased,
        )

    # -- outlets ----------------------------------------------------------------------------
    def _read_outlets(self, query: str, toks: list[_Tok], role: list[str]) -> list[OutletMention]:
        n = len(toks)
        cue_after = [t.low in _AFTER_CUES for t in toks]
        near_cue = _near_cues(toks, cue_after)
        candidates: list[_Candidate] = []
        budget = MAX_FUZZY_CALLS
        i = 0
        while i < n:
            if role[i] or toks[i].low == "the" or toks[i].numeric:
                i += 1
                continue
            found = self._exact_outlet(toks, role, i)
            if found is None and budget > 0 and near_cue[i] and toks[i].low not in STOPWORDS:
                found, budget = self._fuzzy_outlet(toks, role, i, budget)
            if found is None:
                i += 1
                continue
            candidates.append(found)
            i = found.last + 1
        coverage = bool(candidates) and any(t.low in _COVERAGE_WORDS for t in toks)
        for c in candidates:
            c.accepted = self._rule(query, toks, c, cue_after, coverage)
        # "did the verge and techcrunch cover it": a coordinated name shares its neighbour's cue.
        for c, d in itertools.pairwise(candidates):
            joined = d.first - c.last == 2 and toks[c.last + 1].low in _COORDINATION
            if joined and bool(c.accepted) != bool(d.accepted):
                other = d if c.accepted else c
                if other.score >= OUTLET_FUZZY_SCORE and not self._glued(query, toks, other):
                    other.accepted = "coordinated with an accepted outlet"
        out: list[OutletMention] = []
        named: set[str] = set()
        for c in candidates:
            if not c.accepted:
                continue
            for k in range(c.first, c.last + 1):
                role[k] = "outlet"
            if c.last + 1 < n and toks[c.last + 1].low in _AFTER_CUES and not role[c.last + 1]:
                role[c.last + 1] = "frame"  # "coverage", "wrote", "article" after the name
            start, end = toks[c.first].start, toks[c.last].end
            if c.key.outlet in named:
                continue
            named.add(c.key.outlet)
            out.append(
                OutletMention(
                    c.key.outlet,
                    (start, end),
                    query[start:end],
                    c.score,
                    c.accepted,
                    self._aliases.get(c.key.outlet, ()),
                )
            )
        return out

    def _exact_outlet(self, toks: list[_Tok], role: list[str], i: int) -> _Candidate | None:
        n = len(toks)
        for length in self._outlet_first.get(toks[i].low, ()):
            if i + length > n or any(role[k] for k in range(i, i + length)):
                continue
            key = tuple(t.low for t in toks[i : i + length])
            entry = self._outlet_keys.get(key)
            if entry is not None:
                first = i - 1 if i and toks[i - 1].low == "the" and not role[i - 1] else i
                return _Candidate(first, i + length - 1, entry, 100.0)
        return None

    def _fuzzy_outlet(
        self, toks: list[_Tok], role: list[str], i: int, budget: int
    ) -> tuple[_Candidate | None, int]:
        best: _Candidate | None = None
        for length in range(1, min(3, len(toks) - i) + 1):
            span = toks[i : i + length]
            if any(role[k] for k in range(i, i + length)) or span[-1].numeric:
                break
            joined = " ".join(t.low for t in span)
            choices = self._fuzzy_outlets.get((length, joined[0]))
            if len(joined) < FUZZY_MIN_CHARS - 1 or not choices or budget <= 0:
                continue
            budget -= 1
            match = process.extractOne(
                joined, choices, scorer=fuzz.ratio, score_cutoff=OUTLET_FUZZY_SCORE
            )
            if match and (best is None or match[1] > best.score):
                first = i - 1 if i and toks[i - 1].low == "the" and not role[i - 1] else i
                best = _Candidate(first, i + length - 1, self._fuzzy_keys[match[0]], match[1])
        return best, budget

    def _rule(
        self, query: str, toks: list[_Tok], c: _Candidate, cue_after: list[bool], coverage: bool
    ) -> str:
        """The outlet decision: a distinctive exact name, or a cue with a good enough score.

        ``coverage``: the query talks about coverage ("article", "published"…), which a weak
        cue ("in", "on", "at") needs before a plain-word name.
        """
        nxt = toks[c.last + 1].low if c.last + 1 < len(toks) else ""
        if c.key.words == 1 and nxt == "of":
            return ""  # "on the verge of", "times of crisis": a noun, not a name
        if c.score >= 100.0 and self._is_distinctive(c.key):
            return "distinctive name"
        before = c.first - 1
        cue = ""
        weak = False
        if before >= 0 and _cue_before(toks, before):
            cue = toks[before].low
            weak = cue in _WEAK_CUES
        elif toks[c.last].possessive:
            cue = "'s"
        elif nxt and cue_after[c.last + 1]:
            cue = nxt
        elif c.first == 0 and nxt in ("on", "about"):
            cue = nxt  # "the verge on clearview": a source's take on a subject
        if not cue or c.score < OUTLET_FUZZY_SCORE:
            return ""
        if not self._is_distinctive(c.key):
            if self._glued(query, toks, c):
                return ""
            if weak and not coverage:
                return ""
        return f"cue {cue!r} + score {c.score:.0f}"

    @staticmethod
    def _glued(query: str, toks: list[_Tok], c: _Candidate) -> bool:
        """A plain-word name run into a content word ("new york times", "times square")."""

        def content(k: int) -> bool:
            t = toks[k]
            return not (
                t.low in STOPWORDS
                or t.low in _BEFORE_CUES
                or t.low in _AFTER_CUES
                or t.low in _WH
                or t.low in _COORDINATION
                or t.low in _FILLERS
                or t.low in _FRAME_WORDS_BEFORE_OUTLET
            )

        if c.first > 0 and content(c.first - 1):
            between = query[toks[c.first - 1].end : toks[c.first].start]
            if between.strip() == "":
                return True
        k = c.last + 1
        if k < len(toks) and content(k) and not toks[c.last].possessive:
            between = query[toks[c.last].end : toks[k].start]
            if between.strip() == "":
                return True
        return False

    # -- frames -----------------------------------------------------------------------------
    def _read_frames(self, toks: list[_Tok], role: list[str]) -> list[tuple[int, str | None]]:
        """Mark the question-frame words; the answer types the frame asks for, by position."""
        n = len(toks)
        kinds: list[tuple[int, str | None]] = []
        i = 0
        while i < n:
            if role[i]:
                i += 1
                continue
            low = toks[i].low
            matched = 0
            for length in self._frame_first.get(low, ()):
                if i + length > n:
                    continue
                parts = tuple(t.low for t in toks[i : i + length])
                if parts in self._frames and not any(role[i : i + length]):
                    matched = length
                    kinds.append((i, self._frames[parts]))
                    break
            if matched:
                for k in range(i, i + matched):
                    role[k] = "frame"
                i += matched
                continue
            if low in ("what", "which"):
                role[i] = "frame"
                kinds.append((i, _kind_noun(toks, role, i + 1)))
            elif low == "how":
                role[i] = "frame"
            i += 1
        # Context rules, left to right: each may extend a frame that an earlier one marked.
        opening = next((i for i, t in enumerate(toks) if t.low not in _FILLERS), n)
        for i in range(opening):  # "hey, so…": conversation, not subject
            role[i] = role[i] or "frame"
        for i in range(n):
            if not role[i] and _frame_in_context(toks, role, i, opening):
                role[i] = "frame"
                if toks[i].low == "mean":
                    kinds.append((i, DEFINITION))
        return kinds

    # -- topics -----------------------------------------------------------------------------
    def _read_topics(self, query: str, toks: list[_Tok], role: list[str]) -> list[TopicMention]:
        n = len(toks)
        out: list[TopicMention] = []
        named: set[str] = set()
        i = 0
        while i < n:
            if role[i] in _NAMED:
                i += 1
                continue
            hit: tuple[int, str, float] | None = None
            for length in self._topic_first.get(toks[i].low, ()):
                if i + length > n or any(role[k] in _NAMED for k in range(i, i + length)):
                    continue
                topic = self._topic_keys.get(tuple(t.low for t in toks[i : i + length]))
                if topic:
                    hit = (length, topic, 100.0)
                    break
            if (hit is None or hit[0] == 1) and (
                toks[i].low in self._topic_by_word
                or (i + 1 < n and toks[i + 1].low in self._topic_by_word)
            ):
                # A typo'd multi-word topic beats a one-word one it starts with: "ai etics".
                hit = self._fuzzy_topic(toks, role, i) or hit
            if hit is None:
                i += 1
                continue
            length, topic, score = hit
            start, end = toks[i].start, toks[i + length - 1].end
            if topic not in named:
                named.add(topic)
                out.append(TopicMention(topic, (start, end), score))
            i += length
        return out

    def _fuzzy_topic(
        self, toks: list[_Tok], role: list[str], i: int
    ) -> tuple[int, str, float] | None:
        """A multi-word topic typed with a typo: "facial recogntion", "computer vison"."""
        keys: set[tuple[str, ...]] = set()
        for k in range(i, min(i + 2, len(toks))):
            keys.update(self._topic_by_word.get(toks[k].low, ()))
        best: tuple[int, str, float] | None = None
        for key in keys:
            length = len(key)
            if i + length > len(toks) or any(role[k] in _NAMED for k in range(i, i + length)):
                continue
            typed = " ".join(t.low for t in toks[i : i + length])
            score = fuzz.ratio(typed, " ".join(key))
            if score >= TOPIC_FUZZY_SCORE and (best is None or score > best[2]):
                best = (length, self._topic_keys[key], score)
        return best

    # -- names ------------------------------------------------------------------------------
    def _names(
        self, toks: list[_Tok], subject_idx: list[int]
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Subject words that name something, judged by the corpus's capitals when it can.

        Also the words the corpus's capitals cannot judge (``QueryIntent.uncased``).
        """
        flagged: list[int] = []
        phrase_only: set[int] = set()
        uncased: dict[str, None] = {}
        for i in subject_idx:
            t = toks[i]
            if t.numeric or t.low in _NEVER_NAMES or not t.low.isalpha():
                continue
            typed_caps = len(t.text) >= 2 and t.text.isupper()
            share = self._share(t.low) if self._share else None
            if share is not None:
                is_name = share >= NAME_SHARE or typed_caps
            else:
                if self._share:
                    uncased[t.low] = None
                # The corpus doesn't say: the query's own capitals, as the engine reads them.
                # A first word is capitalised either way ("Recent Tesla recalls"): it only
                # starts a name's phrase when the next is capitalised too ("San Diego"), and
                # is not itself a name an answer must hold.
                capital = t.text[:1].isupper()
                leading = i == 0 and len(toks) > 1 and toks[1].text[:1].isupper()
                if capital and i == 0 and leading and not typed_caps:
                    phrase_only.add(i)
                is_name = typed_caps or (capital and (i > 0 or leading))
            if is_name:
                flagged.append(i)
        names: dict[str, None] = {}
        phrases: list[str] = []
        run: list[str] = []
        previous = -2
        for i in flagged:
            if i not in phrase_only:
                names[toks[i].low] = None
            if i != previous + 1 and run:
                phrases.append(" ".join(run))
                run = []
            run.append(toks[i].low)
            previous = i
        if run:
            phrases.append(" ".join(run))
        return tuple(names), tuple(dict.fromkeys(phrases)), tuple(uncased)


def _frame_in_context(toks: list[_Tok], role: list[str], i: int, opening: int) -> bool:
    """Whether a word frames the question because of the words around it.

    ``opening`` is the index of the query's first word that is not a filler ("hey", "so").
    """
    n = len(toks)
    low = toks[i].low
    prev = role[i - 1] if i else ""
    nxt = toks[i + 1].low if i + 1 < n else ""
    if low in _ALWAYS_FRAME:
        return True
    if low in _AUX:  # "how much did", "what was", or a question's first word
        return prev == "frame" or i == opening
    if low in _REPORTING:  # "who covered", "the verge wrote", "write about"
        return prev in ("frame", "outlet") or nxt in ("about", "regarding")
    if low == "first":  # "who first reported", "who reported it first"
        if i == n - 1:
            return any(role[k] == "frame" and toks[k].low in _REPORTING for k in range(i))
        return bool(prev) and nxt in _REPORTING
    if low in _FRAME_PREPOSITIONS:  # "write about", "coverage of"
        return prev == "frame" and toks[i - 1].low not in _AUX
    if low == "mean":  # "what does X mean"
        return i == n - 1 and any(toks[k].low == "what" for k in range(i))
    return False


def _kind_noun(toks: list[_Tok], role: list[str], k: int) -> str:
    """The kind a "which/what" asks for from the noun after it ("which (tech) companies").

    Determiners and "is/are" are skipped and one modifier word allowed; the noun becomes a
    frame word, while the modifier stays in the subject ("which police departments").
    """
    n = len(toks)
    while k < n and toks[k].low in _KIND_SKIP and not role[k]:
        k += 1
    for j in (k, k + 1):
        if j < n and not role[j] and toks[j].low in _KIND_NOUNS:
            role[j] = "frame"
            return _KIND_NOUNS[toks[j].low]
        if j < n and (role[j] or toks[j].low in STOPWORDS):
            break
    return WHAT


def _lengths_by_first_word(keys: Iterable[tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
    """First word -> the word counts of the keys it starts, longest first (longest match wins)."""
    lengths: dict[str, set[int]] = {}
    for key in keys:
        lengths.setdefault(key[0], set()).add(len(key))
    return {word: tuple(sorted(found, reverse=True)) for word, found in lengths.items()}


def _near_cues(toks: list[_Tok], cue_after: list[bool]) -> list[bool]:
    """For each token, whether a cue sits where a name starting there could use it.

    Fuzzy matching is tried only at these positions: after "by/from/in…" (and a "the"), or up
    to three words before "'s", "coverage", "wrote"…
    """
    n = len(toks)
    near = [False] * n
    for k, t in enumerate(toks):
        if _cue_before(toks, k):
            for j in (k + 1, k + 2):
                if j < n:
                    near[j] = True
                if j < n and toks[j].low != "the":
                    break
        if cue_after[k] or t.possessive:
            for j in range(max(0, k - 3), k + (1 if t.possessive else 0)):
                near[j] = True
    return near


def _cue_before(toks: list[_Tok], k: int) -> bool:
    """Whether token ``k`` introduces a source: "by", "from", "in", "according to"."""
    low = toks[k].low
    if low in _BEFORE_CUES:
        return True
    return low == "to" and k > 0 and toks[k - 1].low == "according"


def _answer_type(
    toks: list[_Tok],
    role: list[str],
    kinds: list[tuple[int, str | None]],
    subject_idx: list[int],
    relations: list[str],
) -> str:
    """The kind of answer asked for: the first typed frame, else yes/no, else none.

    A question that opens with a typed frame ("which", "on how many") asks what that frame
    asks: a wh-word later in it starts a clause ("which airport put in a system that alarms when
    crowds build up"), not a second question. An opening that asks for nothing in particular
    ("tell me", "do you know") leaves the question to the frame after it.
    """
    ordered = sorted(kinds, key=lambda k: k[0])
    first = next((i for i, t in enumerate(toks) if t.low not in _FILLERS), None)
    if ordered and ordered[0][1] and first is not None and ordered[0][0] <= first + 1:
        # "what does X mean" closes its opening frame at the end: one frame, not two.
        ordered = [k for k in ordered if k[0] == ordered[0][0] or k[1] == DEFINITION]
    typed = [kind for _, kind in ordered if kind]
    specific = [kind for kind in typed if kind != WHAT]
    if specific:
        return specific[0]
    if typed:  # a plain "what"
        reporting = any(role[i] == "frame" and t.low in _REPORTING for i, t in enumerate(toks))
        if any(r in _MONEY_RELATIONS for r in relations) and not reporting:
            return MONEY  # "what did the FTC fine facebook"
        if first is not None and toks[first].low == "what" and first + 1 < len(toks):
            verb = toks[first + 1].low
            rest = [toks[i] for i in subject_idx]
            if (
                verb in ("is", "are")
                and not relations
                and 0 < len(rest) <= 3
                and all(role[i] != "outlet" for i in range(len(toks)))
                and not any(t.low.endswith("ed") for t in rest)
            ):
                return DEFINITION  # "what is clearview ai"
        return WHAT
    if first is not None and toks[first].low in _AUX:
        if toks[first].low in ("can", "could", "would") and any(
            t.low == "you" for t in toks[first + 1 : first + 2]
        ):
            return NONE  # "can you find…" is a request
        return YES_NO
    return NONE


# --- Periods -----------------------------------------------------------------------------------
def _digits(text: str) -> bool:
    """ASCII digits only: ``int`` refuses "²", which ``str.isdigit`` accepts."""
    return text.isascii() and text.isdigit()


def _number(low: str) -> int | None:
    return int(low) if _digits(low) and len(low) <= 4 else None


def _year(low: str) -> int | None:
    value = int(low) if len(low) == 4 and _digits(low) else None
    return value if value is not None and 1900 <= value <= 2100 else None


def _day(low: str) -> int | None:
    for ending in _ORDINAL_ENDINGS:
        if low.endswith(ending) and _digits(low[: -len(ending)]):
            low = low[: -len(ending)]
            break
    value = int(low) if _digits(low) and len(low) <= 2 else None
    return value if value is not None and 1 <= value <= 31 else None


def _gap(query: str, toks: list[_Tok], i: int) -> str:
    """The characters between token ``i`` and the next."""
    return query[toks[i].end : toks[i + 1].start] if i + 1 < len(toks) else ""


def _atom_at(query: str, toks: list[_Tok], i: int, now: datetime) -> _Atom | None:
    """A date expression starting at token ``i``, without its modifiers."""
    n = len(toks)
    low = toks[i].low
    nxt = toks[i + 1].low if i + 1 < n else ""
    year = _year(low)
    if year is not None:
        sep = _gap(query, toks, i)
        month = _number(nxt) if sep in ("-", "/") else None
        if month is not None and 1 <= month <= 12:
            if i + 2 < n and _gap(query, toks, i + 1) == sep:
                day = _day(toks[i + 2].low)
                if day is not None and day <= calendar.monthrange(year, month)[1]:
                    return _Atom(i, i + 2, year, month, day)
            return _Atom(i, i + 1, year, month)
        return _Atom(i, i, year)
    if low.endswith("s") and _year(low[:-1]) and low[-2] == "0":
        return _Atom(i, i, int(low[:-1]), decade=True)  # "2010s"
    if len(low) == 2 and low[0] == "q" and low[1] in "1234" and _year(nxt):
        return _Atom(i, i + 1, _year(nxt), quarter=int(low[1]))
    month = _MONTHS.get(low)
    if month is not None:
        day = _day(nxt) if nxt else None
        if day is not None and not _year(nxt):  # "aug 14", "august 14th, 2020"
            last = i + 1
            year = _year(toks[i + 2].low) if i + 2 < n else None
            if year is not None:
                last = i + 2
            return _valid_day(_Atom(i, last, year, month, day), now)
        if nxt == "of" and i + 2 < n and _year(toks[i + 2].low):
            return _Atom(i, i + 2, _year(toks[i + 2].low), month)
        if _year(nxt):
            return _Atom(i, i + 1, _year(nxt), month)
        return _Atom(i, i, None, month)
    day = _day(low)
    if day is not None and _digits(low) and i + 2 < n and _gap(query, toks, i) == "/":
        return _slashed(query, toks, i, now)
    if day is not None and toks[i].numeric:  # "14 august 2020", "14th of aug"
        k = i + 2 if nxt == "of" else i + 1
        month = _MONTHS.get(toks[k].low) if k < n else None
        if month is not None:
            year = _year(toks[k + 1].low) if k + 1 < n else None
            return _valid_day(_Atom(i, k + 1 if year else k, year, month, day), now)
    return _relative_atom(toks, i, now)


def _slashed(query: str, toks: list[_Tok], i: int, now: datetime) -> _Atom | None:
    """A slashed date, "8/14/2020" or "14/8/2020": a number over 12 is the day.

    When both fit, month first, because the corpus is mostly American: "5/8/2020" is 8 May.
    A date that fits neither way is not a date.
    """
    first, second = int(toks[i].low), _number(toks[i + 1].low)
    year = _year(toks[i + 2].low)
    if second is None or year is None or _gap(query, toks, i + 1) != "/":
        return None
    month, day = (second, first) if first > 12 else (first, second)
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return _Atom(i, i + 2, year, month, day)


def _valid_day(atom: _Atom, now: datetime) -> _Atom | None:
    year = atom.year or now.year
    assert atom.month is not None and atom.day is not None
    return atom if atom.day <= calendar.monthrange(year, atom.month)[1] else None


def _relative_atom(toks: list[_Tok], i: int, now: datetime) -> _Atom | None:
    """A relative period as a fixed interval: "today", "this year", "past 3 weeks"."""
    n = len(toks)
    low = toks[i].low
    if low not in _RELATIVE and low not in ("today", "yesterday"):
        return None
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if low == "today":
        return _Atom(i, i, fixed=(today, today + timedelta(days=1)))
    if low == "yesterday":
        return _Atom(i, i, fixed=(today - timedelta(days=1), today))
    if low not in _RELATIVE or i + 1 >= n:
        return None
    unit = toks[i + 1].low
    if low in ("past", "last") and _number(unit) and i + 2 < n and toks[i + 2].low in _UNITS:
        days = _UNITS[toks[i + 2].low] * int(unit)  # "past 3 weeks": rolling, up to now
        return _Atom(i, i + 2, fixed=(today - timedelta(days=days), None))
    if low == "past" and unit in _UNITS:
        return _Atom(i, i + 1, fixed=(today - timedelta(days=_UNITS[unit]), None))
    shift = {"last": -1, "previous": -1, "this": 0, "current": 0, "next": 1}.get(low)
    if shift is None:
        return None
    if unit == "year":
        start = datetime(now.year + shift, 1, 1, tzinfo=UTC)
        return _Atom(i, i + 1, fixed=(start, start.replace(year=start.year + 1)))
    if unit == "month":
        start = _add_months(now.year, now.month, shift)
        return _Atom(i, i + 1, fixed=(start, _add_months(start.year, start.month, 1)))
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=shift)
        return _Atom(i, i + 1, fixed=(monday, monday + timedelta(weeks=1)))
    return None


def _add_months(year: int, month: int, months: int) -> datetime:
    index = year * 12 + (month - 1) + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _resolve(atom: _Atom, relative: str, now: datetime) -> tuple[datetime, datetime | None]:
    """The interval of a date expression; a month or day without a year is the latest one."""
    if atom.fixed is not None:
        return atom.fixed
    if atom.decade:
        assert atom.year is not None
        return datetime(atom.year, 1, 1, tzinfo=UTC), datetime(atom.year + 10, 1, 1, tzinfo=UTC)
    if atom.quarter is not None:
        assert atom.year is not None
        start = datetime(atom.year, 3 * atom.quarter - 2, 1, tzinfo=UTC)
        return start, _add_months(atom.year, start.month, 3)
    year = atom.year
    if atom.month is None:
        assert year is not None
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    if year is None:
        typed = (atom.month, atom.day or 1)
        if relative in ("last", "previous"):  # the latest one before the current month
            year = now.year if atom.month < now.month else now.year - 1
        elif relative in ("this", "current"):
            year = now.year
        elif relative == "next":
            year = now.year if atom.month > now.month else now.year + 1
        else:  # "in august", "aug 14": the latest one that has begun
            year = now.year if typed <= (now.month, now.day) else now.year - 1
    if atom.day is not None:
        day = min(atom.day, calendar.monthrange(year, atom.month)[1])
        start = datetime(year, atom.month, day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    start = datetime(year, atom.month, 1, tzinfo=UTC)
    return start, _add_months(year, atom.month, 1)


def _narrow(
    interval: tuple[datetime, datetime | None], atom: _Atom, part: int
) -> tuple[datetime, datetime | None]:
    """Early, mid or late: the first, middle or last third of a year (months) or month (days)."""
    start = interval[0]
    if atom.fixed is not None or atom.decade or atom.quarter or atom.day is not None:
        return interval
    if atom.month is None:
        first = _add_months(start.year, 1, 4 * part)
        return first, _add_months(start.year, 1, 4 * part + 4)
    days = calendar.monthrange(start.year, start.month)[1]
    bounds = ((1, 11), (11, 21), (21, days + 1))[part]
    return start.replace(day=bounds[0]), start + timedelta(days=bounds[1] - 1)


def _accepted(toks: list[_Tok], atom: _Atom, cued: bool) -> bool:
    """Months and bare years are periods only when the query reads them as one."""
    if cued or atom.fixed is not None or atom.day is not None or atom.quarter or atom.decade:
        return True
    if atom.month is not None:
        return atom.year is not None  # "april 2020"; a bare "may" or "march" needs a cue
    return _plausible_year(toks, atom.last)


def _plausible_year(toks: list[_Tok], i: int) -> bool:
    """Whether a bare four-digit number is a year: "2020 ban", not "2000 employees"."""
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    if nxt in _NOT_YEAR_AFTER:
        return False
    return not (len(nxt) > 3 and nxt.endswith("s") and nxt not in STOPWORDS)


def _read_period(query: str, toks: list[_Tok], role: list[str], now: datetime) -> Period | None:
    """The first period the query names, its words (and the cue before it) marked in ``role``."""
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        atom = _atom_at(query, toks, i, now) if t.numeric or t.low in _DATE_WORDS else None
        if atom is None:
            i += 1
            continue
        # Modifiers before the date: "last", "early", "the end of", then a cue word.
        before = atom.first - 1
        relative = ""
        part: int | None = None
        if before >= 0 and toks[before].low in _RELATIVE and atom.month and atom.year is None:
            relative, before = toks[before].low, before - 1
        if before >= 0 and toks[before].low in _PART:
            part, before = _PART[toks[before].low], before - 1
        elif before >= 1 and toks[before].low == "of" and toks[before - 1].low in _PART:
            part, before = _PART[toks[before - 1].low], before - 2
        if part is not None and before >= 0 and toks[before].low == "the":
            before -= 1
        lead = toks[before].low if before >= 0 else ""
        if lead not in _PERIOD_LEADS:
            lead = ""
        second = _range_end(query, toks, atom, lead, now)
        cued = bool(relative or lead) or part is not None or second is not None
        if not _accepted(toks, atom, cued):
            i = atom.last + 1
            continue
        later = _resolve(second, "", now) if second is not None else None
        if later is not None and atom.year is None and atom.month:
            # "between april and june 2020": the first date takes the second's year.
            year = later[0].year
            atom.year = (
                year if (atom.month, atom.day or 1) <= (later[0].month, later[0].day) else year - 1
            )
        start, end = _resolve(atom, relative, now)
        if part is not None:
            start, end = _narrow((start, end), atom, part)
        last = atom.last
        bounds: tuple[datetime | None, datetime | None] = (start, end)
        if second is not None and later is not None and end and later[1]:
            # Both ends whichever way round they were typed ("2021-2019" is 2019 to 2021).
            bounds, last = (min(start, later[0]), max(end, later[1])), second.last
        elif lead in ("since", "from"):
            bounds = (start, None)
        elif lead == "after":
            bounds = (end, None)
        elif lead == "before":
            bounds = (None, start)
        elif lead in _OPEN_END:  # "until july 2020" includes July, as the until option does
            bounds = (None, end)
        first_tok = before if lead else before + 1
        for k in range(first_tok, last + 1):
            role[k] = "period"
        span = (toks[first_tok].start, toks[last].end)
        return Period(bounds[0], bounds[1], span, query[span[0] : span[1]])
    return None


def _range_end(query: str, toks: list[_Tok], atom: _Atom, lead: str, now: datetime) -> _Atom | None:
    """The second date of "april to june 2020", "2019-2020", "between may and july"."""
    k = atom.last + 1
    if k >= len(toks) or atom.fixed is not None:
        return None
    if toks[k].low in _RANGE_JOIN:
        if k + 1 >= len(toks) or (toks[k].low == "and" and lead != "between"):
            return None
        second = _atom_at(query, toks, k + 1, now)
    elif _gap(query, toks, atom.last) == "-":
        second = _atom_at(query, toks, k, now)
    else:
        return None
    if second is None or second.fixed is not None:
        return None
    return second


# --- Facts -------------------------------------------------------------------------------------
def _facts(query: str, toks: list[_Tok], period: Period | None) -> tuple[Fact, ...]:
    """Amounts, counts, percentages and years typed in the query; the period's exact date."""
    out: list[Fact] = []
    in_period = period.span if period else (-1, -1)
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        if not t.numeric:
            i += 1
            continue
        text = t.low
        money = text[0] in _CURRENCY_SIGNS
        body = text.lstrip(_CURRENCY_SIGNS)
        percent = body.endswith("%")
        body = body.rstrip("%")
        digits = body.rstrip("abcdefghijklmnopqrstuvwxyz")
        suffix = body[len(digits) :]
        last = i
        try:
            value = float(digits.replace(",", ""))
        except ValueError:
            i += 1
            continue
        if suffix in _SCALES:
            value *= _SCALES[suffix]
        elif suffix:  # "14th", "2010s", "5g": not an amount
            if _year(digits) and suffix == "s":
                out.append(Fact("year", float(digits), digits + "s", (t.start, t.end), t.text))
            i += 1
            continue
        if last + 1 < n and toks[last + 1].low in _SCALES and not suffix:
            value *= _SCALES[toks[last + 1].low]
            last += 1
        if last + 1 < n and toks[last + 1].low in _CURRENCY_WORDS:
            money, last = True, last + 1
        if last + 1 < n and toks[last + 1].low in ("percent", "pct"):
            percent, last = True, last + 1
        span = (t.start, toks[last].end)
        inside = in_period[0] <= t.start < in_period[1]
        year = _year(digits) if "," not in digits and not money and not percent else None
        if money:
            kind = "money"
        elif percent:
            kind = "percent"
        elif year is not None and (inside or _plausible_year(toks, i)):
            kind = "year"
        elif inside:
            i = last + 1
            continue  # a day of the month in a date
        else:
            kind = "number"
        normal = str(int(value)) if value.is_integer() else repr(value)
        out.append(Fact(kind, value, normal, span, query[span[0] : span[1]]))
        i = last + 1
    if period is not None and period.start is not None and period.end is not None:
        length = period.end - period.start
        if length == timedelta(days=1):
            normal = period.start.strftime("%Y-%m-%d")
            out.append(Fact("date", None, normal, period.span, period.typed))
        elif 28 <= length.days <= 31 and period.start.day == 1:
            normal = period.start.strftime("%Y-%m")
            out.append(Fact("month", None, normal, period.span, period.typed))
    return tuple(out)


def stated_facts(text: str) -> tuple[Fact, ...]:
    """The figures ``text`` states, as ``Fact``s (their ``kind`` says money, year, ...)."""
    return _facts(text, _figure_tokens(text), None)


def _figure_tokens(text: str) -> list[_Tok]:
    """``_tokens(text)`` with only what ``_facts`` reads of a text: its figures and what follows.

    ``_facts`` looks at a figure and at most ``_AFTER_FIGURE`` words after it (a scale, a
    currency, "percent"; a year's next word) and skips the other words, so leaving them out
    reads the same facts. An article's text is read for its figures the first time a question
    meets the article, and making every word's token was most of that read.
    """
    out: list[_Tok] = []
    if _DIGIT.search(text) is None:  # every figure has a digit; most paragraphs have none
        return out
    after = 0  # words still to keep after the last figure
    for m in itertools.islice(_TOKEN.finditer(text), MAX_QUERY_WORDS):
        if text[m.start()] in _FIGURE_START:
            after = _AFTER_FIGURE
        elif not after:
            continue
        else:
            after -= 1
        _add_tokens(out, m)
    return out


def relation_forms(lemma: str) -> frozenset[str]:
    """The words that state the event ``lemma`` names ("acquire": bought, acquisition, ...)."""
    return frozenset(_RELATION_FORMS.get(lemma, lemma).split())
