"""Stories kept beside the database, so a restart neither waits for them nor groups again.

Grouping a large corpus takes minutes (24 s at 100,000 articles, 227 s at a million), and until
it is done every /coverage, /source and /related answer is a story of one ("still grouping").
The groups themselves are small (the members of each story of two or more; everything else is
a story of one), so the bot writes them when a grouping finishes and when it stops, with the
corpus generation they belong to (``bot.corpus.generation``). A start whose corpus is of that
generation answers from them while the full grouping (which the incremental updates need) is
rebuilt beside the answers; a one-shot command answers from them and never groups. Groups of
another generation, of another format or unreadable are not used: stories are grouped as
before, never taken from other files.

The whole grouping (each article's words, keys and links: what updates need) is kept too, in a
second file (``KeptStories.state``), as ``StoryIndex.export_state`` records behind a header
naming the generation, their length and CRC-32. A start of that generation loads it instead of
grouping again (at 100,000 articles: 1.7 s against 11.8, the bot's event loop held at most
0.2 s at a time); one whose files changed while the bot was down loads the grouping of the
generation the loader started from and applies the change, as an update would; anything else
is grouped afresh.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bot import store
from bot.corpus.articles import articles_of
from bot.corpus.model import Article
from bot.engine.results import Story
from bot.engine.stories import StoryIndex, story_from
from bot.store import write_private

log = logging.getLogger(__name__)
FORMAT = 1
_HEADER_BYTES = 4_096


@dataclass(frozen=True, slots=True)
class KeptStories:
    """Where a database's stories are kept.

    The groups, the whole grouping, and the articles changed since while it rested
    (``save_pending``).
    """

    groups: Path
    state: Path
    pending: Path

    @classmethod
    def of(cls, database: str | Path) -> KeptStories | None:
        """Beside ``database``; None for an in-memory database."""
        if str(database) == ":memory:":
            return None
        return cls(*(Path(f"{database}{suffix}") for suffix in store.STORIES_FILES))


def save_pending(path: Path, generation: str, upto: str, touched: Iterable[str]) -> None:
    """Record that the grouping kept for ``generation`` misses ``touched``, up to ``upto``.

    ``touched``: the articles changed since, up to the corpus of generation ``upto``. A bot
    stopped while its grouping rested on disk (or was loading) has no grouping of the corpus it
    stops with to keep; the next start catches the kept one up with these and with what
    changed after ``upto`` instead of grouping afresh.
    """
    _write_record(path, {"generation": generation, "upto": upto, "touched": sorted(touched)})


def load_pending(path: Path, upto: str) -> tuple[str, set[str]] | None:
    """The (generation, touched articles) ``save_pending`` recorded up to ``upto``, or None."""
    record = _record(path)
    if record is None:
        return None
    generation, touched = record.get("generation"), record.get("touched")
    if record.get("upto") != upto or not isinstance(generation, str) or not generation:
        return None
    if not isinstance(touched, list) or not all(isinstance(i, str) for i in touched):
        return None
    return generation, set(touched)


def save_state(path: Path, generation: str, records: list[bytes]) -> None:
    """Replace the kept grouping with ``records`` (``StoryIndex.export_state``)."""
    parts = list(framed(records))
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    header = {
        "format": FORMAT,
        "generation": generation,
        "bytes": sum(map(len, parts)),
        "crc32": crc,
    }
    write_private(path, [json.dumps(header).encode() + b"\n", *parts])


def load_state(path: Path, generation: str, articles: Mapping[str, Article]) -> StoryIndex | None:
    """The grouping kept for ``generation`` over ``articles``, or None (see the module).

    ``articles`` may be of a later generation: the caller then applies that change as an
    update (``StoryIndex.from_state``).
    """
    try:
        with path.open("rb") as handle:
            header = _sound_header(handle, path)
            if header is None or not generation or header["generation"] != generation:
                return None
            size = header["bytes"]
            data = handle.read(size + 1)  # reading and checking let other threads run
    except (OSError, ValueError):
        return None
    if len(data) != size or zlib.crc32(data) != header.get("crc32"):
        log.warning("the kept story grouping in %s is damaged; grouping again", path)
        return None
    try:
        return StoryIndex.from_state(records_of(data), articles)
    except ValueError as exc:
        log.warning("the kept story grouping in %s is unusable (%s); grouping again", path, exc)
        return None


def state_generation(path: Path) -> str | None:
    """The generation of the grouping kept at ``path``, when its header and length are sound.

    Reads the header only: the bot checks this at start to leave the grouping on disk (the
    checksum is checked when a change makes it load the grouping).
    """
    try:
        with path.open("rb") as handle:
            header = _sound_header(handle, path)
    except (OSError, ValueError):
        return None
    return None if header is None else header["generation"]


def _sound_header(handle: BinaryIO, path: Path) -> dict[str, Any] | None:
    """A kept state's header, read from ``handle``, when its format is ours and its length fits."""
    header = json.loads(handle.readline(_HEADER_BYTES))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    generation, size = header.get("generation"), header.get("bytes")
    # What the file holds past the header, whatever the header claims.
    rest = os.fstat(handle.fileno()).st_size - handle.tell()
    if not isinstance(size, int) or not 0 <= size <= rest:
        log.warning("the kept story grouping in %s is damaged; grouping again", path)
        return None
    return header if isinstance(generation, str) and generation else None


def save_groups(path: Path, generation: str, groups: Iterable[list[str]]) -> None:
    """Replace the kept groups with ``groups`` (stories of two or more) of ``generation``."""
    kept = sorted(sorted(g) for g in groups if len(g) > 1)
    _write_record(path, {"generation": generation, "groups": kept})


def load_groups(path: Path, *generations: str | None) -> tuple[str, list[list[str]]] | None:
    """The groups kept, when of one of ``generations``, with it; else None.

    None also for none kept, another format, or an unreadable file. The file is read once
    whichever generation it turns out to be of (the current one, or the one before a catch-up).
    """
    record = _record(path)
    if record is None:
        return None
    generation = record.get("generation")
    if not generation or generation not in generations:
        return None
    groups = record.get("groups")
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(i, str) for i in g) for g in groups
    ):
        return None
    return generation, groups


def _write_record(path: Path, fields: dict[str, Any]) -> None:
    """Replace the JSON record at ``path`` (``_record`` reads it back)."""
    record = {"format": FORMAT, **fields}
    write_private(path, json.dumps(record, separators=(",", ":")) + "\n")


def _record(path: Path) -> dict[str, Any] | None:
    """A kept JSON record of our format; None when missing, unreadable or of another."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    return record


class SavedStories:
    """Stories from kept groups, leaving out the articles changed since they were kept."""

    def __init__(self, groups: list[list[str]], changed: AbstractSet[str] = frozenset()) -> None:
        self._group: dict[str, list[str]] = {i: g for g in groups for i in g}
        self._changed = set(changed)  # their story is not known: not trusted

    @property
    def exact(self) -> bool:
        """Whether they are every article's story: no article changed since they were kept."""
        return not self._changed

    def forget(self, changed: AbstractSet[str]) -> None:
        """Leave ``changed`` out from now on (a corpus change touched them)."""
        self._changed |= changed

    def story_of(self, article_id: str, articles: Mapping[str, Article]) -> Story:
        """The story ``article_id`` was in, of the ``articles`` now.

        ``KeyError`` when it is gone, or changed since the groups were kept; its other
        members changed since are left out.
        """
        changed = self._changed
        if article_id in changed:
            raise KeyError(article_id)
        members = self._group.get(article_id, [article_id])
        held = articles_of(articles, [article_id, *(m for m in members if m not in changed)])
        if article_id not in held:
            raise KeyError(article_id)
        return story_from([held[m] for m in members if m in held])


def records_of(data: bytes | memoryview) -> Iterator[memoryview]:
    """The length-prefixed records of a kept state's bytes (``framed`` wrote them)."""
    view, at = memoryview(data), 0
    while at < len(view):
        size = int.from_bytes(view[at : at + 8], "big")
        if size <= 0 or at + 8 + size > len(view):
            raise ValueError("a record runs past the end")
        yield view[at + 8 : at + 8 + size]
        at += 8 + size


def framed(records: Iterable[bytes]) -> Iterator[bytes]:
    """``records`` each behind its 8-byte length, as ``records_of`` reads them."""
    for record in records:
        yield len(record).to_bytes(8, "big")
        yield record
