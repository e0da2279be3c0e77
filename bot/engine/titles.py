"""Every title, sorted, for autocomplete's "titles that begin with what is typed".

A list of ``(casefolded title, id)`` tuples held 873 MB at a million documents (1.77 million
articles): a tuple, two strings and a list slot per title, ~500 bytes each. Here the whole table
is one ``bytes`` of UTF-8 records and one array of where each starts: ~120 bytes a title. UTF-8
sorts as the code points it encodes, so the bytes order is the strings' order, and a record
``key NUL id`` sorts as the tuple ``(key, id)`` did (NUL sorts before any character a key may
hold; a NUL in a title is read as a space).

A corpus change does not rewrite the table: the titles it adds and removes are kept beside it
and merged in as it is read, until they are many enough that the table is rewritten once
(``_COMPACT_SHARE``). A table is never changed, so a completion reading one while a change is
applied reads it whole.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterable, Iterator
from itertools import accumulate, groupby

# Changes kept beside the table before it is rewritten with them: this share of its titles, and
# never fewer than ``_COMPACT_MIN`` (a rewrite at a million articles is ~0.5 s in the thread
# that applies the change).
_COMPACT_SHARE = 0.02
_COMPACT_MIN = 4_096


def title_record(title: str, article_id: str) -> bytes:
    """The record of one title: its casefolded text, NUL, its article's id."""
    return f"{title.casefold().replace(chr(0), ' ')}\0{article_id}".encode("utf-8", "replace")


class TitleTable:
    """A sorted, immutable table of title records; ``changed`` returns a new one."""

    __slots__ = ("_added", "_blob", "_removed", "_starts")

    def __init__(
        self,
        blob: bytes,
        starts: array[int],
        added: tuple[bytes, ...] = (),
        removed: frozenset[bytes] = frozenset(),
    ) -> None:
        self._blob = blob
        self._starts = starts  # where each record starts, and the blob's length last
        self._added = added  # sorted; none of them in the blob
        self._removed = removed  # records of the blob left out

    @classmethod
    def build(cls, titles: Iterable[tuple[str, str]]) -> TitleTable:
        """The table of ``(article id, title)`` pairs (``bot.corpus.articles.every_title``).

        A pair given twice is held once.
        """
        records = sorted(title_record(title, i) for i, title in titles)
        return cls._packed([record for record, _ in groupby(records)])

    @classmethod
    def _packed(cls, records: list[bytes]) -> TitleTable:
        blob = b"".join(records)
        code = "I" if len(blob) < 2**32 else "Q"
        return cls(blob, array(code, accumulate(map(len, records), initial=0)))

    def __len__(self) -> int:
        return len(self._starts) - 1 + len(self._added) - len(self._removed)

    def _record(self, at: int) -> bytes:
        starts = self._starts
        return self._blob[starts[at] : starts[at + 1]]

    def _find(self, key: bytes) -> int:
        """Where ``key`` is, or would go, among the blob's records."""
        return bisect.bisect_left(range(len(self._starts) - 1), key, key=self._record)

    def _merged(self, key: bytes = b"") -> Iterator[bytes]:
        """Every record from ``key`` on, in order.

        The blob's that are not removed, with the added ones merged in.
        """
        removed = self._removed
        base = (self._record(i) for i in range(self._find(key), len(self._starts) - 1))
        added = self._added[bisect.bisect_left(self._added, key) :]
        return heapq.merge((r for r in base if r not in removed), added)

    def starting(self, prefix: str, limit: int) -> list[str]:
        """Ids of the first ``limit`` titles, in order, that start with ``prefix``.

        ``prefix`` is casefolded already, as the titles are.
        """
        key = prefix.replace("\0", " ").encode("utf-8", "replace")
        ids = []
        for record in self._merged(key):
            if not record.startswith(key) or len(ids) >= limit:
                break
            ids.append(record.rpartition(b"\0")[2].decode("utf-8", "replace"))
        return ids

    def changed(
        self, removed: Iterable[tuple[str, str]], added: Iterable[tuple[str, str]]
    ) -> TitleTable:
        """A table of these titles less ``removed`` and plus ``added`` (``(id, title)`` pairs)."""
        gone = {title_record(t, i) for i, t in removed}
        new = sorted({title_record(t, i) for i, t in added})
        held = set(self._added) - gone
        kept_removed = set(self._removed)
        for record in gone - set(self._added):
            if self._holds(record):
                kept_removed.add(record)
        for record in new:
            if record in kept_removed:
                kept_removed.discard(record)  # removed, then back: the blob's holds it
            elif not self._holds(record):
                held.add(record)
        table = TitleTable(self._blob, self._starts, tuple(sorted(held)), frozenset(kept_removed))
        if len(held) + len(kept_removed) > max(_COMPACT_MIN, _COMPACT_SHARE * len(self._starts)):
            return table._compacted()
        return table

    def _holds(self, record: bytes) -> bool:
        """Whether the blob holds ``record`` (removed or not)."""
        at = self._find(record)
        return at < len(self._starts) - 1 and self._record(at) == record

    def _compacted(self) -> TitleTable:
        """The same titles, the changes written into one new blob.

        Streamed into it, not listed first: a list of every record is the old table's memory
        again, held under the engine's lock while a change applies.
        """
        blob, starts = bytearray(), array("Q", [0])
        for record in self._merged():
            blob += record
            starts.append(len(blob))
        return TitleTable(bytes(blob), starts if len(blob) >= 2**32 else array("I", starts))
