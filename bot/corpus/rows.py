"""Articles and problems as plain ``marshal`` rows, and the checksum framing around them.

Both the per-file parse cache and the saved corpus (``bot.corpus.cache``,
``bot.corpus.articles``) store articles this way: ``marshal`` is the fastest stdlib codec for
plain data, and a warm restart has no time for JSON or pickled objects.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.corpus.model import Article, Image, Outlet, Problem, Provenance

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
_CRC = struct.Struct(">I")
SEAL_BYTES = _CRC.size  # the CRC-32 ``sealed`` puts before a body
IN_BATCH = 500  # keys per "IN (...)" query, under SQLite's default variable limit
# What decoding a damaged marshal row raises: the row is then read as missing.
DAMAGE = (ValueError, TypeError, EOFError, IndexError)
_new = tuple.__new__


def in_batches(keys: Sequence[str]) -> Iterator[tuple[Sequence[str], str]]:
    """``keys`` a batch at a time, with the ``?,?,…`` that batch's ``IN (…)`` needs."""
    for start in range(0, len(keys), IN_BATCH):
        batch = keys[start : start + IN_BATCH]
        yield batch, ",".join("?" * len(batch))


def micros(when: datetime | None) -> int | None:
    """A time as whole microseconds since the epoch, as rows store it."""
    return None if when is None else (when - EPOCH) // MICRO


def from_micros(us: int | None) -> datetime | None:
    """The inverse of ``micros``."""
    return None if us is None else EPOCH + us * MICRO


def problem_row(p: Problem) -> tuple[Any, ...]:
    """``p`` as a row; ``Problem(*row)`` reads it back."""
    return (p.path, p.line, p.reason, p.severity)


def article_row(a: Article, outlets: dict[Outlet, int]) -> tuple[Any, ...]:
    """``a`` as a row; its outlet as an index into ``outlets`` (added there when new)."""
    outlet = outlets.setdefault(a.outlet, len(outlets))
    return (
        a.id,
        a.title,
        a.url,
        a.urls,
        outlet,
        micros(a.published),
        a.excerpt,
        a.body,
        a.topics,
        tuple(map(tuple, a.images)),
        a.related,
        tuple(map(tuple, a.provenance)),
        a.alt_titles,
        a.quality,
        a.heat,
        a.type,
        a.category,
    )


def article_from_row(row: tuple[Any, ...], outlets: list[Outlet]) -> Article:
    """The inverse of ``article_row``, ``outlets`` being that table in index order."""
    # The hot loop of reading a cache (once per article): named tuples built straight from
    # lists, skipping the generated ``__new__``'s argument handling.
    fields = list(row)
    fields[4] = outlets[fields[4]]
    if fields[5] is not None:
        fields[5] = EPOCH + fields[5] * MICRO
    if fields[9]:
        fields[9] = tuple([_new(Image, i) for i in fields[9]])
    fields[11] = tuple([_new(Provenance, p) for p in fields[11]])
    return _new(Article, fields)  # type: ignore[no-any-return]


def sealed(body: bytes) -> bytes:
    """``body`` behind its CRC-32, so a damaged copy is told from a good one when read."""
    return _CRC.pack(zlib.crc32(body)) + body


def unsealed(data: bytes, what: str) -> memoryview:
    """The body ``sealed`` framed; ``ValueError`` naming ``what`` when it does not check out."""
    body = memoryview(data)[_CRC.size :]
    if len(data) < _CRC.size or _CRC.unpack_from(data)[0] != zlib.crc32(body):
        raise ValueError(f"{what}: checksum mismatch")
    return body
