"""How the corpus writes a word: the share of its mid-sentence uses that are capitalised.

People type "detroit", "nfl" and "amazon" in lowercase; the corpus writes them as names. So a
query's names are recognised by the corpus's casing, not the user's. Each word is looked up
when first asked (``word_samples``): a few articles that use it, their excerpts and lead
paragraphs, say how it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from bot.engine.word_samples import WordSamples

SAMPLE_ARTICLES = 8  # articles read per word
SAMPLE_CHARS = 1_000  # of each: the excerpt and the body's lead
_WORD = re.compile(r"[^\W_]+")
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
    """Capitalised and lowercase mid-sentence uses of ``word`` in ``text``."""
    capital = lower = 0
    for at in _uses(text, word):
        if _starts_sentence(text, at):
            continue  # a sentence's first word is capitalised whatever it is
        if text[at].isupper():
            capital += 1
        else:
            lower += 1
    return capital, lower


def _uses(text: str, word: str) -> Iterator[int]:
    """Where ``word`` (lowercase) stands as a whole token of ``text`` (a run of letters and digits).

    Found with ``str.find`` in the lowercased text, not by lowercasing every token: a query's
    first look at a word reads up to 24 sample texts, and the loop over their tokens was the
    largest own cost of the slowest queries (42 µs a 1,000-character text; 1.2 µs so). Where
    lowercasing the whole text is not lowercasing each token, the tokens are read one by one:
    a text whose lowercase is longer ("İ": its offsets differ) and one with a capital sigma
    (which lowercases to "ς" or "σ" by what follows, across a token's end).
    """
    if not word:
        return
    low = text.lower()
    if len(low) != len(text) or "Σ" in text:
        yield from (m.start() for m in _WORD.finditer(text) if m.group().lower() == word)
        return
    size, last = len(word), len(text)
    at = low.find(word)
    while at >= 0:
        end = at + size  # a token's characters are exactly those ``isalnum`` accepts
        if (at == 0 or not text[at - 1].isalnum()) and (end == last or not text[end].isalnum()):
            yield at
        at = low.find(word, end)


def _starts_sentence(text: str, at: int) -> bool:
    """Whether the word at ``at`` begins a sentence (only white space back to an end mark)."""
    at -= 1
    while at >= 0 and text[at].isspace():
        at -= 1
    return at < 0 or text[at] in _SENTENCE_END
