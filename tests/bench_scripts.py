"""Running a benchmark or fitting script as a user does: its own process, its exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
