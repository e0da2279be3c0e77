"""Running a benchmark or fitting script as a user does: its own process, its exit code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.vectors import semantic_available

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpus" / "smartable"
# The fitting scripts read the labelled questions' corpus and the word table.
needs_labelled_corpus = pytest.mark.skipif(
    not SHARED.is_dir() or not semantic_available() or not importlib.util.find_spec("sklearn"),
    reason="the labelled questions' corpus, the semantic extra or the bench extra is not here",
)


def run_script(relative: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<relative>`` with this interpreter; fail with its output's end if it fails."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / relative), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done
