"""Which corpus a derived store was built from: a digest of every file's stamp.

The search index kept on disk records the generation of the corpus it was built from, and is
used only when that is the corpus's generation now (``bot.engine.index``): a store built from
other files is caught up or rebuilt, never served. The digest is a sum of per-file hashes
modulo 2**128, so a change of a few files updates it in as many steps (the watcher, at a million
files), and it does not depend on the order files were listed in. The parser version, the roots
and the size limit are part of it: the same files read by another parser are another corpus.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from bot.corpus.cache import PARSER_VERSION, Stamp

_MODULUS = 1 << 128


def file_term(path: str, stamp: Stamp) -> int:
    """One file's share of the digest."""
    display, size, mtime = stamp
    key = f"{path}\0{display}\0{size}\0{mtime}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")


class Generation:
    """The running digest of a set of file stamps."""

    def __init__(
        self, salt: str, stamps: Mapping[str, Stamp] | None = None, total: int | None = None
    ) -> None:
        """``total``: the ``total`` of ``stamps`` as saved before, spared hashing them again."""
        self.salt = f"{PARSER_VERSION}\0{salt}"
        if total is None:
            total = sum(file_term(p, s) for p, s in (stamps or {}).items())
        self._total = total % _MODULUS

    @property
    def total(self) -> int:
        """The digest's running sum, which a saved state keeps."""
        return self._total

    def update(
        self,
        before: Mapping[str, Stamp],
        removed: Iterable[str],
        current: Mapping[str, Stamp],
        changed: Iterable[str],
    ) -> None:
        """Follow files removed and changed (or added), their old stamps in ``before``."""
        total = self._total
        for path in removed:
            total -= file_term(path, before[path])
        for path in changed:
            if path in before:
                total -= file_term(path, before[path])
            total += file_term(path, current[path])
        self._total = total % _MODULUS

    @property
    def value(self) -> str:
        """The generation, as stores record it."""
        key = f"{self.salt}\0{self._total:032x}".encode()
        return hashlib.blake2b(key, digest_size=12).hexdigest()
