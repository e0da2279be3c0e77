"""Which code a benchmark measured: printed beside every figure so results tie to a commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def engine_version(folder: str = "bot/engine") -> str:
    """The commit the code is at, and whether ``folder`` has uncommitted edits."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", folder], cwd=ROOT, capture_output=True, text=True
        ).stdout.split("\n")
    except OSError:
        return "unknown"
    edited = [line[3:] for line in dirty if line.strip()]
    return f"git {head or '?'}" + (f" + uncommitted {', '.join(edited)}" if edited else "")
