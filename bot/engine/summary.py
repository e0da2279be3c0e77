"""A 2–4 sentence extractive summary of one article, quoted, never rewritten.

News puts the most important sentence first, so the lead is always kept and the rest are chosen
by a mix of position (earlier is better) and centrality (sharing the words the article keeps
returning to), with a little credit for figures and, when asked, for the query's words. Headings,
questions, teasers ("Here's why…", "Read more") and feed debris ("Share.") are never chosen.
Sentences come back in article order and together stay within ``MAX_SUMMARY_CHARS``.

Most articles in the real corpus have only an excerpt, often cut off mid-word; those are cleaned
(``excerpt_sentences``) and returned as far as they go.

Corpus text is untrusted: only its first ``MAX_TEXT_CHARS`` are read, and a ``Deadline`` is
checked between paragraphs and sentences (``bot.engine.budget``), so a file built to make this
slow costs one answer (``OverBudget``), never the engine thread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.corpus.model import Article
from bot.engine.budget import UNLIMITED, Deadline, bounded, cached_within_budget
from bot.engine.text import STOPWORDS, excerpt_sentences, sentences, stem, words

MAX_SUMMARY_CHARS = 700
MAX_SUMMARY_SENTENCES = 4
# Articles whose candidate sentences stay cached (~45 KB for an 800-word body, ~2 KB for an
# excerpt); re-deriving them costs ~1 ms for a long body.
_CACHED_ARTICLES = 512
# Weights of the sentence score, chosen on the seeds and the cases in tests/test_summary.py.
_POSITION_WEIGHT = 0.45
_CENTRAL_WEIGHT = 0.45
_FIGURE_WEIGHT = 0.1
_QUERY_WEIGHT = 0.5
_REDUNDANT = 0.6  # Jaccard overlap of content stems above which a sentence adds nothing new

_TEASER = re.compile(
    r"^(?:here(?:'s|’s| is| are) (?:why|how|what|where|when|who)\b|(?:read|see|click|tap|watch|"
    r"listen|sign up|subscribe|follow us|share|contact|download|also read|related|advertisement|"
    r"we recommend|double tap|photo:|image:|credit:|getty images|this (?:article|story) "
    r"(?:was|originally|first))\b)",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A sentence that may go into a summary."""

    text: str
    order: int  # position among the article's summary-worthy sentences
    stems: frozenset[str]
    figure: bool


def _is_heading(paragraph: str, parts: list[str]) -> bool:
    """A short one-line paragraph without final punctuation, such as a sub-heading."""
    return (
        len(parts) == 1
        and len(paragraph.split()) <= 12
        and not paragraph.rstrip("\"'”’) ").endswith((".", "!", "?"))
    )


def _worth_quoting(text: str) -> bool:
    """False for questions, teasers, lead-ins to lists and debris like "Share."."""
    stripped = text.rstrip("\"'”’) ")
    return (
        len(text.split()) >= 4
        and not stripped.endswith(("?", ":"))
        and not _TEASER.match(text.lstrip("\"'“‘( "))
    )


@cached_within_budget(maxsize=_CACHED_ARTICLES)
def _candidates(
    excerpt: str, body: tuple[str, ...], *, deadline: Deadline
) -> tuple[_Candidate, ...]:
    """Summary-worthy sentences of an article: from the body, else from the excerpt.

    Cached on the article's text (not the deadline, which only decides whether it finishes):
    summaries are asked for again and again for popular articles.
    """
    texts: list[str] = []
    if body:
        for paragraph in bounded(body):
            deadline.check()
            parts = sentences(paragraph)
            if not _is_heading(paragraph, parts):
                texts.extend(p for p in parts if _worth_quoting(p))
    if not texts:
        deadline.check()
        parts = excerpt_sentences(bounded((excerpt,))[0])
        texts = [p for p in parts if _worth_quoting(p)]
        if not texts and parts:
            # All there is is a question or a short fragment: better than saying nothing.
            texts = [p for p in parts if not _TEASER.match(p) or len(p.split()) >= 8][:1]
    candidates = []
    for i, t in enumerate(texts):
        deadline.check()
        candidates.append(
            _Candidate(
                text=t,
                order=i,
                stems=frozenset(stem(w) for w in words(t) if w not in STOPWORDS),
                figure=bool(_FIGURE.search(t)),
            )
        )
    return tuple(candidates)


def _clip(text: str, limit: int) -> str:
    """Cut an over-long sentence at a word boundary and mark the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(None, 1)[0].rstrip(",;:–—- ") + "…"


def summarize(
    article: Article,
    *,
    max_sentences: int = MAX_SUMMARY_SENTENCES,
    query: str | None = None,
    deadline: Deadline = UNLIMITED,
) -> tuple[str, ...]:
    """Up to ``max_sentences`` (default 4) sentences of ``article``, in article order.

    From the body when there is one, else from the excerpt. The first summary-worthy sentence
    (the lead) is always included; the others are ranked by position, centrality and figures,
    plus the share of ``query``'s content words they contain when a query is given. The joined
    summary never exceeds ``MAX_SUMMARY_CHARS`` characters. Empty when the article has no text.
    Raises ``OverBudget`` once ``deadline`` passes (the engine then answers with the excerpt).
    """
    candidates = _candidates(article.excerpt, article.body, deadline=deadline)
    limit = max(1, max_sentences)
    if not candidates:
        return ()
    lead = candidates[0]
    if len(candidates) == 1 or limit == 1:
        return (_clip(lead.text, MAX_SUMMARY_CHARS),)

    scores = _scores(candidates, query, deadline)
    chosen = [lead]
    used = len(lead.text)
    for cand in sorted(candidates[1:], key=lambda c: (-scores[c.order], c.order)):
        if len(chosen) >= limit:
            break
        if used + 1 + len(cand.text) > MAX_SUMMARY_CHARS:
            continue
        if any(_overlap(cand, c) > _REDUNDANT for c in chosen):
            continue
        chosen.append(cand)
        used += 1 + len(cand.text)
    chosen.sort(key=lambda c: c.order)
    if len(chosen) == 1:
        return (_clip(lead.text, MAX_SUMMARY_CHARS),)
    return tuple(c.text for c in chosen)


def _scores(
    candidates: tuple[_Candidate, ...], query: str | None, deadline: Deadline
) -> list[float]:
    """Position, centrality, figures and query overlap per candidate, indexed by ``order``."""
    counts: dict[str, int] = {}
    for c in candidates:
        deadline.check()
        for s in c.stems:
            counts[s] = counts.get(s, 0) + 1
    # Centrality against the other sentences only (count - 1), so a sentence cannot make itself
    # central by repeating its own words.
    norm = math.sqrt(sum((n - 1) ** 2 for n in counts.values())) or 1.0
    central = [
        sum(counts[s] - 1 for s in c.stems) / (math.sqrt(len(c.stems) or 1) * norm)
        for c in candidates
    ]
    top = max(central) or 1.0
    asked = frozenset(stem(w) for w in words(query) if w not in STOPWORDS) if query else frozenset()
    out = []
    for c, centrality in zip(candidates, central, strict=True):
        score = (
            _POSITION_WEIGHT / (1.0 + 0.25 * c.order)
            + _CENTRAL_WEIGHT * centrality / top
            + _FIGURE_WEIGHT * c.figure
        )
        if asked:
            score += _QUERY_WEIGHT * len(asked & c.stems) / len(asked)
        out.append(score)
    return out


def _overlap(a: _Candidate, b: _Candidate) -> float:
    """Jaccard overlap of content stems: high for near-duplicates, not for one topic."""
    union = len(a.stems | b.stems)
    return len(a.stems & b.stems) / union if union else 0.0
