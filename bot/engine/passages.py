"""The passage that answers a question: 1–3 consecutive sentences quoted from one candidate.

The search engine has already chosen a handful of candidate articles; this module only decides
which sentences in them answer the question. A sentence scores by the share of the question's
IDF-weighted content words it contains; words found only in the next or previous sentence count
half (news writes "the agency" in the sentence after the one that names ICE), words found only
elsewhere in the article or its title a quarter (the article is about them). That share is then
scaled by how well the sentence holds what the question asks for: an amount for "how much", a
number for "how many", a date for "when", a name for "who", a place for "where". A sentence that
only echoes the question without such an answer keeps 40 %, so "ICE has inked a contract with
Clearview AI" loses to "the agency is paying Clearview AI $224,000" for "How much is ICE paying
Clearview?". Headings, questions and titles quote badly and are scaled down; each step down the
candidate list costs 4 %.

Everything that depends only on an article (sentence splits, each sentence's stems) is computed
once and kept in an LRU cache; answer cues are found lazily per sentence. A warm call costs one
set intersection per sentence.

Corpus text is untrusted: only an article's first ``MAX_TEXT_CHARS`` are read, and a
``Deadline`` is checked between paragraphs and sentences (``bot.engine.budget``), so a file
built to make this slow costs one answer (``OverBudget``), never the engine thread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.corpus.model import Article
from bot.engine.budget import UNLIMITED, Deadline, bounded, cached_within_budget
from bot.engine.results import Passage
from bot.engine.text import STOPWORDS, excerpt_sentences, sentences, stem, words

AnswerType = str  # "money", "number", "date", "duration", "who", "where", "why"
Cues = dict[AnswerType, tuple[tuple[str, float], ...]]

MAX_PASSAGE_CHARS = 500
# Multipliers, chosen on the seeds and hand-made cases in tests/test_passages.py.
_NEIGHBOUR_WEIGHT = 0.5  # a question word in the sentence before/after (same paragraph)
_ELSEWHERE_WEIGHT = 0.25  # a question word elsewhere in the article or its title
_NO_ANSWER_FACTOR = 0.4  # the question asks for an amount/date/name and the sentence has none
_RANK_STEP = 0.04  # each step down the search engine's candidate list
_POSITION_STEP = 0.003  # each sentence further from the top of the article (ties go to leads)
_HEADING_FACTOR = 0.3
_QUESTION_FACTOR = 0.4
_SHORT_FACTOR = 0.6
_TITLE_FACTOR = 0.9
# Prepared articles kept between calls; a prepared 800-word article takes ~45 KB, an excerpt ~3 KB.
_CACHED_ARTICLES = 1024


def _wordset(text: str) -> frozenset[str]:
    """A set of words written as one string, so long word lists stay readable."""
    return frozenset(text.split())


# --- Answer cues in sentences -----------------------------------------------------------------
# Each cue is (answer type, pattern, strength, gate). The gate (needs a digit, or one of these
# words) skips patterns that cannot match: scanning ~20 regexes over every sentence made the
# first call on five unseen 800-word articles cost 30 ms; gated, and run only on sentences that
# share a word with a question, it costs ~6 ms (and ~0.1 ms once the articles are prepared).
_NUM = r"\d[\d,]*(?:\.\d+)?"
# Where a number may start, tried once per run of digits and commas: its first digit after a
# word boundary ("1" in "1,000", "000" in "x1,000"), taken atomically. Every later start in the
# run reaches the same end, so it fails wherever the first does; trying each one made a cue
# pattern quadratic ("1," * 2000 + "x" cost 0.5 s a pattern). Consumes the commas before it:
# cues read only the number's group.
_NUM_START = r"(?<![\d,])(?>[\d,]*?\b(?=\d))"
_SCALE = r"(?:million|billion|trillion|bn|mn|m|k)"
_CURRENCY_WORD = r"(?:dollars?|euros?|pounds?|yen|yuan|rupees?|usd|eur|gbp|cents?)"
_CURRENCY_WORDS = _wordset(
    """dollar dollars euro euros pound pounds yen yuan rupee rupees usd eur gbp cent cents"""
)
_MONTH = (
    r"(?:Jan(?:uary|\.)?|Feb(?:ruary|\.)?|March|Mar\.|April|Apr\.|May|June?|July?|Aug(?:ust|\.)?"
    r"|Sept?(?:ember|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)"
)
_MONTH_NAMES = _wordset(
    """january february march april may june july august september october november december jan
    feb mar apr jun jul aug sep sept oct nov dec"""
)
_WEEKDAYS = _wordset("""monday tuesday wednesday thursday friday saturday sunday""")
_NUMBER_WORDS = _wordset(
    """two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred
    hundreds thousand thousands million millions billion billions dozen dozens half"""
)
_RELATIVE_TIME = _wordset(
    """yesterday today tonight tomorrow ago week weekend month year spring summer fall autumn
    winter"""
)
# "For one year", "a 90-day pause": what a "how long" question wants. ("Indefinitely" is not
# one: in the seeds it picked "detained refugees indefinitely" for the length of a contract.)
_DURATION_UNITS = _wordset(
    """year years month months week weeks day days hour hours minute minutes decade decades"""
)
_UNIT = r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?)"
# Not a length of time: "a year ago", "a week later", "$5 million a year", "once a day".
_NOT_LENGTH = r"(?!\s+(?:ago|later|earlier|before|after)\b)"
# The quantity is the cue's token, so a length the question itself names ("its 90-day pause")
# is not taken for the answer.
_DURATION = re.compile(
    rf"(?:{_NUM_START}|\b(?=[^\W\d_]))({_NUM}|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|"
    r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|several|few|couple of)"
    rf"[\s-]{_UNIT}\b{_NOT_LENGTH}",
    re.I,
)
_A_DURATION = re.compile(
    rf"(?<!once )(?<!twice )(?<!per )(?<!illion )(?<!thousand )\b(an?)\s{_UNIT}\b{_NOT_LENGTH}",
    re.I,
)
_FOR_DURATION = re.compile(r"\bfor\s+(years|months|weeks|days|decades)\b", re.I)
_ROLES = _wordset(
    """ceo chief founder president spokesperson spokesman spokeswoman director minister secretary
    chairman chairwoman commissioner professor researcher researchers senator mayor governor"""
)
_REASONS = _wordset(
    """because due result reason order so amid citing cited after concerns prevent protect"""
)
# Phrases giving a reason (strong) or the circumstances (weaker): the cues of a "why" answer.
_REASON_PHRASES = "because|due to|as a result|the reason|in order to|so that"
_CIRCUMSTANCE_PHRASES = "amid|citing|cited|after|over concerns|to prevent|to protect"
_DIGIT = True  # gate: the sentence has a digit
_Gate = bool | frozenset[str] | None
_CUE_PATTERNS: tuple[tuple[AnswerType, re.Pattern[str], float, _Gate], ...] = (
    ("money", re.compile(rf"[$€£¥]\s?({_NUM})(?:\s?{_SCALE}\b)?", re.I), 1.0, _DIGIT),
    ("money", re.compile(rf"\b(?:US|USD|EUR|GBP|Rs\.?|A\$|C\$)\s?({_NUM})"), 1.0, _DIGIT),
    (
        "money",
        re.compile(
            rf"{_NUM_START}({_NUM})\s?(?:(?:million|billion|trillion)\s)?{_CURRENCY_WORD}\b", re.I
        ),
        1.0,
        _DIGIT,
    ),
    (
        "money",
        re.compile(rf"\b(millions|billions|thousands) of {_CURRENCY_WORD}\b", re.I),
        0.8,
        _CURRENCY_WORDS,
    ),
    (
        "money",
        re.compile(rf"{_NUM_START}({_NUM})\s?(?:million|billion|trillion)\b", re.I),
        0.5,
        _DIGIT,
    ),
    ("date", re.compile(r"\b(\d{4}-\d\d-\d\d)\b"), 1.0, _DIGIT),
    ("date", re.compile(r"\b(\d{1,2}/\d{1,2}/\d{2,4})\b"), 1.0, _DIGIT),
    ("date", re.compile(rf"\b({_MONTH}\s\d{{1,2}})\b"), 1.0, _DIGIT),
    ("date", re.compile(rf"\b(\d{{1,2}}\s{_MONTH})\b"), 1.0, _DIGIT),
    ("date", re.compile(r"(?<![\d,.$])\b((?:19|20)\d\d)\b(?![\d,])"), 0.8, _DIGIT),
    (
        "date",
        re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"),
        0.85,
        _WEEKDAYS,
    ),
    (
        "date",
        re.compile(
            r"\b(January|February|March|April|June|July|August|September|October|November"
            r"|December)\b"
        ),
        0.85,
        _MONTH_NAMES,
    ),
    (
        "date",
        re.compile(r"\b(?:in|since|of|early|late|mid-?|last|this|next)\s(May)\b"),
        0.85,
        frozenset({"may"}),
    ),
    (
        "date",
        re.compile(
            r"\b((?:yesterday|today|tonight|tomorrow)|(?:last|this|next|earlier this|later this)"
            r"\s(?:week|weekend|month|year|spring|summer|fall|autumn|winter)|\d+\s(?:days|weeks|"
            r"months|years)\sago)\b",
            re.I,
        ),
        0.6,
        _RELATIVE_TIME,
    ),
    ("duration", _DURATION, 1.0, _DURATION_UNITS),
    ("duration", _A_DURATION, 0.8, _DURATION_UNITS),
    ("duration", _FOR_DURATION, 0.6, _DURATION_UNITS),
    (
        "who",
        re.compile(
            r"\b(CEO|chief executive|founder|co-founder|president|spokesperson|spokesman|"
            r"spokeswoman|director|minister|secretary|chairman|chairwoman|commissioner|"
            r"professor|researchers?|senator|mayor|governor)\b"
        ),
        0.6,
        _ROLES,
    ),
    (
        "why",
        re.compile(rf"\b({_REASON_PHRASES})\b", re.I),
        1.0,
        _REASONS,
    ),
    (
        "why",
        re.compile(rf"\b({_CIRCUMSTANCE_PHRASES})\b", re.I),
        0.6,
        _REASONS,
    ),
)
_NUMBER = re.compile(rf"\b({_NUM})(%| percent\b)?")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
_HAS_DIGIT = re.compile(r"\d")
# Capitalised words, small linking words allowed between them. White space is taken whole
# (``\s+ link? \s*`` could split a run of spaces n ways, quadratic before a lowercase word)
# and words are never given back (only white space can follow one).
_CAPITALISED_RUN = re.compile(
    r"(?<![\w’'])[A-Z][\w’'&.-]*+"
    r"(?:\s++(?:(?:of|de|van|von|da|the|for|and|&)\s*+)?[A-Z][\w’'&.-]*+)*"
)
_PLACE = re.compile(
    r"\b(in|at|from|near|across|throughout|outside|inside|to)\s+(?:the\s+)?"
    r"([A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*)"
)


# Whether a paragraph may hold an answer of a type, in one search of its lowercased text: a
# coarse test (any digit may be an amount, a count or a date). Searching each cue pattern
# instead cost ~8 µs a pattern per paragraph, 1.5 ms an ask (p99, 20k articles with bodies).
# Names, and so places, are in nearly every paragraph: those types are not tested.
def _any_word(words: Iterable[str]) -> str:
    return r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b"


_ANSWER_HINTS: dict[AnswerType, re.Pattern[str]] = {
    "money": re.compile(r"[$€£¥\d]|" + _any_word(_CURRENCY_WORDS)),
    "number": re.compile(r"\d|" + _any_word(_NUMBER_WORDS)),
    "date": re.compile(r"\d|" + _any_word(_MONTH_NAMES | _WEEKDAYS | _RELATIVE_TIME)),
    "duration": re.compile(_any_word(_DURATION_UNITS)),
    "why": re.compile(rf"\b(?:{_REASON_PHRASES}|{_CIRCUMSTANCE_PHRASES})\b"),
}

# --- The question -----------------------------------------------------------------------------
_QUESTION_TYPES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        "who",
        re.compile(
            r"^\s*(?:who|whom|whose)\b|\b(?:who|whom|whose)\b|\b(?:which|what)\s(?:company|"
            r"companies|firm|firms|organi[sz]ations?|agency|agencies|person|people|group|"
            r"outlet|startup|vendor|brand)\b"
        ),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which)\s(?:date|year|day|month|time)\b|\bhow long ago\b"
            r"|\bsince when\b"
        ),
    ),
    (
        "where",
        re.compile(
            r"\bwhere\b|\b(?:what|which)\s(?:country|countries|city|cities|state|states|place|"
            r"places|region|town)\b"
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow many\b|\bnumber of\b|\b(?:what|which)\s(?:percentage|percent|share|proportion)"
            r"\b|\bhow (?:often|old|big|large|fast)\b"
        ),
    ),
    # After "date", which takes "how long ago".
    ("duration", re.compile(r"\bhow (?:long|much longer)\b")),
    ("money", re.compile(r"\bhow much\b")),
    ("why", re.compile(r"\bwhy\b")),
    (
        "money",
        re.compile(
            r"\b(?:cost|costs|price|priced|pay|pays|paying|paid|worth|spend|spends|spent|"
            r"spending|fine|fined|raise|raised|funding|valuation|valued|salary|revenue|budget|"
            r"charge|charged|contract worth)\b"
        ),
    ),
)
# Words that only say what kind of answer is wanted: they are not content to look for.
_CUE_WORDS = _wordset("""much many long often ago""")
_DATE_CUE_WORDS = _wordset("""date year day month time""")

_CONTINUES = _wordset(
    """it its it's this that these those they their them he his she her such and but however also
    still which so meanwhile instead"""
)
_PRONOUN_START = _wordset("""it its it's this these those they their he his she her""")


@dataclass(frozen=True, slots=True)
class _Sentence:
    """One quotable sentence: where it sits and how well it quotes."""

    text: str
    paragraph: int  # -1 for the title of an article without a body
    factor: float  # headings, questions, fragments and titles quote badly
    first_word: str


@dataclass(frozen=True, slots=True)
class _Doc:
    """An article prepared for answering: its sentences and each one's content stems.

    Answer cues (type -> (stem, strength)) are found on first use and kept in ``found_cues``:
    most sentences never share a word with any question, and finding cues is most of the cost
    of preparing an article. Per-sentence stem sets rather than a stem -> sentences map: no
    map to build for an article asked about once, and intersecting ~30 small sets per
    question costs microseconds.
    """

    sentences: tuple[_Sentence, ...]
    sentence_stems: tuple[frozenset[str], ...]
    stems: frozenset[str]  # every content stem in the article and its title
    found_cues: dict[tuple[int, AnswerType], Cues] = field(default_factory=dict, compare=False)

    def cues(self, i: int, answer: AnswerType) -> Cues:
        """Sentence ``i``'s cues for an ``answer`` type, found once (a benign race at worst)."""
        found = self.found_cues.get((i, answer))
        if found is None:
            text = self.sentences[i].text
            kinds = _CUE_KINDS.get(answer, frozenset({answer}))
            found = self.found_cues.setdefault((i, answer), _cues(text, words(text), kinds))
        return found


@dataclass(frozen=True, slots=True)
class _Question:
    """What is asked: its content stems (weighted by IDF per call) and the answer type."""

    terms: tuple[tuple[str, str], ...]  # (stem, original word) without duplicates
    answer: AnswerType | None
    stems: frozenset[str]


def _stems(tokens: Sequence[str]) -> frozenset[str]:
    """Content stems of tokenised text: what a question and a sentence are matched on."""
    return frozenset(stem(w) for w in tokens if w not in STOPWORDS)


def _cues(text: str, tokens: Sequence[str], kinds: frozenset[AnswerType]) -> Cues:
    """The answer-type cues of ``kinds`` in a sentence, each with its stem and strength.

    Only the kinds a question needs are looked for: the name and place scans loop in Python
    and were most of an uncached "when did…" question's time.
    """
    found: dict[AnswerType, list[tuple[str, float]]] = {kind: [] for kind in kinds}

    def add(kind: AnswerType, token: str, strength: float) -> None:
        found[kind].append((stem(token.replace(",", "")), strength))

    present = frozenset(tokens)
    digit = bool(_HAS_DIGIT.search(text))
    for kind, pattern, strength, gate in _CUE_PATTERNS:
        if kind not in kinds:
            continue
        if (gate is _DIGIT and not digit) or (isinstance(gate, frozenset) and not gate & present):
            continue
        for m in pattern.finditer(text):
            add(kind, m.group(1), strength)
    if "number" in kinds:
        if digit:
            for m in _NUMBER.finditer(text):
                token = m.group(1).replace(",", "")
                add("number", token, 0.35 if _YEAR.match(token) and not m.group(2) else 1.0)
        for token in _NUMBER_WORDS & present:
            add("number", token, 0.8)
    if "who" in kinds:
        for m in _CAPITALISED_RUN.finditer(text):
            name = [
                w
                for w in m.group().split()
                if (key := w.casefold().strip(".")) not in STOPWORDS
                and key not in _MONTH_NAMES
                and key not in _WEEKDAYS
            ]
            if not name:
                continue
            at_start = m.start() == 0 or not text[: m.start()].strip(" \"'“‘(")
            strength = 1.0 if len(name) > 1 else (0.3 if at_start else 0.7)
            for w in name:
                add("who", w.strip(".’'"), strength)
    if "where" in kinds:
        for m in _PLACE.finditer(text):
            place = [w for w in m.group(2).split() if w.casefold() not in STOPWORDS]
            if place and place[0].casefold() not in _MONTH_NAMES | _WEEKDAYS:
                for w in place:
                    add("where", w, 0.6 if m.group(1) == "to" else 1.0)
    return {kind: tuple(items) for kind, items in found.items() if items}


def _sentence(
    text: str, paragraph: int, *, heading: bool, title: bool = False
) -> tuple[_Sentence, frozenset[str]]:
    """A sentence and its content stems (which go into the article's postings only)."""
    tokens = words(text)
    factor = 1.0
    if title:
        factor = _TITLE_FACTOR
    elif heading:
        factor = _HEADING_FACTOR
    elif text.rstrip("\"'”’) ").endswith("?"):
        factor = _QUESTION_FACTOR
    elif len(tokens) < 5:
        factor = _SHORT_FACTOR
    unit = _Sentence(
        text=text, paragraph=paragraph, factor=factor, first_word=tokens[0] if tokens else ""
    )
    return unit, _stems(tokens)


def _is_heading(paragraph: str, parts: list[str]) -> bool:
    """A one-line paragraph with no final punctuation ("Clearview AI's controversial history")."""
    return (
        len(parts) == 1
        and len(paragraph.split()) <= 12
        and not paragraph.rstrip("\"'”’) ").endswith((".", "!", "?", ":"))
    )


@cached_within_budget(maxsize=_CACHED_ARTICLES)
def _prepare(
    article_id: str,
    title: str,
    excerpt: str,
    body: tuple[str, ...],
    title_inferred: bool,
    *,
    deadline: Deadline,
) -> _Doc:
    """Split and analyse one article; keyed on its text so a re-parsed article is redone."""
    del article_id  # part of the cache key only: two articles can share a text
    analysed: list[tuple[_Sentence, frozenset[str]]] = []
    if body:
        for p, paragraph in enumerate(bounded(body)):
            deadline.check()
            parts = sentences(paragraph)
            heading = _is_heading(paragraph, parts)
            for s in parts:
                deadline.check()
                analysed.append(_sentence(s, p, heading=heading))
    else:
        deadline.check()
        excerpt = bounded((excerpt,))[0]  # read to the bound, for the title check too
        for s in excerpt_sentences(excerpt):
            deadline.check()
            analysed.append(_sentence(s, 0, heading=False))
        folded_excerpt = " ".join(excerpt.split()).casefold()
        clean_title = " ".join(title.split())
        if clean_title and not title_inferred and clean_title.casefold() not in folded_excerpt:
            analysed.append(_sentence(clean_title, -1, heading=False, title=True))
    sentence_stems = tuple(stems for _, stems in analysed)
    return _Doc(
        sentences=tuple(unit for unit, _ in analysed),
        sentence_stems=sentence_stems,
        stems=_stems(words(title)).union(*sentence_stems),
    )


def _doc(article: Article, deadline: Deadline) -> _Doc:
    """The prepared article, from the cache when its text has not changed."""
    return _prepare(
        article.id,
        article.title,
        article.excerpt,
        article.body,
        article.title_inferred,
        deadline=deadline,
    )


@lru_cache(maxsize=1024)
def _question(text: str) -> _Question:
    """Parse a question once: the same few questions come back from many users."""
    folded = " ".join(text.casefold().replace("’", "'").split())
    answer: AnswerType | None = None
    for kind, pattern in _QUESTION_TYPES:
        if pattern.search(folded):
            answer = kind
            break
    drop = _CUE_WORDS | (_DATE_CUE_WORDS if answer == "date" else frozenset())
    terms: dict[str, str] = {}
    for w in words(text):
        if w in STOPWORDS or w in drop:
            continue
        terms.setdefault(stem(w), w)
    return _Question(
        terms=tuple(terms.items()), answer=answer, stems=frozenset(terms) | _stems(words(text))
    )


# The cue kinds an answer type is judged on (see ``_strength``); any other type is itself alone.
_CUE_KINDS: dict[AnswerType, frozenset[AnswerType]] = {"where": frozenset({"where", "who"})}


def _strength(cues: Cues, answer: AnswerType, asked: frozenset[str]) -> float:
    """How strongly a sentence holds an answer of the asked type that the question lacks."""
    strength = max((s for tok, s in cues.get(answer, ()) if tok not in asked), default=0.0)
    if answer == "where":
        # A place named without "in"/"at" before it ("the Portland City Council") still counts.
        named = max((s for tok, s in cues.get("who", ()) if tok not in asked), default=0.0)
        strength = max(strength, 0.5 * named)
    return strength


def _continues(unit: _Sentence, previous: _Sentence) -> bool:
    """True when ``unit`` carries on from ``previous`` ("It said…", "But…") in one paragraph."""
    return unit.paragraph == previous.paragraph and unit.first_word in _CONTINUES


def best_passage(
    question: str,
    articles: Sequence[Article],
    *,
    idf: Callable[[str], float] | None = None,
    max_sentences: int = 3,
    deadline: Deadline = UNLIMITED,
) -> Passage | None:
    """The 1–3 consecutive sentences among ``articles`` that best answer ``question``.

    ``articles`` are the search engine's candidates, best first; their order is a mild prior.
    ``idf`` maps a question word (as ``bot.engine.text.words`` spells it) to its IDF in the
    whole corpus; without it IDF is computed over the candidates' sentences. The score is 0–100:
    the IDF share of the question found in and around the sentence, scaled down when the
    question asks for an amount, date, name or place the sentence does not hold. ``None`` when
    no sentence shares a content word with the question. Raises ``OverBudget`` once
    ``deadline`` passes (the engine then answers with the excerpt).
    """
    q = _question(question)
    if not q.terms or not articles:
        return None
    docs = [_doc(a, deadline) for a in articles]
    weights = _weights(q, docs, idf)
    total = sum(weights.values())
    asked = frozenset(weights)
    if total <= 0:
        return None

    # First each sentence's score as if it held the asked-for answer (the most it can reach),
    # then answer cues for the most promising only: finding cues costs a pass of regexes per
    # sentence, and most sentences can no longer win once one has.
    bounds: list[tuple[float, int, int, float]] = []  # bound, article index, sentence, share
    for rank, doc in enumerate(docs):
        deadline.check()
        matched = {i: here for i, stems in enumerate(doc.sentence_stems) if (here := stems & asked)}
        prior = max(0.6, 1.0 - _RANK_STEP * rank)
        in_article = asked & doc.stems
        units = doc.sentences
        for i, here in matched.items():
            deadline.check()
            unit = units[i]
            around: frozenset[str] = frozenset()
            for j in (i - 1, i + 1):
                if 0 <= j < len(units) and units[j].paragraph == unit.paragraph:
                    around |= matched.get(j, frozenset())
            around -= here
            elsewhere = in_article - here - around
            covered = (
                sum(weights[s] for s in here)
                + _NEIGHBOUR_WEIGHT * sum(weights[s] for s in around)
                + _ELSEWHERE_WEIGHT * sum(weights[s] for s in elsewhere)
            ) / total
            share = min(1.0, covered)
            bounds.append((_score(share, 1.0, unit.factor, prior, i), rank, i, share))
    bounds.sort(key=lambda b: (-b[0], b[1], b[2]))

    best: tuple[float, int, int, bool] | None = None  # score, article index, sentence, extend
    for bound, rank, i, share in bounds:
        if best is not None and bound < best[0]:
            break
        deadline.check()
        units = docs[rank].sentences
        unit, extend, kind = units[i], False, 1.0
        if q.answer is not None:
            doc = docs[rank]
            strength = _strength(doc.cues(i, q.answer), q.answer, q.stems)
            if i + 1 < len(units) and _continues(units[i + 1], unit):
                following = 0.8 * _strength(doc.cues(i + 1, q.answer), q.answer, q.stems)
                if following > strength:
                    strength, extend = following, True
            kind = _NO_ANSWER_FACTOR + (1.0 - _NO_ANSWER_FACTOR) * strength
        score = _score(share, kind, unit.factor, max(0.6, 1.0 - _RANK_STEP * rank), i)
        # Ties go to the better-ranked article and the earlier sentence.
        if best is None or score > best[0] or (score == best[0] and (rank, i) < best[1:3]):
            best = (score, rank, i, extend)
    if best is None or best[0] <= 0:
        return None
    score, rank, i, extend = best
    text = _assemble(docs[rank].sentences, i, extend=extend, max_sentences=max(1, max_sentences))
    return Passage(text=text, article=articles[rank], score=round(score, 1))


def likely_paragraphs(
    question: str,
    body: Sequence[str],
    held: Sequence[float],
    keep: int,
    deadline: Deadline = UNLIMITED,
) -> tuple[str, ...]:
    """The ``keep`` paragraphs of ``body`` most likely to answer ``question``, in body order.

    ``held`` is how much of the question each paragraph holds (the caller's weighing). A
    paragraph without the kind of answer asked for (an amount for "how much", a reason for
    "why") counts as a sentence without one does in ``best_passage``: 40 %. Splitting only these
    into sentences keeps an ask on long bodies fast; without the answer-type test "Why is
    Clearview controversial?" quoted a sentence saying "controversial" over one saying why.
    Raises ``OverBudget`` once ``deadline`` passes.
    """
    hint = _ANSWER_HINTS.get(_question(question).answer or "")

    def value(i: int) -> float:
        deadline.check()
        if held[i] <= 0 or hint is None or hint.search(body[i].lower()):
            return held[i]
        return _NO_ANSWER_FACTOR * held[i]

    values = [value(i) for i in range(len(body))]
    best = sorted(range(len(body)), key=lambda i: (-values[i], i))[:keep]
    return tuple(body[i] for i in sorted(best) if values[i] > 0)


def _score(share: float, kind: float, factor: float, prior: float, i: int) -> float:
    """A sentence's 0-100 score; with ``kind`` 1.0 the most it can reach (float-monotone)."""
    position = 1.0 - _POSITION_STEP * min(i, 10)
    return 100.0 * share * kind * factor * prior * position


def _weights(
    q: _Question, docs: Sequence[_Doc], idf: Callable[[str], float] | None
) -> dict[str, float]:
    """IDF per question stem: the engine's corpus-wide IDF, or one over the candidates."""
    if idf is not None:
        return {s: max(0.05, float(idf(w))) for s, w in q.terms}
    n = sum(len(d.sentences) for d in docs)
    out = {}
    for s, _ in q.terms:
        df = sum(s in stems for d in docs for stems in d.sentence_stems)
        out[s] = math.log(1.0 + n / df) if df else math.log(1.0 + n)
    return out


def _assemble(units: Sequence[_Sentence], i: int, *, extend: bool, max_sentences: int) -> str:
    """The chosen sentence, extended within ``MAX_PASSAGE_CHARS`` so the quote reads on its own.

    The next sentence joins when it carries the answer on ("It said…") or the chosen one is
    very short; the one before joins when the chosen sentence opens on a pronoun ("It is…").
    """
    chosen = [i]

    def length(ix: list[int]) -> int:
        return sum(len(units[k].text) + 1 for k in ix)

    nxt = i + 1
    if (
        len(chosen) < max_sentences
        and nxt < len(units)
        and (extend or _continues(units[nxt], units[i]) or len(units[i].text) < 60)
        and units[nxt].paragraph == units[i].paragraph
        and length([*chosen, nxt]) <= MAX_PASSAGE_CHARS
    ):
        chosen.append(nxt)
    prev = i - 1
    if (
        len(chosen) < max_sentences
        and prev >= 0
        and units[i].first_word in _PRONOUN_START
        and units[prev].paragraph == units[i].paragraph
        and length([prev, *chosen]) <= MAX_PASSAGE_CHARS
    ):
        chosen.insert(0, prev)
    return " ".join(units[k].text for k in chosen)
