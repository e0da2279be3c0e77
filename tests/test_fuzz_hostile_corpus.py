"""10,000 hostile corpus records through load -> index -> every command -> render.

The corpus is untrusted: random Unicode, long punctuation runs, Markdown, mentions, bidi
controls and URLs carrying every punctuation mark must cost at most one answer, never the bot.
Each answer is built exactly as Discord, DMs, the console and the CLI build it (``reply_for``,
``message_embeds``, ``to_json``, ``to_text``), and must stay inside Discord's limits.

The generator is seeded, so a failure names a reproducible record.
"""

from __future__ import annotations

import json
import random
import string
import time
from pathlib import Path

import yaml

from bot.answers import COMMANDS, reply_for, run_command, to_json, to_text
from bot.corpus.loader import CorpusLoader
from bot.discord_embeds import message_embeds
from bot.engine.engine import Engine
from bot.render import Card

RECORDS = 10_000
QUERIES_PER_COMMAND = 60
ANSWER_BUDGET_S = 1.0
SEED = 20261206
# Bidi overrides and isolates must never reach a rendered answer. (A zero-width space may: the
# renderer puts one after "@" in "@everyone" so it cannot be read as a mention.)
INVISIBLE = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)}

PUNCTUATION = string.punctuation
MARKDOWN = (
    "**",
    "__",
    "~~",
    "||",
    "`",
    "```",
    "> ",
    "# ",
    "- ",
    "\\",
    "[**Verified**](https://evil.example/phish)",
    "<@&123456789012345678>",
    "<@123456789012345678>",
    "<#123456789012345678>",
    "@everyone",
    "@here",
    "<t:0:R>",
    "<https://evil.example/x>",
    "](javascript:alert(1))",
)
ODD_CHARS = (
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u0007",
    "\u0085",
    "\u2028",
    "\u0301",
    "🇺🇸",
    "👩‍👩‍👧",
    "𝕏",
    "ﷺ",
    "Ꙁ",
)


def _random_char(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.5:
        return rng.choice(string.ascii_letters + " ")
    if pick < 0.7:
        return rng.choice(PUNCTUATION)
    if pick < 0.8:
        return rng.choice(ODD_CHARS)
    code = rng.randrange(0x20, 0x2FFFF)
    return " " if 0xD800 <= code <= 0xDFFF else chr(code)


def hostile_text(rng: random.Random, size: int) -> str:
    """Random pieces: words, Unicode, Markdown, and long runs of one or two characters."""
    parts: list[str] = []
    length = 0
    while length < size:
        kind = rng.random()
        if kind < 0.35:
            part = " ".join(rng.choice(("clearview", "ice", "police", "ban", "ai")) for _ in "abc")
        elif kind < 0.55:
            part = "".join(_random_char(rng) for _ in range(rng.randrange(1, 40)))
        elif kind < 0.7:
            part = rng.choice(MARKDOWN)
        elif kind < 0.85:
            unit = rng.choice((*PUNCTUATION, " -", ". ", "!?", ", ", " ", "\n", "\t"))
            part = unit * rng.randrange(10, 3_000)
        else:
            part = rng.choice(string.ascii_lowercase) * rng.randrange(50, 2_000)  # one long word
        parts.append(part)
        length += len(part)
    return " ".join(parts)[:size]


def hostile_url(rng: random.Random) -> str:
    """Mostly http(s) URLs with every punctuation mark in path, query and fragment."""
    if rng.random() < 0.1:
        return rng.choice(("javascript:alert(1)", "ftp://x/y", "data:text/html,<b>", "//x", ""))
    host = rng.choice(("example.com", "www.example.com", "amp.example.com", "xn--n3h.example"))
    path = "".join(rng.choice(PUNCTUATION + string.ascii_letters + " é") for _ in range(30))
    query = "utm_source=x&" + "".join(rng.choice(PUNCTUATION + "a") for _ in range(10))
    return f"https://{host}/{path}?{query}#{rng.choice(PUNCTUATION)}"


def hostile_record(rng: random.Random, n: int) -> dict[str, object]:
    """One record with the fields the reader knows, each hostile or malformed by chance."""
    record: dict[str, object] = {
        "title": hostile_text(rng, rng.choice((5, 40, 300, 3_000))),
        "excerpt": hostile_text(rng, rng.choice((0, 200, 2_000, 8_000))),
        "webUrl": hostile_url(rng),
        "publishedDateTime": rng.choice(
            ("2020-08-14T12:00:00Z", "not a date", "9999-99-99", "", f"2020-0{1 + n % 9}-01")
        ),
        "provider": {"name": hostile_text(rng, rng.choice((1, 12, 150))), "domain": "x.example"},
        "topics": [hostile_text(rng, 15) for _ in range(rng.randrange(0, 4))],
    }
    if rng.random() < 0.3:
        record["body"] = hostile_text(rng, rng.choice((500, 5_000, 30_000)))
    if rng.random() < 0.3:
        record["related"] = [
            {"title": hostile_text(rng, 60), "webUrl": hostile_url(rng)}
            for _ in range(rng.randrange(1, 4))
        ]
    if rng.random() < 0.05:
        record["ampWebUrl"] = hostile_url(rng)
    if rng.random() < 0.01:  # a NUL makes a Markdown or text file binary: a few, not most
        record["title"] = f"{record['title']}\u0000"
    return record


def write_corpus(folder: Path, rng: random.Random) -> list[dict[str, object]]:
    """The records as front-matter Markdown, page scrapes and JSON Lines, as a folder holds them."""
    folder.mkdir()
    records = [hostile_record(rng, n) for n in range(RECORDS)]
    lines: list[str] = []
    for n, record in enumerate(records):
        form = n % 10
        if form == 0:
            body = str(record.pop("body", ""))
            front = yaml.safe_dump(record, allow_unicode=True, sort_keys=False)
            (folder / f"r{n}.md").write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")
        elif form == 1:
            scrape = f"{record['provider']['name']}\n{record['title']}\n\n{record['excerpt']}\n"  # type: ignore[index]
            (folder / f"r{n}.txt").write_text(scrape, encoding="utf-8")
        else:
            lines.append(json.dumps(record, ensure_ascii=rng.random() < 0.5))
    for start in range(0, len(lines), 100):  # ~800 KB a file, under max_file_bytes
        chunk = "\n".join(lines[start : start + 100]) + "\n"
        (folder / f"batch{start}.jsonl").write_text(chunk, encoding="utf-8")
    return records


def rendered_text(cards: list[Card]) -> str:
    parts: list[str] = []
    for card in cards:
        parts += [card.title or "", card.description or "", card.author or "", card.footer or ""]
        parts += [f"{f.name}\n{f.value}" for f in card.fields]
    return "\n".join(parts)


def test_hostile_records_cost_no_exception_and_no_answer_over_its_budget(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    records = write_corpus(tmp_path / "corpus", rng)
    snapshot, _, _ = CorpusLoader([tmp_path / "corpus"], tmp_path / "c.db").load()
    assert len(snapshot.articles) >= RECORDS // 2  # most records are readable articles
    engine = Engine(snapshot)

    queries = [str(r["title"])[: rng.choice((20, 100, 2_000))] for r in rng.sample(records, 40)]
    queries += [hostile_text(rng, rng.choice((3, 30, 100, 2_000))) for _ in range(20)]
    slowest = (0.0, "", "")
    for command in (*COMMANDS, "latest"):
        for query in queries[:QUERIES_PER_COMMAND]:
            start = time.perf_counter()
            reply = reply_for(engine, command, query)
            for cards in (reply.cards, *([page] for page in reply.pages)):
                message_embeds(cards)  # raises when any Discord limit is broken
                assert not INVISIBLE & set(rendered_text(cards)), (command, query[:80])
            if command != "latest":
                answer = run_command(engine, command, query)
                json.dumps(to_json(command, query, answer))
                to_text(command, answer)
            elapsed = time.perf_counter() - start
            slowest = max(slowest, (elapsed, command, query[:80]))
    assert slowest[0] <= ANSWER_BUDGET_S, f"slowest answer: {slowest}"


def test_a_json_lines_record_with_unicode_line_separators_in_its_strings_is_one_record(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    record = {"title": "Clearview\u2028contract\x85signed\x1cwith ICE", "url": "https://e.com/a"}
    (folder / "one.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", "utf-8")
    snapshot, _, _ = CorpusLoader([folder], tmp_path / "c.db").load()
    assert not snapshot.errors
    assert len(snapshot.articles) == 1
