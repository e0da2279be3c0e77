"""The resident memory of the running process, for the benchmarks' figures (Linux ``/proc``)."""

from __future__ import annotations

import os
import resource


def rss_bytes() -> int:
    """Resident set size now."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mapped_file_bytes() -> int:
    """Of the resident set, the pages of files mapped into the process (``RssFile``).

    The database and the kept article meanings are read through memory maps: what a pass
    touches stays resident and counts in the RSS, although the OS can drop it at any time.
    Shared libraries count here too. 0 where /proc does not say.
    """
    return _status_bytes("RssFile") or 0


def peak_rss_bytes() -> int:
    """Peak resident set size so far.

    ``VmHWM`` rather than ``ru_maxrss``: Linux carries ``ru_maxrss`` over from the parent
    through fork and exec, so a child would report its parent's peak instead of its own.
    """
    found = _status_bytes("VmHWM")
    if found is not None:
        return found
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _status_bytes(field: str) -> int | None:
    """A size ``/proc/self/status`` gives in KiB, in bytes; None where it does not."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
