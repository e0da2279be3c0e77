"""Deterministic synthetic coverage shaped like the Smartable front-matter records.

Each document has the real records' fields (provider with images, topics, images, a ``related:``
list and the opaque ``secured`` blob) and about their size (~5 KB, ~3.5 related entries). Most
related entries point at another document, or at an article another document also lists,
through the variants real feeds use (AMP paths, ``?amp``, Google AMP cache addresses, tracking
parameters), so ingesting them exercises URL canonicalisation and merging as the real corpus does.
"""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUTLETS = [
    ("Business Insider", "businessinsider.com"),
    ("CNET", "cnet.com"),
    ("The Verge", "theverge.com"),
    ("KTVZ", "ktvz.com"),
    ("VentureBeat", "venturebeat.com"),
    ("Engadget", "engadget.com"),
    ("MarketWatch", "marketwatch.com"),
    ("Forbes", "forbes.com"),
    ("ZDNet", "zdnet.com"),
    ("TechCrunch", "techcrunch.com"),
    ("Reuters", "reuters.com"),
    ("BBC", "bbc.co.uk"),
    ("Wired", "wired.com"),
    ("The Daily Dot", "dailydot.com"),
    ("Gizmodo Australia", "gizmodo.com.au"),
    ("SC Media", "scmagazine.com"),
]
WORDS = (
    "facial recognition privacy police contract startup lawsuit data surveillance model "
    "vision speech robot autonomous vehicle chip cloud market report growth ban city council "
    "algorithm bias camera biometric court ruling investors funding launch platform research "
    "health radiotherapy clinicians network security breach regulators europe china deal"
).split()
TOPICS = ["AI", "Computer Vision", "Facebook AI", "Machine Learning", "Robotics", "Privacy"]
START = datetime(2020, 4, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Story:
    """One synthetic article: enough to write it as a document or as a related entry."""

    title: str
    excerpt: str
    published: datetime
    outlet: tuple[str, str]
    path: str
    image: str
    quality: int


def _story(rng: random.Random, key: str) -> Story:
    words = rng.choices(WORDS, k=rng.randint(7, 14))
    title = " ".join(words).capitalize()
    excerpt = " ".join(rng.choices(WORDS, k=rng.randint(28, 40))).capitalize() + "."
    published = START + timedelta(minutes=rng.randint(0, 60 * 24 * 330))
    outlet = rng.choice(OUTLETS)
    slug = "-".join(words[:8]) + f"-{key}"
    path = f"/{published:%Y/%m/%d}/{slug}/"
    image = f"https://img.{outlet[1]}/uploads/{published:%Y/%m}/{slug}.jpg?w=1200&fit=crop"
    return Story(title, excerpt, published, outlet, path, image, rng.randint(1, 100))


def _variants(story: Story) -> tuple[str, str, str]:
    domain = story.outlet[1]
    host = f"www.{domain}"
    web = f"https://{host}{story.path}"
    amp = f"https://{host}/amp{story.path}" if len(story.path) % 2 else f"{web}?amp"
    cdn = f"https://{host.replace('.', '-')}.cdn.ampproject.org/c/s/{amp.removeprefix('https://')}"
    return web, amp, cdn


def _reference(rng: random.Random, story: Story) -> str:
    """How another record happens to link to ``story``: any variant, sometimes with tracking."""
    web, amp, cdn = _variants(story)
    url = rng.choice((web, web, amp, cdn))
    if rng.random() < 0.3:
        url += (
            "&" if "?" in url else "?"
        ) + f"utm_source=feed&utm_medium=rss&ref=r{rng.randint(1, 9)}"
    return url


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _related_entry(rng: random.Random, story: Story) -> str:
    web = _reference(rng, story)
    _, amp, cdn = _variants(story)
    name, domain = story.outlet
    return (
        f"  - title: {_q(story.title)}\n"
        f"    excerpt: {_q(story.excerpt)}\n"
        f"    publishedDateTime: {story.published:%Y-%m-%dT%H:%M:%SZ}\n"
        f"    webUrl: {_q(web)}\n"
        f"    ampWebUrl: {_q(amp)}\n"
        f"    cdnAmpWebUrl: {_q(cdn)}\n"
        f"    type: article\n"
        f"    provider:\n      name: {_q(name)}\n      domain: {domain}\n"
        f"    quality: {story.quality}\n"
        f"    images:\n      - url: {_q(story.image)}\n        width: 1200\n        height: 800\n"
        f"        isCached: true\n"
    )


def document(rng: random.Random, story: Story, related: list[Story]) -> str:
    """One front-matter document in the Smartable shape."""
    web, amp, cdn = _variants(story)
    name, domain = story.outlet
    secured = base64.b64encode(rng.randbytes(rng.randint(500, 900))).decode()
    topics = "".join(f"  - {t}\n" for t in rng.sample(TOPICS, rng.randint(1, 3)))
    entries = "".join(_related_entry(rng, r) for r in related)
    return (
        "---\n"
        "category: news\n"
        f"title: {_q(story.title)}\n"
        f"excerpt: {_q(story.excerpt)}\n"
        f"publishedDateTime: {story.published:%Y-%m-%dT%H:%M:%SZ}\n"
        f"webUrl: {_q(web)}\n"
        f"ampWebUrl: {_q(amp)}\n"
        f"cdnAmpWebUrl: {_q(cdn)}\n"
        "type: article\n"
        f"quality: {story.quality}\n"
        "heat: -1\n"
        "published: false\n\n"
        f"provider:\n  name: {_q(name)}\n  domain: {domain}\n  images:\n"
        f'    - url: "https://example.org/assets/organizations/{domain}-50x50.jpg"\n'
        "      width: 50\n      height: 50\n\n"
        f"topics:\n{topics}\n"
        f"images:\n  - url: {_q(story.image)}\n    width: 1200\n    height: 600\n"
        "    isCached: true\n\n"
        + (f"related:\n{entries}\n" if entries else "")
        + f"secured: {_q(secured)}\n"
        "---\n"
    )


def write_corpus(folder: Path, docs: int, seed: int = 20200814) -> int:
    """Write ``docs`` documents under ``folder`` (1,000 a sub-folder); returns total bytes.

    About 60% of related entries are other documents, 25% come from a shared pool of articles
    no document describes (so related-only articles merge too), the rest appear once.
    """
    rng = random.Random(seed)
    stories = [_story(rng, f"d{i}") for i in range(docs)]
    pool = [_story(rng, f"p{i}") for i in range(max(docs // 4, 1))]
    total = 0
    for i, story in enumerate(stories):
        related: list[Story] = []
        for j in range(rng.choice((1, 2, 3, 3, 4, 4, 5, 6))):
            roll = rng.random()
            if roll < 0.6 and docs > 1:
                other = rng.randrange(docs)
                related.append(stories[other if other != i else (i + 1) % docs])
            elif roll < 0.85:
                related.append(rng.choice(pool))
            else:
                related.append(_story(rng, f"u{i}-{j}"))
        text = document(rng, story, related)
        sub = folder / f"{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        name = f"{story.published:%Y-%m-%d}-{story.path.strip('/').rsplit('/', 1)[-1]}.md"
        data = text.encode()
        (sub / name).write_bytes(data)
        total += len(data)
    return total


def ensure_corpus(folder: Path, docs: int) -> bool:
    """Write ``docs`` documents to ``folder`` unless it holds files already; True if written.

    Written by a child process: a benchmark that measures its children's peak memory with
    ``wait4`` would otherwise see its own (Linux carries ``ru_maxrss`` over through fork and
    exec), and the documents' text is a large part of it.
    """
    if folder.exists() and any(folder.iterdir()):
        return False
    code = "import sys; from pathlib import Path; from synthetic_docs import write_corpus; "
    code += "print(write_corpus(Path(sys.argv[1]), int(sys.argv[2])))"
    here = str(Path(__file__).resolve().parent)
    written = int(
        subprocess.check_output([sys.executable, "-c", code, str(folder), str(docs)], cwd=here)
    )
    print(f"wrote {docs} documents ({written / 1e6:.0f} MB) to {folder}")
    return True
