"""Short forms the corpus spells out in parentheses, and the words they stand for.

News writes "machine learning (ML)", "electric vehicles (EVs)" or "Internet of Things (IoT)"
beside a short form's first use, then either form. Readers type the short one ("ml kidney
cancer study") where the answering article only writes the long one, which then looked as if
it lacked the query's subject. ``acronyms`` pairs short forms with runs of three or more
capitalised words only, because two letters spell too many word pairs by chance; a definition
the corpus writes itself carries no such doubt, so two-letter forms ("ML", "AI", "EV") count
here.

Nothing is listed by hand: what a word stands for is read off the articles that use it, each
word when first asked (``word_samples``), the most frequent definition winning.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from bot.engine.index import index_terms
from bot.engine.text import stem
from bot.engine.word_samples import WordSamples

# Articles read per word: a short form in wide use ("AI") is spelled out in few of the
# articles using it most.
SAMPLE_ARTICLES = 24
SAMPLE_CHARS = 2_000  # of each piece of their openings
MIN_LETTERS, MAX_LETTERS = 2, 6
# Words before the parenthesis considered, beyond one per letter: linking words ("of", "and").
_SLACK = 3
# A short form in parentheses, a plural "s" allowed: "(ML)", "(EVs)", "(IoT)". Letters only,
# bounded: linear on any text.
_DEFINED = re.compile(r"\(([A-Za-z]{2,7})\)")
# Small words a name's initials skip ("Internet of Things": IoT); ``acronyms`` reads the same.
LINK_WORDS = ("of", "for", "and", "the", "on", "in", "de", "du", "des")
_LINKS = frozenset((*LINK_WORDS, "&"))


def long_forms(text: str, word: str) -> Iterable[tuple[str, ...]]:
    """The long forms ``text`` gives ``word`` (a lowercase short form), as stemmed words.

    "… using machine learning (ML) to …" gives ("machin", "learn") for "ml". The long form is
    the shortest run of words just before the parenthesis whose initials spell the short form,
    with linking words ("of", "and") counted or skipped.
    """
    for match in _DEFINED.finditer(text):
        short = match.group(1)
        base = short[:-1] if short[-1] == "s" and len(short) > MIN_LETTERS else short
        if word not in (short.lower(), base.lower()):
            continue
        letters = base.lower()
        before = text[max(0, match.start() - 30 * (len(letters) + _SLACK)) : match.start()]
        words = before.split()[-(len(letters) + _SLACK) :]
        for size in range(1, len(words) + 1):
            run = words[-size:]
            if run[0].lower() in _LINKS:
                continue
            content = [w for w in run if w.lower() not in _LINKS]
            if letters in (initials(content), initials(run)):
                terms = [t for t in index_terms(" ".join(content)) if len(t) > 1]
                if terms:
                    yield tuple(stem(t) for t in terms)
                break


def may_be_short_form(word: str) -> bool:
    """Whether ``word`` could be a short form the corpus defines: 2 to 6 letters, a plural "s"."""
    return MIN_LETTERS <= len(word) <= MAX_LETTERS + 1 and word.isalpha()


def initials(words: Iterable[str]) -> str:
    """The letters a run of words spells by their first letters, lowercase."""
    return "".join(w[0] for w in words).lower()


class CorpusAbbreviations(WordSamples[tuple[str, ...] | None]):
    """``long_form(word)``: what the corpus spells ``word`` out as (stemmed words), or None."""

    ARTICLES = SAMPLE_ARTICLES
    CHARS = SAMPLE_CHARS

    @property
    def long_form(self) -> Callable[[str], tuple[str, ...] | None]:
        """The long form of a word (``lookup``), by the name callers read it by."""
        return self.lookup

    def _learn(self, word: str) -> tuple[str, ...] | None:
        if not may_be_short_form(word):
            return None
        found: Counter[tuple[str, ...]] = Counter()
        for text in self.sample(word):
            found.update(long_forms(text, word))
        if not found:
            # "evs": the corpus may spell out only the singular, "electric vehicle (EV)".
            if word.endswith("s") and len(word) > MIN_LETTERS:
                return self.long_form(word[:-1])
            return None
        # The most frequent; a tie goes to the shorter, then the first in order, so the answer
        # is the same in every process.
        return min(found, key=lambda form: (-found[form], len(form), form))
