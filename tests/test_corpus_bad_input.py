"""A folder full of broken files: every good record still loads, every problem is reported
with its path, its line where one is known, and a reason that names what is wrong."""

from __future__ import annotations

import codecs
import json
import time
from pathlib import Path

import pytest

from bot.corpus.formats import parse_bytes
from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.model import Problem

LIMIT = 64 * 1024

BOMB = """---
title: Laughs
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
topics: *i
---
"""


def front(*lines: str, body: str = "") -> bytes:
    return ("---\n" + "\n".join(lines) + "\n---\n" + body).encode()


# name -> file bytes. Files whose name starts with "good" must load without any problem.
FILES: dict[str, bytes] = {
    "good_front_matter.md": front(
        "title: Good front matter",
        "webUrl: https://good.example/front-matter",
        "publishedDateTime: 2021-01-02T03:04:05+01:00",
        "related:",
        "  - title: Good related entry",
        "    webUrl: https://good.example/related",
        body="Body text.\n",
    ),
    "good_list.json": json.dumps(
        [
            {"title": "Good JSON one", "url": "https://good.example/json-1"},
            {"headline": "Good JSON two", "link": "https://good.example/json-2"},
        ]
    ).encode(),
    "good_lines.jsonl": (
        json.dumps({"title": "Good JSONL", "url": "https://good.example/jsonl"}) + "\n"
    ).encode(),
    "good_records.yaml": b"- title: Good YAML\n  url: https://good.example/yaml\n",
    "good_documents.yml": b"title: Good doc one\n---\ntitle: Good doc two\n",
    "good_scrape.txt": b"The Outlet\nShare this article\n\nA plain paragraph of news.\n",
    "good_utf16.md": codecs.BOM_UTF16_LE
    + "---\ntitle: Good UTF-16 café\n---\n".encode("utf-16-le"),
    "good_utf8_bom.json": codecs.BOM_UTF8
    + json.dumps({"title": "Good BOM record", "url": "https://good.example/bom"}).encode(),
    # -- bad ------------------------------------------------------------------------------
    "bad_yaml.md": front('title: "Broken', "excerpt: fine"),
    "unknown_key.md": front("title: Has an unknown key", "colour: blue"),
    "missing_title.md": front("excerpt: No title here", "webUrl: https://bad.example/no-title"),
    "bad_date.md": front("title: Bad date", "publishedDateTime: next tuesday"),
    "wrong_types.md": front(
        "title: Wrong types",
        "topics: 5",
        "quality: high",
        "images: not-a-url",
        "related: nope",
    ),
    "title_is_list.md": front("title: [one, two]"),
    "cp1252.txt": "The Outlet\n\nCafé owners said “no” to the plan.\n".encode("cp1252"),
    "damaged_bom.md": codecs.BOM_UTF8 + b"---\ntitle: Damaged \xff BOM\n---\n",
    "latin1.txt": b"The Outlet\n\nA control byte \x81 that Windows-1252 lacks.\n",
    "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "too_big.md": front("title: Too big", body="x" * (LIMIT + 10)),
    "empty.md": b"",
    "blank.txt": b"  \n\n\t\n",
    "alias_bomb.md": BOMB.encode(),
    "never_closed.md": b"---\ntitle: Never closed\nexcerpt: the closing line is missing\n",
    "ftp_url.md": front("title: FTP link", "webUrl: ftp://files.example/story.txt"),
    "notes.pdf": b"%PDF-1.4 not coverage",
    "syntax.json": (
        b'{\n  "title": "Broken JSON",\n  "url": "https://bad.example/json"\n  "x": 1\n}\n'
    ),
    "mixed.jsonl": (
        json.dumps({"title": "JSONL good one", "url": "https://bad.example/l1"})
        + "\n{not json}\n"
        + json.dumps({"title": "JSONL good three", "url": "https://bad.example/l3"})
        + "\n"
    ).encode(),
    "list_with_bad_record.yaml": (
        b"- title: YAML list first\n"
        b"  url: https://bad.example/y1\n"
        b"- excerpt: the second record has no title\n"
        b"  url: https://bad.example/y2\n"
        b"- title: YAML list third\n"
        b"  url: https://bad.example/y3\n"
    ),
    "scalar.json": b"42\n",
    "deep.yaml": b"[" * 20_000 + b"]" * 20_000,
    "python_tag.yaml": b'title: !!python/object/apply:os.system ["echo owned"]\n',
    "empty_front.md": b"---\n---\nBody without front matter fields.\n",
    "front_is_list.md": front("- one", "- two"),
    "bad_related.md": front(
        "title: Main with bad related",
        "related:",
        "  - just a string",
        "  - excerpt: no title in this entry",
        "  - title: Fine related",
        "    webUrl: https://bad.example/fine-related",
    ),
    "chrome_only.txt": b"The Outlet\nDouble Tap to Zoom\nAdvertisement\nWe Recommend\n  - More\n",
    "broken_utf16.md": codecs.BOM_UTF16_LE + b"\x00\xd8\x00",
    "json_wrong_types.json": json.dumps(
        {"title": "JSON wrong types", "url": 7, "date": [2020], "topics": {"a": 1}}, indent=2
    ).encode(),
}

# (file, severity, line, words the reason must contain)
EXPECTED: list[tuple[str, str, int | None, str]] = [
    ("bad_yaml.md", "error", 2, "malformed YAML"),
    ("unknown_key.md", "warning", 3, "unknown key 'colour'"),
    ("missing_title.md", "error", 1, "missing title"),
    ("bad_date.md", "warning", 3, "unparseable date"),
    ("wrong_types.md", "warning", 3, "topics should be a list"),
    ("wrong_types.md", "warning", 4, "quality should be a number"),
    ("wrong_types.md", "warning", 5, "is not an http(s) URL"),
    ("wrong_types.md", "warning", 6, "'related' should be a list"),
    ("title_is_list.md", "error", 2, "title should be text"),
    ("cp1252.txt", "warning", None, "Windows-1252"),
    ("damaged_bom.md", "warning", None, "UTF-8 byte order mark but invalid UTF-8 at byte 22"),
    ("latin1.txt", "warning", None, "read as Latin-1"),
    ("binary.txt", "error", None, "binary"),
    ("too_big.md", "error", None, "over the 65,536-byte limit"),
    ("empty.md", "error", None, "empty file"),
    ("blank.txt", "error", None, "empty file"),
    ("alias_bomb.md", "error", 7, "alias bomb"),
    ("never_closed.md", "error", 1, "never closed"),
    ("ftp_url.md", "warning", 3, "webUrl is not an http(s) URL"),
    ("notes.pdf", "warning", None, "unsupported file type '.pdf'"),
    ("syntax.json", "error", 4, "malformed JSON"),
    ("mixed.jsonl", "error", 2, "malformed JSON line"),
    ("list_with_bad_record.yaml", "error", 3, "record 2: missing title"),
    ("scalar.json", "error", 1, "JSON holds a number, not records"),
    ("deep.yaml", "error", 1, "nested too deeply"),
    ("python_tag.yaml", "error", 1, "could not determine a constructor"),
    ("empty_front.md", "error", 1, "empty front matter"),
    ("front_is_list.md", "error", 1, "expected a mapping of fields, got a list"),
    ("bad_related.md", "warning", 4, "related[1]: expected a mapping"),
    ("bad_related.md", "warning", 5, "related[2]: missing title"),
    ("chrome_only.txt", "error", None, "no article text"),
    ("broken_utf16.md", "error", None, "UTF-16"),
    ("json_wrong_types.json", "warning", 3, "url is not an http(s) URL"),
    ("json_wrong_types.json", "warning", 4, "unparseable date"),
    ("json_wrong_types.json", "warning", 7, "topics should be a list"),
]

# Titles that must load despite their files' problems, besides every "good" file's.
SURVIVORS = {
    "Has an unknown key",
    "Bad date",
    "Wrong types",
    "FTP link",
    "JSONL good one",
    "JSONL good three",
    "YAML list first",
    "YAML list third",
    "Main with bad related",
    "Fine related",
    "JSON wrong types",
    "Damaged \ufffd BOM",
    "A control byte \x81 that Windows-1252 lacks.",
}
GOOD_TITLES = {
    "Good front matter",
    "Good related entry",
    "Good JSON one",
    "Good JSON two",
    "Good JSONL",
    "Good YAML",
    "Good doc one",
    "Good doc two",
    "A plain paragraph of news.",
    "Good UTF-16 café",
    "Good BOM record",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[CorpusSnapshot, str, float]:
    base = tmp_path_factory.mktemp("bad")
    corpus = base / "corpus"
    corpus.mkdir()
    for name, data in FILES.items():
        (corpus / name).write_bytes(data)
    loader = CorpusLoader([str(corpus)], base / "cache.db", max_bytes=LIMIT)
    start = time.perf_counter()
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    return snapshot, str(corpus), time.perf_counter() - start


def test_at_least_twenty_malformed_files() -> None:
    assert len({name for name, *_ in EXPECTED}) >= 20


def test_every_good_record_loads(loaded: tuple[CorpusSnapshot, str, float]) -> None:
    snapshot, _, _ = loaded
    titles = {a.title for a in snapshot.articles.values()}
    assert titles >= GOOD_TITLES | SURVIVORS


def test_good_files_have_no_problems(loaded: tuple[CorpusSnapshot, str, float]) -> None:
    snapshot, _, _ = loaded
    noisy = {Path(p.path).name for p in snapshot.problems}
    assert not {n for n in noisy if n.startswith("good")}


@pytest.mark.parametrize(("name", "severity", "line", "words"), EXPECTED)
def test_each_bad_file_is_reported_with_path_line_and_reason(
    loaded: tuple[CorpusSnapshot, str, float],
    name: str,
    severity: str,
    line: int | None,
    words: str,
) -> None:
    snapshot, root, _ = loaded
    path = f"{root}/{name}"
    found = [p for p in snapshot.problems if p.path == path and words in p.reason]
    assert found, f"no problem mentioning {words!r} for {name}: {snapshot.problems}"
    assert [(p.severity, p.line) for p in found] == [(severity, line)]
    where = f"{path}:{line}" if line is not None else path
    assert str(found[0]) == f"{where}: {found[0].reason}"


def test_every_problem_belongs_to_an_expected_file(
    loaded: tuple[CorpusSnapshot, str, float],
) -> None:
    snapshot, _, _ = loaded
    expected_files = {name for name, *_ in EXPECTED}
    assert {Path(p.path).name for p in snapshot.problems} <= expected_files


def test_errors_and_warnings_split_by_severity(loaded: tuple[CorpusSnapshot, str, float]) -> None:
    snapshot, _, _ = loaded
    assert all(p.severity == "error" for p in snapshot.errors)
    assert all(p.severity == "warning" for p in snapshot.warnings)
    assert len(snapshot.errors) + len(snapshot.warnings) == len(snapshot.problems)


def test_alias_bomb_and_deep_nesting_are_refused_quickly(
    loaded: tuple[CorpusSnapshot, str, float],
) -> None:
    _, _, seconds = loaded
    assert seconds < 5


def test_cp1252_text_is_decoded_with_a_warning(loaded: tuple[CorpusSnapshot, str, float]) -> None:
    snapshot, _, _ = loaded
    [article] = [a for a in snapshot.articles.values() if "Café owners" in a.text]
    assert "“no”" in article.text


def test_unsafe_yaml_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil.yaml").write_text(
        f'title: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8"
    )
    loader = CorpusLoader([str(corpus)], tmp_path / "db.sqlite")
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    assert not marker.exists()
    assert snapshot.articles == {}
    assert [p.severity for p in snapshot.problems] == ["error"]


def test_missing_root_is_reported(tmp_path: Path) -> None:
    loader = CorpusLoader([str(tmp_path / "nowhere")], tmp_path / "db.sqlite")
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    assert snapshot.errors == [Problem(str(tmp_path / "nowhere"), None, "no such file or folder")]


def test_a_number_that_is_no_plausible_time_is_reported_not_dated_1970() -> None:
    result = parse_bytes(b"---\ntitle: T\npublishedDateTime: 12:30:00\n---\n", "x.md", ".md")
    assert result.articles[0].published is None
    assert [(p.line, "not a plausible time" in p.reason) for p in result.problems] == [(3, True)]
    epoch = parse_bytes(b'{"title": "T", "published": 1597428000}', "y.json", ".json")
    assert epoch.articles[0].published is not None and epoch.problems == []


def test_a_lone_surrogate_in_json_costs_one_character_not_the_corpus(tmp_path: Path) -> None:
    # JSON may spell half a character ("\ud800"); no database or Discord message can hold it.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad.json").write_text(
        '{"title": "Robots \\ud800 walk", "webUrl": "https://example.com/a"}', encoding="utf-8"
    )
    (corpus / "lines.jsonl").write_text(
        '{"title": "Drones \\uDC00 fly", "webUrl": "https://example.com/b"}\n'
        '{"title": "Smiles \\ud83d\\ude00 stay", "webUrl": "https://example.com/c"}\n',
        encoding="utf-8",
    )
    (corpus / "good.json").write_text(
        '{"title": "Ferries sail", "webUrl": "https://example.com/d"}', encoding="utf-8"
    )
    snapshot, _, _ = CorpusLoader([corpus], tmp_path / "c.db").load()
    titles = sorted(a.title for a in snapshot.articles.values())
    assert titles == ["Drones \ufffd fly", "Ferries sail", "Robots \ufffd walk", "Smiles 😀 stay"]
    again, _, _ = CorpusLoader([corpus], tmp_path / "c.db").load()  # saved, and read back
    assert sorted(a.title for a in again.articles.values()) == titles
