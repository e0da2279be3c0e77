"""How the corpus writes a word: the share of its mid-sentence uses that are capitalised.

People type "detroit", "nfl" and "amazon" in lowercase; the corpus writes them as names. So a
query's names are recognised by the corpus's casing, not the user's. Each word is looked up
when first asked (``word_samples``): a few articles that use it, their excerpts and lead
paragraphs, say how it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.engine.word_samples import WordSamples

SAMPLE_ARTICLES = 8  # articles read per word
SAMPLE_CHARS = 1_000  # of each: the excerpt and the body's lead
_WORD = re.compile(r"[^\W_]+")
_WORD_CHAR = re.compile(r"[^\W_]")
_SENTENCE_END = frozenset(".!?:\"'“”")


class CorpusCasing(WordSamples[float | None]):
    """``share(word)``: capitalised share of a word's mid-sentence uses, or None if unused."""

    ARTICLES = SAMPLE_ARTICLES
    CHARS = SAMPLE_CHARS

    @property
    def share(self) -> Callable[[str], float | None]:
        """The capitalised share of a word (``lookup``), by the name callers read it by."""
        return self.lookup

    def _learn(self, word: str) -> float | None:
        capital = lower = 0
        for text in self.sample(word):
            c, n = _count(text, word)
            capital += c
            lower += n
        seen = capital + lower
        return capital / seen if seen else None


def _count(text: str, word: str) -> tuple[int, int]:
    """Capitalised and lowercase mid-sentence uses of ``word`` in ``text``.

    Found with ``str.find`` in the lowercased text, not by lowercasing every token: a query's
    first look at a word reads up to sixteen sample texts, and the loop over their tokens was the
    largest own cost of the slowest queries (85 µs a 2,000-character text, 3 µs so). A text
    whose lowercasing changes its length ("İ") is read token by token, as the offsets differ.
    """
    low = text.lower()
    if len(low) != len(text):
        return _count_tokens(text, word)
    capital = lower = 0
    size = len(word)
    at = low.find(word)
    while at >= 0:
        end = at + size
        whole = (at == 0 or not _WORD_CHAR.match(text, at - 1)) and not _WORD_CHAR.match(text, end)
        if whole and not _starts_sentence(text, at):
            if text[at].isupper():
                capital += 1
            else:
                lower += 1
        at = low.find(word, end)
    return capital, lower


def _count_tokens(text: str, word: str) -> tuple[int, int]:
    """``_count`` token by token."""
    capital = lower = 0
    for match in _WORD.finditer(text):
        token = match.group()
        if token.lower() != word or _starts_sentence(text, match.start()):
            continue
        if token[0].isupper():
            capital += 1
        else:
            lower += 1
    return capital, lower


def _starts_sentence(text: str, at: int) -> bool:
    """Whether the word at ``at`` begins a sentence: capitalised whatever it is."""
    at -= 1
    while at >= 0 and text[at].isspace():
        at -= 1
    return at < 0 or text[at] in _SENTENCE_END
