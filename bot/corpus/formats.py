"""One file in, its articles and problems out, whatever its format.

This is the unit the cache stores and the watcher re-runs, so it must never raise for bad input:
every failure becomes a ``Problem`` with the file's path and, where known, its line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from bot.corpus import safe_read, yamlsafe
from bot.corpus.decoding import NotText, decode
from bot.corpus.model import Article, Problem, Severity
from bot.corpus.records import Locate, Where, describe, parse_record
from bot.corpus.scrape import parse_scrape

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# No "" here: an extensionless file (README, LICENSE, a device node) is not a corpus file.
TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text"})
JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES | YAML_SUFFIXES


@dataclass(slots=True)
class FileResult:
    """What one file yielded: the cache's unit and the watcher's unit of change."""

    path: str
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_bytes(data: bytes, path: str, suffix: str) -> FileResult:
    """Parse a file's bytes; ``path`` is only used in articles' provenance and problems."""
    result = FileResult(path)
    problems = result.problems
    if not data.strip():
        problems.append(Problem(path, None, "empty file"))
        return result
    try:
        decoded = decode(data)
    except NotText as exc:
        problems.append(Problem(path, None, str(exc)))
        return result
    if decoded.warning:
        problems.append(Problem(path, None, decoded.warning, "warning"))
    text = decoded.text
    if suffix in JSON_SUFFIXES:
        result.articles = _parse_json(text, path, problems)
    elif suffix in JSONL_SUFFIXES:
        result.articles = _parse_jsonl(text, path, problems)
    elif suffix in YAML_SUFFIXES:
        result.articles = _parse_yaml(text, path, problems)
    else:
        result.articles = _parse_text(text, path, problems)
    problems.sort(key=lambda p: p.line or 0)  # reports read top to bottom
    return result


def parse_file(
    path: Path, display: str, max_bytes: int = DEFAULT_MAX_BYTES, roots: Sequence[str] = ()
) -> FileResult:
    """Read and parse one file from disk, treating the folder it is in as untrusted.

    ``roots`` are the corpus roots resolved (``safe_read.real_roots``): a symlink is followed
    only to a target under one of them. A file of an unsupported type (one without an
    extension too) is never opened; a FIFO, device or socket is never opened either; a file
    over ``max_bytes`` is refused before reading when its size says so, and during the read
    when it does not. Each of those becomes a problem, never an exception.
    """
    suffix = path.suffix.lower()

    def refused(reason: str, severity: Severity = "error") -> FileResult:
        return FileResult(display, problems=[Problem(display, None, reason, severity)])

    try:
        target = safe_read.resolve(str(path), roots)
        if suffix not in SUPPORTED_SUFFIXES:
            kind = f"'{suffix}'" if suffix else "(no extension)"
            return refused(f"unsupported file type {kind}; skipped", "warning")
        data = safe_read.read_regular(target, max_bytes, roots or None)
    except safe_read.Refused as exc:
        return refused(exc.reason, exc.severity)
    except OSError as exc:
        return refused(f"unreadable: {exc.strerror}")
    return parse_bytes(data, display, suffix)


def _parse_text(text: str, path: str, problems: list[Problem]) -> list[Article]:
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---") or stripped[3 : stripped.find("\n")].strip():
        return parse_scrape(stripped, path, problems)
    split = split_front_matter(stripped)
    if split is None:
        problems.append(Problem(path, 1, "front matter opened with '---' is never closed"))
        return []
    front, body = split
    if not front.strip():
        problems.append(Problem(path, 1, "empty front matter; no title"))
        return []
    try:
        data, node = yamlsafe.load(front, offset=1)  # the front matter starts on line 2
    except yamlsafe.YAMLProblem as exc:
        problems.append(Problem(path, exc.line or 1, exc.reason))
        return []

    def locate(where: Where) -> int | None:
        return yamlsafe.line_of(node, where, offset=1)

    return parse_record(data, path, 1, problems, body, locate=locate, entry_lines=True)


def split_front_matter(text: str) -> tuple[str, str] | None:
    """Split ``---`` front matter from the body after it; None when it is never closed.

    String searches rather than one regex: a lazy ``.*?`` over a 6 KB record cost more than
    the rest of the record's fields together.
    """
    opener_end = text.find("\n")
    if opener_end < 0:
        return None
    pos = opener_end
    while True:
        found = [i for i in (text.find("\n---", pos), text.find("\n...", pos)) if i >= 0]
        if not found:
            return None
        start = min(found)
        line_end = text.find("\n", start + 4)
        line_end = len(text) if line_end < 0 else line_end
        if not text[start + 4 : line_end].strip(" \t\r"):
            return text[opener_end + 1 : start], text[line_end + 1 :]
        pos = start + 4


def _parse_records(
    records: object,
    path: str,
    problems: list[Problem],
    what: str,
    record_locator: Callable[[int | None], tuple[int | None, Locate | None]],
    entry_lines: bool,
) -> list[Article]:
    """One mapping, or a list of them; ``record_locator(i)`` gives record i's line and locator."""
    if isinstance(records, dict):
        line, locate = record_locator(None)
        return parse_record(records, path, line, problems, locate=locate, entry_lines=entry_lines)
    if isinstance(records, list):
        out: list[Article] = []
        for index, record in enumerate(records):
            before = len(problems)
            line, locate = record_locator(index)
            out.extend(
                parse_record(record, path, line, problems, locate=locate, entry_lines=entry_lines)
            )
            for i in range(before, len(problems)):
                p = problems[i]
                problems[i] = Problem(p.path, p.line, f"record {index + 1}: {p.reason}", p.severity)
        return out
    line, _ = record_locator(None)
    problems.append(Problem(path, line, f"{what} holds {describe(records)}, not records"))
    return []


# JSON may spell a lone surrogate ("\ud800"), which is no character: text holding one cannot be
# written as UTF-8, to the database or to Discord. Such escapes are rare; only text with one is
# walked (``_whole_characters``). YAML refuses them itself.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole_characters(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_whole_characters(k): _whole_characters(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_characters(v) for v in value]
    return value


def _json(text: str) -> Any:
    """``json.loads``, with every lone surrogate made U+FFFD (raises as it does)."""
    data = json.loads(text)
    return _whole_characters(data) if _SURROGATE_ESCAPE.search(text) else data


def _parse_json(text: str, path: str, problems: list[Problem]) -> list[Article]:
    try:
        data = _json(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(path, exc.lineno, f"malformed JSON: {exc.msg}"))
        return []
    except RecursionError:
        problems.append(Problem(path, None, "malformed JSON: nested too deeply"))
        return []
    nodes: list[Node | None] = []

    def tree() -> Node | None:
        # JSON is (nearly) YAML, and the composer records every node's line; only a file with
        # a problem to place pays for composing it.
        if not nodes:
            try:
                nodes.append(yamlsafe.load(text)[1])
            except yamlsafe.YAMLProblem:
                nodes.append(None)
        return nodes[0]

    def record_locator(index: int | None) -> tuple[int | None, Locate]:
        prefix: Where = () if index is None else (index,)
        return (1 if index is None else None), lambda where: yamlsafe.line_of(
            tree(), (*prefix, *where)
        )

    return _parse_records(data, path, problems, "JSON", record_locator, entry_lines=False)


def _parse_jsonl(text: str, path: str, problems: list[Problem]) -> list[Article]:
    out: list[Article] = []
    # JSON Lines ends records at "\n" only: splitlines() would also cut a valid record at a
    # U+2028, U+0085 or \x1c inside one of its strings (json.dumps leaves those unescaped).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = _json(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            problems.append(Problem(path, number, f"malformed JSON line: {reason}"))
            continue
        out.extend(parse_record(record, path, number, problems))
    if not out and not problems:
        problems.append(Problem(path, None, "JSON Lines file holds no records"))
    return out


def _parse_yaml(text: str, path: str, problems: list[Problem]) -> list[Article]:
    try:
        docs, nodes = yamlsafe.load_all(text)
    except yamlsafe.YAMLProblem as exc:
        problems.append(Problem(path, exc.line, exc.reason))
        return []
    if not docs:
        problems.append(Problem(path, None, "YAML file holds no records"))
        return []
    if len(docs) == 1:
        records, root = docs[0], nodes[0]

        def record_locator(index: int | None) -> tuple[int | None, Locate]:
            prefix: Where = () if index is None else (index,)
            return yamlsafe.line_of(root, prefix), lambda where: yamlsafe.line_of(
                root, (*prefix, *where)
            )

    else:  # several documents: each one is a record

        def record_locator(index: int | None) -> tuple[int | None, Locate]:
            node = nodes[index or 0]
            return yamlsafe.line_of(node, ()), lambda where: yamlsafe.line_of(node, where)

        records = docs
    return _parse_records(records, path, problems, "YAML", record_locator, entry_lines=True)
