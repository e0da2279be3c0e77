"""Acronyms and the names they stand for, matched both ways.

News writes "the ACLU" in one article and "the American Civil Liberties Union" in the next, and
a reader asks with whichever form they remember. The index only sees words, so an article
naming the organisation the other way looked as if it lacked the query's subject. The pairing
is read off the text itself, with no list of known acronyms: the capitals of a name spell the
acronym ("Federal Bureau of Investigation" -> FBI; small linking words are skipped).

A query word is looked for spelled out only when typed in capitals or unknown to the corpus
(a lowercase word the corpus knows is an ordinary word), and only a whole run of capitalised
words spells it. Only an article's opening is read (excerpt and first paragraphs): news
spells a name out at its first mention, and scanning whole bodies per candidate would cost
most of a query's time. Runs of fewer than three words are left out: two-letter capitals
("AI", "UC") spell too many word pairs by chance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from bot.engine.abbreviations import LINK_WORDS, initials, may_be_short_form
from bot.engine.index import index_terms
from bot.engine.text import stem

MIN_LETTERS, MAX_LETTERS = 3, 6
LEAD_PARAGRAPHS = 2  # body paragraphs read after the excerpt
OPENING_CHARS = 4_000  # of each piece of the opening
_LINKS = r"(?:(?:" + "|".join(LINK_WORDS) + r")\s++)?"
_CAPS = re.compile(r"\b[A-Z]{3,6}(?=s?\b)")
_NAME_WORD = r"[A-Z][\w’'.-]*+"  # never given back: only white space can follow a word
# Three or more capitalised words in a row, small linking words allowed between them. A run
# starts at the first capital after a word boundary in its token ("Google" in "pre-Google"),
# chosen once (atomically) and consumed before the ``run`` group: every later capital of that
# token ends where it does, so it would fail likewise, and trying each made "A-" * 2000 + "x"
# cost 0.2 s (quadratic).
_NAME_RUN = re.compile(
    r"(?<![\w’'.-])(?>[\w’'.-]*?\b(?=[A-Z]))"
    r"(?P<run>" + _NAME_WORD + r"(?:\s++" + _LINKS + _NAME_WORD + r"){2,})"
)


class Acronyms:
    """One query's acronym readings: which of its words an article may hold in the other form."""

    def __init__(
        self,
        query: str,
        terms: Sequence[str],
        known: Callable[[str], bool],
        expand: Callable[[str], tuple[str, ...] | None] | None = None,
    ) -> None:
        """``expand(word)``: the corpus's long form of a short form, stemmed, or None.

        It comes from ``abbreviations``: "ml" -> ("machin", "learn").
        """
        # Runs of consecutive content words, keyed by their initials: "australian federal
        # police" -> {"afp": (australian, federal, police)}. Only initials that are a word of
        # the corpus (``known``) can be an acronym in one of its articles.
        self._runs: dict[str, tuple[str, ...]] = {}
        for start in range(len(terms)):
            for size in range(MIN_LETTERS, min(MAX_LETTERS, len(terms) - start) + 1):
                run = tuple(terms[start : start + size])
                letters = initials(run)
                if letters.isalpha() and letters not in self._runs and known(letters):
                    self._runs[letters] = run
        # Query words to look for spelled out: typed in capitals ("ACLU"), or unknown to the
        # corpus ("rcmp" where it only writes the full name). A lowercase word the corpus
        # knows is an ordinary word: "ban" is not "Bay Area Network".
        typed = {m.group().lower() for m in _CAPS.finditer(query)}
        self._short = tuple(
            t
            for t in terms
            if t.isalpha() and MIN_LETTERS <= len(t) <= MAX_LETTERS and (t in typed or not known(t))
        )

        # Query words the corpus may define in parentheses ("ml", "evs"), two letters included.
        self._expand = expand
        self._defined = (
            tuple(t for t in terms if t.isalpha() and may_be_short_form(t))
            if expand is not None
            else ()
        )

    def __bool__(self) -> bool:
        return bool(self._runs or self._short or self._defined)

    def covered(self, title: str, opening: Iterable[str], missing: set[str]) -> set[str]:
        """Which ``missing`` query words the article holds as an acronym or spelled out."""
        found: set[str] = set()
        text = "\n".join(opening)
        for letters, run in self._runs.items():
            if missing.isdisjoint(run):
                continue
            capitals = letters.upper()
            if _holds_word(title, capitals) or _holds_word(text, capitals):
                found.update(run)
        short = [w for w in self._short if w in missing and w not in found]
        if short:
            spelled = _spelled_initials(text)
            found.update(w for w in short if w in spelled)
        defined = [w for w in self._defined if w in missing and w not in found]
        if defined:
            assert self._expand is not None
            held: set[str] | None = None
            for word in defined:
                long = self._expand(word)
                if not long:
                    continue
                if held is None:
                    held = {stem(t) for t in index_terms(title + "\n" + text)}
                if held.issuperset(long):
                    found.add(word)
        return found & missing


def opening(excerpt: str, body: Sequence[str]) -> tuple[str, ...]:
    """The part of an article where names are spelled out: excerpt and first paragraphs.

    Each piece is cut to ``OPENING_CHARS``: names are spelled out early, and an excerpt can be
    megabytes of hostile text that every query near it would otherwise scan.
    """
    return tuple(text[:OPENING_CHARS] for text in (excerpt, *body[:LEAD_PARAGRAPHS]))


def _holds_word(text: str, word: str) -> bool:
    """Whether ``word`` stands in ``text`` as a word of its own (a plural "s" allowed).

    ``str.find`` for the few acronyms a query could stand for: scanning every capitalised
    token of each candidate's opening with a regex doubled the cost of a digest run.
    """
    at = text.find(word)
    while at != -1:
        end = at + len(word)
        if end < len(text) and text[end] == "s":
            end += 1
        before = text[at - 1] if at else " "
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        at = text.find(word, at + 1)
    return False


def _spelled_initials(text: str) -> set[str]:
    """The acronyms ``text``'s runs of capitalised words spell, each run as a whole.

    A whole run only (a leading "The" aside): stretches of longer runs spelled ordinary words
    by chance ("Bay Area Network" is no "ban").
    """
    out: set[str] = set()
    for match in _NAME_RUN.finditer(text):
        words = [w for w in match.group("run").split() if w[0].isupper()]
        if words[0] == "The":
            words = words[1:]
        if MIN_LETTERS <= len(words) <= MAX_LETTERS:
            out.add(initials(words))
    return out
