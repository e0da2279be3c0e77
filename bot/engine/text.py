"""Words and sentences: the one tokenizer that queries, passages, summaries and stories share."""

from __future__ import annotations

import re
from functools import lru_cache

# Numbers keep their digits together ("224,000" -> "224000", "3.5" -> "3.5") so figures match.
_TOKEN = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?|[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

STOPWORDS = frozenset(
    """a about after again against all also am an and any are as at be because been before being
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not now of off on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours s t don
    says said say new one two get got us via""".split()
)
# Words that make a query a question rather than a title fragment.
QUESTION_WORDS = frozenset(
    "who whom whose what when where which why how is are was were does do did can could".split()
)


_PLAIN = re.compile(r"[^\W\d_]+", re.UNICODE)
_SPECIAL = re.compile(r"[\d$'’]")


def words(text: str) -> list[str]:
    """Casefolded tokens; thousands separators and currency signs dropped from numbers."""
    folded = text.casefold()
    if _SPECIAL.search(folded) is None:
        # Most titles and sentences hold no figures or apostrophes: one regex call, no loop
        # (this path is most of story clustering's tokenizing time).
        return _PLAIN.findall(folded)
    out = []
    for token in _TOKEN.findall(folded):
        if token[0] in "$0123456789":
            token = token.lstrip("$").replace(",", "")
        else:
            token = token.replace("’", "'")
            if token.endswith("'s"):
                token = token[:-2]
        if token:
            out.append(token)
    return out


def content_words(text: str) -> list[str]:
    """Tokens that carry meaning: no stop words."""
    return [w for w in words(text) if w not in STOPWORDS]


def is_question(text: str) -> bool:
    """True for question phrasing ("how much is ICE paying…?") rather than a title fragment."""
    stripped = text.strip()
    if stripped.endswith("?"):
        return True
    tokens = words(stripped)
    return bool(tokens) and tokens[0] in QUESTION_WORDS and len(tokens) >= 3


# --- Sentences -------------------------------------------------------------------------------
# A period after one of these never ends a sentence: a title or a Latin abbreviation is always
# followed by more of the same sentence ("Dr. Smith", "e.g. faces", "Apple vs. Samsung").
_NEVER_FINAL = frozenset(
    """mr mrs ms mx dr prof sen rep reps gov gen lt col capt sgt cmdr adm rev hon pres supt det
    insp messrs e.g i.e cf vs viz approx fig figs dept est ca""".split()
)
# A period after one of these ends a sentence only when an ordinary sentence opener follows:
# "Apple Inc. The deal…" splits, "Apple Inc. Chief Executive…" and "Jan. 19" do not.
_MAYBE_FINAL = frozenset(
    """inc ltd co corp llc plc bros jr sr etc no nos st ave rd blvd mt ft jan feb mar apr jun jul
    aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun ala ariz ark calif colo
    conn del fla ga ill ind kan kans ky la md mass mich minn miss mo mont neb nev okla ore pa
    tenn tex va vt wash wis wyo""".split()
)
_OPENERS = STOPWORDS | frozenset(
    """however meanwhile but yet still today yesterday last earlier later according although though
    since despite instead also now""".split()
)
# Sentence-final punctuation, any closing quotes or brackets, then the whitespace that follows.
# A run of marks is only tried from its first mark, and nothing is given back: tried from each
# mark in turn, "!" * 30000 + "x" cost 8-28 s (quadratic), and a later mark of a run ends
# where the first does, so it can never match where the first did not.
_BOUNDARY = re.compile(r"(?:(?<![.!?])[.!?]++|…)[\"'”’)\]]*+(?=\s)")
_ACRONYM = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]$")  # "U.S", "e.g", "a.m" (final period removed)
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*[•·▪◦*-]\s)")
_BULLET = re.compile(r"^[•·▪◦*-]\s+")
_EDGE_PUNCT = "\"'“”‘’()[]{}«»"


def _ends_sentence(flat: str, start: int, mark: re.Match[str]) -> bool:
    """Whether the punctuation ``mark`` closes the sentence that began at ``start``."""
    following = flat[mark.end() : mark.end() + 40].split(None, 1)
    if not following:
        return True
    first = following[0].lstrip(_EDGE_PUNCT)[:1]
    if not first or not (first.isupper() or first.isdigit()):
        return False  # "e.g. faces", "U.S. cities", "?” he asked": the sentence goes on
    if mark.group().rstrip(_EDGE_PUNCT) != ".":
        return True  # "?", "!", "…" and "..." before a capital
    before = flat[start : mark.start()].rsplit(None, 1)
    token = before[-1].strip(_EDGE_PUNCT) if before else ""
    key = token.casefold()
    if key in _NEVER_FINAL:
        return False
    if key in _MAYBE_FINAL or _ACRONYM.match(token) or (len(token) == 1 and token.isupper()):
        return following[0].strip(_EDGE_PUNCT + ",;:").casefold() in _OPENERS
    return True


def sentences(text: str) -> list[str]:
    """Split prose into whole sentences, stripped, in order.

    Blank lines (and bullets) always separate sentences. Inside a paragraph a sentence ends at
    ``.``, ``!``, ``?`` or an ellipsis (with any closing quotes) followed by a capital or digit,
    except after titles and abbreviations ("Dr.", "e.g.", "U.S. Army", "Jan. 19", "J. K.
    Rowling"). Decimals and figures ("3.5", "$224,000") never split because a boundary needs
    whitespace after it. Text without final punctuation is kept as the last sentence.
    """
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        flat = " ".join(paragraph.split())
        start = 0
        for match in _BOUNDARY.finditer(flat):
            end = match.end()
            if _ends_sentence(flat, start, match):
                piece = _BULLET.sub("", flat[start:end].strip())
                if piece:
                    out.append(piece)
                start = end
        tail = _BULLET.sub("", flat[start:].strip())
        if tail:
            out.append(tail)
    return out


_COMPLETE_END = re.compile(r"[.!?][\"'”’)\]]*$")


def is_complete(sentence: str) -> bool:
    """True when a sentence ends with final punctuation rather than being cut off.

    "…cou", "…threats and", "…Way back in 2016," and "…than ..." are not complete (feeds mark
    truncation with a trailing ellipsis); "…the EU regime.”" is.
    """
    stripped = sentence.rstrip()
    if stripped.endswith(("...", "…")):
        return False
    return bool(_COMPLETE_END.search(stripped))


# --- Stems -------------------------------------------------------------------------------------
_IRREGULAR = {
    "paid": "pay",
    "bought": "buy",
    "sold": "sell",
    "spent": "spend",
    "won": "win",
    "lost": "lose",
    "began": "begin",
    "begun": "begin",
    "made": "make",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "built": "build",
    "held": "hold",
    "found": "find",
    "left": "leave",
    "told": "tell",
    "brought": "bring",
    "people": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
}
_DOUBLE_END = re.compile(r"([^aeiouslz])\1$")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stem so "paying", "pays" and "paid" meet at "pay", "images" and "image" at "imag".

    Deliberately crude (a few suffixes, a few irregular verbs): it only has to make a question's
    words meet the same words in an article, and over-stemming costs little there.
    """
    word = word.casefold()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("eed"):
            word = word[: -len(suffix)]
            if _DOUBLE_END.search(word):
                word = word[:-1]  # "stopped" -> "stopp" -> "stop"
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]  # "make"/"making" and "use"/"using" meet
    return word


# Separators, an ellipsis, separators, to the end. Tried only where a run of separators begins
# (the longest such tail always begins there) and without giving back: tried at every position
# with backtracking, " -" * 3000 took over 120 s (cubic), and excerpts are corpus text.
_CUT_TAIL = re.compile(r"(?<![\s,;:–—-])[\s,;:–—-]*+(?:\.\.\.|…)?[\s,;:–—-]*+$")


def excerpt_sentences(text: str) -> list[str]:
    """An excerpt's sentences, without the cut-off tail feeds leave ("…software to cou").

    A trailing fragment is dropped when a complete sentence precedes it; when it is all there
    is, it is kept and marked with "…" so a reader sees it was cut, never completed.
    """
    parts = sentences(text)
    if not parts or is_complete(parts[-1]):
        return parts
    if any(is_complete(p) for p in parts[:-1]):
        return parts[:-1]
    fragment = _CUT_TAIL.sub("", parts[-1])
    return [*parts[:-1], fragment + "…"] if fragment else parts[:-1]


def possessive(name: str) -> str:
    """Whose, as a reader says it: Business Insider's, The New York Times'.

    Answers name whose related list or whose article something came from; a name that is
    blank is "another report", never a bare "'s".
    """
    name = name.strip() or "another report"
    return f"{name}'" if name.endswith("s") else f"{name}'s"
