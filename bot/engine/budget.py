"""A time budget for the text work of one answer, so one hostile article costs one answer.

Every answer runs in the one engine thread (``bot.answer_service``), and Python holds the GIL
while it splits and ranks sentences: an article that makes that work slow stalls every user
and, through the GIL, the event loop with it. The regexes are linear-time
(``tests/test_regex_linear_time.py``), and the text read is bounded in size (``bounded``), but
a corpus file may hold megabytes of text built to make sentence work expensive (thousands of
tiny sentences, each scored against the others). So the answer's text steps (choosing
paragraphs, splitting sentences, ranking them, cutting excerpts) share one ``Deadline``,
checked between paragraphs and sentences; past it they raise ``OverBudget`` and the engine
answers with the article's plain excerpt (``plain_excerpt``) instead.

A normal answer spends about a millisecond on text (3 ms at p99 for ``ask`` at 100k articles),
and the worst bounded input measured, 64 KB of four-word sentences, about 50 ms: ``TEXT_BUDGET``
is 100 ms, so only a pathological article on a busy machine reaches it, and the engine thread
is never held longer than that by text work.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.corpus.model import Article

TEXT_BUDGET = 0.1  # seconds of text work per answer
# Text an answer reads from one article for sentences: ten times a long news article (800
# words are ~5 KB), so only a file built to be expensive is cut. A paragraph is cut sooner:
# no news paragraph runs to 16 K characters, a page scraped without line breaks may.
MAX_TEXT_CHARS = 64 * 1024
MAX_PARAGRAPH_CHARS = 16 * 1024

# The clock deadlines read; a test may replace it with one that ticks per reading.
clock: Callable[[], float] = time.monotonic

R = TypeVar("R")


class OverBudget(Exception):
    """The text work of an answer ran past its deadline; the caller answers more simply."""


class Deadline:
    """The moment one answer's text work must be done by, shared by its steps.

    Checked between paragraphs and sentences rather than enforced by a timer: the engine
    thread can't be interrupted (a regex holds the GIL), but the steps between two checks
    are bounded in size, so an answer overruns by a few milliseconds at most.
    """

    __slots__ = ("_at",)

    def __init__(self, seconds: float = TEXT_BUDGET) -> None:
        """A deadline ``seconds`` from now; ``math.inf`` for one that never comes."""
        self._at = math.inf if seconds == math.inf else clock() + seconds

    def check(self) -> None:
        """Raise ``OverBudget`` once the deadline has passed."""
        if self._at != math.inf and clock() > self._at:
            raise OverBudget


UNLIMITED = Deadline(math.inf)  # for callers outside an answer: tests, benchmarks, digests


def bounded(paragraphs: Sequence[str], limit: int = MAX_TEXT_CHARS) -> tuple[str, ...]:
    """The leading paragraphs up to ``limit`` characters, none over ``MAX_PARAGRAPH_CHARS``.

    Paragraphs are cut at a space where there is one near the cut, so no word is split (the
    piece cut off becomes a sentence fragment, which summaries and passages weigh as such).
    Normal articles come back unchanged.
    """
    out: list[str] = []
    room = limit
    for paragraph in paragraphs:
        if len(paragraph) > MAX_PARAGRAPH_CHARS:
            paragraph = _cut_at_space(paragraph, MAX_PARAGRAPH_CHARS)
        if len(paragraph) > room:
            last = _cut_at_space(paragraph, room)
            if last:
                out.append(last)
            break
        out.append(paragraph)
        room -= len(paragraph)
    return tuple(out)


def _cut_at_space(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last space in its final 200."""
    head = text[:limit]
    space = head.rfind(" ", max(0, limit - 200))
    return head[:space] if space > 0 else head


def plain_excerpt(article: Article, limit: int) -> str:
    """What an answer quotes when its text work is over budget: the excerpt, as it is.

    The excerpt (else the title, as for a question nothing answers), white space collapsed,
    cut at a word before ``limit`` characters with a "…". No sentence work and no regex: only
    the first ``limit`` characters are ever read, whatever the article holds.
    """
    source = article.excerpt or article.title
    text = " ".join(source[: limit + 1].split())
    if len(text) <= limit and len(source) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(",;:–—- ") + "…"


def cached_within_budget(maxsize: int) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """``functools.lru_cache`` keyed on the arguments but not the keyword-only ``deadline``.

    A deadline never changes what the function returns, only whether it returns: an overrun
    raises ``OverBudget``, which is never cached, so the next call tries again. Keying on the
    deadline would make every answer miss the cache. The deadline reaches the cached call
    through a thread-local, as ``lru_cache`` may run two threads' calls at once.
    """

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        current = threading.local()

        @functools.lru_cache(maxsize=maxsize)
        def keyed(*args: Any) -> R:
            return fn(*args, deadline=getattr(current, "deadline", UNLIMITED))

        @functools.wraps(fn)
        def call(*args: Any, deadline: Deadline = UNLIMITED) -> R:
            previous = getattr(current, "deadline", UNLIMITED)
            current.deadline = deadline
            try:
                return keyed(*args)
            finally:
                current.deadline = previous

        call.cache_clear = keyed.cache_clear  # type: ignore[attr-defined]
        call.cache_info = keyed.cache_info  # type: ignore[attr-defined]
        return call

    return decorate
