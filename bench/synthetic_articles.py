"""A deterministic synthetic news corpus, built as ``Article`` objects in memory, and its queries.

The speed benchmark (``bench/query.py``) needs a million articles with the statistics that make
search expensive or cheap, not real prose:

- a Zipfian vocabulary (about 50,000 words; exponent 1.05, Mandelbrot offset 2.7), with English
  function words at the head, as in news text;
- people and organisation names (capitalised) appearing in titles;
- outlets with Zipfian sizes (a few wire services publish most) and topics (1–3 per article);
- stories: about 40 % of articles are one of 2–12 reports of the same event by different
  outlets within three days, sharing names and key words under paraphrased titles, which is
  what story clustering and near-duplicate ranking have to cope with;
- dates over two years; titles of 8–14 words, excerpts of about 40 words, optional bodies of
  about 400 words in 4–8 paragraphs, with figures ("$224,000", "12 percent") now and then.

Queries are drawn from the corpus with their own seed: title fragments (half with a typo),
question-like phrasings, words plus an outlet filter, unanswerable word salad, and prefixes
for autocomplete. The same ``--articles``/``--seed`` always gives the same corpus and queries.
"""

from __future__ import annotations

import random
import string
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from bot.corpus.model import Article, Outlet, Provenance, article_id

VOCABULARY = 50_000
ZIPF_EXPONENT = 1.05
ZIPF_OFFSET = 2.7
OUTLETS = 3_000
PEOPLE = 20_000
ORGANISATIONS = 8_000
STORY_SHARE = 0.40
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400

# Most frequent English words in news copy; they take the head of the Zipf distribution.
FUNCTION_WORDS = (
    "the of to and a in for is on that with as at by from it be was has are have will said "
    "its after new more over about than but this into up who not their also year two had "
    "been out he his first one could they which would we were or can after under amid what"
).split()
# Mostly single letters, so word lengths look like English (types average about 7 letters).
_ONSETS = (
    "b c d f g h j k l m n p r s t v w z " * 4 + "bl br ch cl cr dr fl fr gr pl pr sh st th tr"
).split()
_VOWELS = ("a e i o u " * 4 + "ai ea ee ie oa ou").split()
_CODAS = ["", "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "rk", "st", "ck", "ng", "x"]
_TOPIC_HEADS = ("AI in", "Data", "Cloud", "Robotics", "Vision", "Language", "Chip", "Policy")
_OUTLET_SUFFIXES = (
    "Times",
    "Post",
    "News",
    "Journal",
    "Wire",
    "Herald",
    "Tribune",
    "Review",
    "Daily",
    "Report",
    "Insider",
    "Chronicle",
    "Today",
    "Gazette",
    "Observer",
    "Online",
)
_ORG_SUFFIXES = ("Inc", "Labs", "AI", "Systems", "Group", "Technologies", "Robotics", "Health")
_QUESTION_FORMS = (
    "who reported {a} {b} {c}?",
    "what happened with {n} and {a}?",
    "how much did {n} pay for {a} {b}?",
    "when did {n} announce {a} {b}?",
    "why is {a} {b} {c} in the news?",
    "what did {n} say about {a}?",
)


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query and where it came from."""

    text: str
    kind: str  # "fragment", "question", "outlet", "unanswerable"
    source: str | None = None  # the article it was drawn from
    outlet: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """Query sets for the benchmark, each drawn independently."""

    queries: list[Query]
    prefixes: list[str]


class _Zipf:
    """Draws from a ranked list with probability proportional to 1 / (rank + offset) ** s."""

    def __init__(self, items: Sequence[str], exponent: float, offset: float) -> None:
        self.items = list(items)
        weights = [1.0 / (r + offset) ** exponent for r in range(1, len(items) + 1)]
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def draw(self, rng: random.Random, k: int) -> list[str]:
        items, cum, total, rand = self.items, self.cum, self.total, rng.random
        hi = len(cum) - 1
        return [items[min(bisect(cum, rand() * total), hi)] for _ in range(k)]

    def one(self, rng: random.Random) -> str:
        return self.items[min(bisect(self.cum, rng.random() * self.total), len(self.cum) - 1)]


def _pseudo_words(rng: random.Random, count: int, exclude: set[str]) -> list[str]:
    """Distinct pronounceable words of 1–4 syllables, shorter ones more frequent."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < count:
        syllables = rng.choices((1, 2, 3, 4), weights=(3, 6, 4, 1))[0]
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        )
        if 3 <= len(word) <= 16 and word not in seen:
            seen.add(word)
            out.append(word)
    return out


class Generator:
    """Holds the vocabulary, names and outlets; builds articles and queries from them."""

    def __init__(self, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.seed = seed
        content = _pseudo_words(rng, VOCABULARY - len(FUNCTION_WORDS), set(FUNCTION_WORDS))
        # Frequent words are short ones, give or take.
        content.sort(key=lambda w: len(w) + rng.gauss(0, 2))
        # Function words are interleaved near the head, as in real frequency lists.
        ranked = list(content)
        for i, word in enumerate(FUNCTION_WORDS):
            ranked.insert(i * 2, word)
        self.words = _Zipf(ranked, ZIPF_EXPONENT, ZIPF_OFFSET)
        self.content_words = _Zipf(content, ZIPF_EXPONENT, ZIPF_OFFSET)
        names = _pseudo_words(rng, 6_000, set(ranked))
        firsts, lasts = names[:2_000], names[2_000:]
        self.people = [
            f"{rng.choice(firsts).capitalize()} {rng.choice(lasts).capitalize()}"
            for _ in range(PEOPLE)
        ]
        org_roots = _pseudo_words(rng, ORGANISATIONS, set(ranked) | set(names))
        self.organisations = [
            f"{root.capitalize()} {rng.choice(_ORG_SUFFIXES)}"
            if rng.random() < 0.6
            else root.capitalize()
            for root in org_roots
        ]
        self.entities = _Zipf(self.people + self.organisations, 0.9, 10.0)
        outlet_roots = _pseudo_words(rng, OUTLETS, set())
        outlets = []
        for root in outlet_roots:
            name = f"The {root.capitalize()} {rng.choice(_OUTLET_SUFFIXES)}"
            if rng.random() < 0.3:
                name = f"{root.capitalize()}{rng.choice(('', ' Tech', ' Media', '.com'))}"
            outlets.append(Outlet(name, f"{root}{rng.choice(('.com', '.net', '.co.uk', '.org'))}"))
        self.outlets = outlets
        self._outlet_pick = _Zipf([str(i) for i in range(len(outlets))], 1.1, 3.0)
        topic_words = _pseudo_words(rng, 40, set(ranked))
        self.topics = [f"{rng.choice(_TOPIC_HEADS)} {w.capitalize()}" for w in topic_words] + [
            "AI",
            "Machine Learning",
            "Computer Vision",
            "Self-Driving",
            "Privacy",
        ]
        self._topic_pick = _Zipf(self.topics[::-1], 1.0, 1.5)
        self.unknown = _pseudo_words(random.Random(seed + 1), 5_000, set(ranked) | set(names))
        self.unknown = [w + "q" for w in self.unknown]  # never in the vocabulary

    # ------------------------------------------------------------------ articles
    def _outlet(self, rng: random.Random) -> Outlet:
        return self.outlets[int(self._outlet_pick.one(rng))]

    def _sentence(self, rng: random.Random, length: int, keys: Sequence[str] = ()) -> str:
        words = self.words.draw(rng, length)
        for key in keys:
            if rng.random() < 0.5:
                words[rng.randrange(length)] = key
        if rng.random() < 0.15:
            figure = rng.choice(
                (
                    f"${rng.randint(1, 999)},{rng.randint(0, 999):03d}",
                    f"{rng.randint(2, 95)} percent",
                    f"{rng.randint(2, 900)} million",
                )
            )
            words[rng.randrange(length)] = figure
        if rng.random() < 0.4:
            words[rng.randrange(length)] = self.entities.one(rng)
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def _title(self, rng: random.Random, entity: str, keys: Sequence[str]) -> str:
        length = rng.randint(8, 14)
        words = self.words.draw(rng, length - len(keys) - 1)
        body = [entity, *keys, *words]
        head, tail = body[: 1 + len(keys)], body[1 + len(keys) :]
        rng.shuffle(tail)
        mixed = head + tail
        rng.shuffle(mixed)
        title = " ".join(mixed)
        if rng.random() < 0.3:
            title = string.capwords(title)
        return title[0].upper() + title[1:]

    def article(
        self,
        index: int,
        rng: random.Random,
        bodies: bool,
        story: tuple[str, tuple[str, ...], datetime] | None = None,
    ) -> Article:
        """One article; ``story`` (entity, key words, date) makes it one report of an event."""
        if story is None:
            entity = self.entities.one(rng)
            keys = tuple(self.content_words.draw(rng, rng.randint(2, 4)))
            when = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        else:
            entity, keys, base = story
            when = base + timedelta(seconds=rng.randrange(3 * 86_400))
        outlet = self._outlet(rng)
        title = self._title(rng, entity, keys)
        excerpt = " ".join(self._sentence(rng, n, keys) for n in _split(rng, rng.randint(30, 50)))
        body: tuple[str, ...] = ()
        if bodies:
            body = tuple(
                " ".join(self._sentence(rng, n, keys) for n in _split(rng, rng.randint(45, 75)))
                for _ in range(rng.randint(4, 8))
            )
        topics = tuple(dict.fromkeys(self._topic_pick.one(rng) for _ in range(rng.randint(1, 3))))
        slug = "-".join(title.lower().split()[:8])
        url = f"https://{outlet.domain}/{when:%Y/%m}/{slug}-{index}"
        return Article(
            id=article_id(url),
            title=title,
            url=url,
            urls=(url,),
            outlet=outlet,
            published=when,
            excerpt=excerpt,
            body=body,
            topics=topics,
            provenance=(Provenance(f"synthetic/{index}.md"),),
        )

    def corpus(self, n: int, bodies: bool = False) -> dict[str, Article]:
        """``n`` articles keyed by id, about 40 % of them in multi-outlet stories."""
        rng = random.Random(self.seed * 1_000_003 + n)
        out: dict[str, Article] = {}
        index = 0
        while index < n:
            if rng.random() < STORY_SHARE / 4:  # a story averages about 4 reports
                size = min(n - index, rng.choice((2, 2, 3, 3, 4, 4, 5, 6, 8, 12)))
                story = (
                    self.entities.one(rng),
                    tuple(self.content_words.draw(rng, rng.randint(2, 4))),
                    START + timedelta(seconds=rng.randrange(SPAN_SECONDS)),
                )
                for _ in range(size):
                    article = self.article(index, rng, bodies, story)
                    out[article.id] = article
                    index += 1
            else:
                article = self.article(index, rng, bodies)
                out[article.id] = article
                index += 1
        return out

    # ------------------------------------------------------------------ queries
    def queries(self, articles: Sequence[Article], count: int, seed: int) -> Workload:
        """``count`` search-like queries and ``count`` autocomplete prefixes."""
        rng = random.Random(seed)
        out: list[Query] = []
        for _ in range(count):
            article = articles[rng.randrange(len(articles))]
            roll = rng.random()
            if roll < 0.40:
                out.append(Query(self._fragment(rng, article), "fragment", article.id))
            elif roll < 0.70:
                out.append(Query(self._question(rng, article), "question", article.id))
            elif roll < 0.85:
                words = _title_words(article)
                start = rng.randrange(max(1, len(words) - 2))
                text = " ".join(words[start : start + rng.randint(2, 3)]).lower()
                name = article.outlet.name
                out.append(
                    Query(text, "outlet", article.id, name if rng.random() < 0.5 else name.lower())
                )
            else:
                text = " ".join(rng.sample(self.unknown, rng.randint(2, 4)))
                out.append(Query(text, "unanswerable"))
        prefixes = [self._prefix(rng, articles[rng.randrange(len(articles))]) for _ in range(count)]
        return Workload(out, prefixes)

    def _fragment(self, rng: random.Random, article: Article) -> str:
        words = _title_words(article)
        size = min(len(words), rng.randint(3, 5))
        start = rng.randrange(len(words) - size + 1)
        chosen = [w.lower() for w in words[start : start + size]]
        if rng.random() < 0.5:
            long_ones = [i for i, w in enumerate(chosen) if len(w) >= 5]
            if long_ones:
                i = rng.choice(long_ones)
                chosen[i] = _typo(rng, chosen[i])
        return " ".join(chosen)

    def _question(self, rng: random.Random, article: Article) -> str:
        words = [w.lower() for w in _title_words(article)]
        content = [w for w in words if w not in FUNCTION_WORDS] or words
        a, b, c = rng.sample(content, 3) if len(content) >= 3 else (content * 3)[:3]
        name = rng.choice(content).capitalize()
        return rng.choice(_QUESTION_FORMS).format(a=a, b=b, c=c, n=name)

    def _prefix(self, rng: random.Random, article: Article) -> str:
        roll = rng.random()
        if roll < 0.15:
            return article.outlet.name[: rng.randint(2, 6)].lower()
        if roll < 0.25:
            return article.topics[0][: rng.randint(2, 6)].lower()
        words = article.title.lower().split()
        if roll < 0.6:
            return article.title.lower()[: rng.randint(1, 25)]
        take = min(len(words), rng.randint(1, 3))
        start = rng.randrange(len(words) - take + 1)
        partial = words[min(start + take, len(words) - 1)]
        return " ".join(words[start : start + take]) + " " + partial[: rng.randint(1, 4)]


def _split(rng: random.Random, total: int) -> list[int]:
    """Sentence lengths (8–22 words) adding up to about ``total``."""
    out = []
    while total > 0:
        n = min(total, rng.randint(8, 22))
        out.append(n)
        total -= n
    return out


def _title_words(article: Article) -> list[str]:
    return [w.strip(".,") for w in article.title.split() if w.strip(".,")]


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop one
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]  # replace one
