"""Opening one corpus file as untrusted input: a regular file, inside the corpus, read bounded.

Whoever can drop a file into the corpus folder (a sync job, a shared drive) chooses what a name
in it opens. A symlink can point at the bot's own config (and its token) or at ``/dev/zero``; a
FIFO blocks ``open`` until a writer comes; a ``/proc`` file or a file still being written tells
``stat`` one size and holds another. Each rule here closes one of those: a link is followed only
to a target inside the configured roots (resolved), only a regular file is opened (checked
before the open, so a FIFO or device is never opened at all, and again on the open descriptor,
so a swap in between cannot slip one through), and the read stops one byte past the limit
whatever the size said.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence

from bot.corpus.model import Severity

# O_NONBLOCK: should a FIFO be swapped in between the check and the open, the open returns
# at once instead of waiting for a writer (and fstat then refuses it).
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_MIN_CHUNK = 64 * 1024  # reads after the first, when the size said was wrong
LINK_OUTSIDE = "symlink pointing outside the corpus folders; not followed"
LINK_BROKEN = "symlink whose target is missing or loops; skipped"
MOVED_OUTSIDE = "reached outside the corpus folders when opened (a folder was swapped); skipped"


class Refused(Exception):
    """A file that is deliberately not read; ``reason`` is what the problem list shows."""

    def __init__(self, reason: str, severity: Severity = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.severity: Severity = severity


def real_roots(roots: Iterable[str]) -> tuple[str, ...]:
    """The roots with every symlink resolved: what "inside the corpus" is measured against.

    Resolved on every use, not once: a root may appear, or its link change, while the bot runs.
    """
    return tuple(os.path.realpath(root) for root in roots)


def inside(real: str, roots: Sequence[str]) -> bool:
    """Whether the resolved path ``real`` is one of the resolved ``roots`` or under one."""
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def resolve(path: str, roots: Sequence[str]) -> str:
    """The path to open for ``path``: itself, or its symlink's target if that is inside ``roots``.

    Raises ``Refused`` for a link out of the roots (the target is not even stat'ed) or a link
    that is dangling or loops, and ``OSError`` when ``path`` is gone.
    """
    if not stat.S_ISLNK(os.lstat(path).st_mode):
        return path
    try:
        real = os.path.realpath(path, strict=True)
    except OSError:
        raise Refused(LINK_BROKEN, "warning") from None
    if not inside(real, roots):
        raise Refused(LINK_OUTSIDE)
    return real


def not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode):
        kind = "a character device"
    elif stat.S_ISBLK(mode):
        kind = "a block device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISLNK(mode):
        kind = "a symlink"
    else:
        kind = "a special file"
    return f"{kind}, not a regular file; skipped"


def read_regular(path: str, max_bytes: int, roots: Sequence[str] | None = None) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    ``path``'s final component must not be a link (``resolve`` gives such a path). Raises
    ``Refused`` for anything but a regular file and for a file over the limit. With ``roots``,
    also for a file that turns out, once open, to lie outside them: a folder on the way may
    have been swapped for a link between the listing and the open.
    """
    reason = not_regular(os.lstat(path).st_mode)  # opening a device can itself do things
    if reason:
        raise Refused(reason)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        reason = not_regular(st.st_mode)
        if reason:
            raise Refused(reason)
        if roots is not None and not inside(_opened_path(fd, path, st), roots):
            raise Refused(MOVED_OUTSIDE)
        if st.st_size > max_bytes:  # refused before reading a byte
            raise Refused(
                f"file is {st.st_size:,} bytes, over the {max_bytes:,}-byte limit; skipped"
            )
        data = read_bounded(fd, max_bytes, st.st_size)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise Refused(
            f"file holds more than the {max_bytes:,}-byte limit though its size said "
            f"{st.st_size:,} bytes; skipped"
        )
    return data


def _opened_path(fd: int, path: str, st: os.stat_result) -> str:
    """Where the open file ``fd`` really is, whatever became of the path it was opened by.

    Linux names it in /proc; elsewhere the path is resolved again and must still lead to the
    very file that is open (same device and inode), or the answer is "" (outside everything).
    """
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(path)
        try:
            again = os.stat(real)
        except OSError:
            return ""
        same = (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino)
        return real if same else ""


def read_bounded(fd: int, limit: int, size_hint: int = 0) -> bytes:
    """At most ``limit + 1`` bytes from ``fd``, whatever its size claims.

    The one byte past the limit is how a caller tells a file over the limit from one exactly
    at it. ``size_hint`` (the size ``fstat`` gave) sizes the first read, so a file whose size
    is right costs one read plus the one that sees its end, and no 64 KiB buffer per small file.
    """
    left = limit + 1
    parts: list[bytes] = []
    want = size_hint + 1
    while left > 0:
        chunk = os.read(fd, min(left, want))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
        want = max(want, _MIN_CHUNK)
    return parts[0] if len(parts) == 1 else b"".join(parts)
