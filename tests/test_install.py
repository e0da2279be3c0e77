"""What a fresh clone installs: the lock file agrees with pyproject.toml and is what is installed.

The lock (``requirements-lock.txt``, written by ``make lock``) is what ``make run`` and ``make
test`` install. A dependency added to ``pyproject.toml`` but not re-locked, or left in the lock
after it was dropped, fails here rather than on somebody else's machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCKED_EXTRAS = ("test", "bench", "semantic")
PROJECT_SOURCE = "coverage-bot (pyproject.toml)"
# Kept out of the lock although a locked package requires them (`uv pip compile --excludes`).
EXCLUDES = ROOT / "requirements-exclude.txt"


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    marker: Marker | None
    hashes: int
    via: tuple[str, ...]


def _lock_entries() -> dict[str, list[Locked]]:
    """Parse uv's pip-compatible lock: a requirement line, its --hash lines, its '# via' lines.

    A package may be locked more than once, at versions for different Pythons (numpy), each
    with its marker: every entry is kept.
    """
    entries: dict[str, list[Locked]] = {}
    blocks = re.split(r"\n(?=\S)", LOCK.read_text(encoding="utf-8"))
    for block in blocks:
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        requirement = Requirement(head)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{head}: the lock pins exact versions"
        lines = (line.strip() for line in block.splitlines()[1:])
        comments = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
        via = tuple(c.removeprefix("via").strip() for c in comments if c and c != "via")
        name = canonicalize_name(requirement.name)
        entries.setdefault(name, []).append(
            Locked(name, spec.version, requirement.marker, block.count("--hash=sha256:"), via)
        )
    return entries


def _declared() -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    declared = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        declared += project["optional-dependencies"][extra]
    declared += PYPROJECT["build-system"]["requires"]
    return {canonicalize_name(r.name): r for r in map(Requirement, declared)}


def test_every_declared_dependency_is_locked_at_a_version_its_range_allows() -> None:
    locked = _lock_entries()
    for name, requirement in _declared().items():
        assert name in locked, f"{name} is in pyproject.toml but not in the lock: run `make lock`"
        for entry in locked[name]:
            assert requirement.specifier.contains(entry.version, prereleases=True), (
                f"the lock pins {name}=={entry.version}, outside pyproject's "
                f"{requirement.specifier}: run `make lock`"
            )


def test_the_lock_holds_nothing_pyproject_no_longer_asks_for() -> None:
    direct = {
        name
        for name, entries in _lock_entries().items()
        for entry in entries
        # uv names no source for what it read from stdin: the build backend `make lock` pipes in.
        if PROJECT_SOURCE in entry.via or not entry.via
    }
    assert direct == set(_declared()), "pyproject.toml and the lock disagree: run `make lock`"


def test_every_locked_package_is_pinned_with_hashes() -> None:
    entries = [entry for same in _lock_entries().values() for entry in same]
    assert len(entries) >= len(_declared())
    unhashed = [entry.name for entry in entries if entry.hashes == 0]
    assert not unhashed


def test_what_is_installed_is_what_the_lock_says() -> None:
    checked = 0
    for entry in (entry for same in _lock_entries().values() for entry in same):
        if entry.marker is not None and not entry.marker.evaluate():
            continue
        try:
            installed = version(entry.name)
        except PackageNotFoundError:
            pytest.fail(f"{entry.name} is locked but not installed")
        assert installed == entry.version, entry.name
        checked += 1
    assert checked >= len(_declared())


def test_version_flag_prints_the_installed_version() -> None:
    script = Path(sys.executable).with_name("coverage-bot")
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"coverage-bot {PYPROJECT['project']['version']}"


def _excluded() -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in EXCLUDES.read_text().splitlines())
    return {canonicalize_name(Requirement(line).name) for line in lines if line}


def test_the_locked_extras_are_the_ones_the_makefile_locks() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^LOCK_EXTRAS := (.*)$", makefile, re.MULTILINE)
    assert found is not None
    assert tuple(re.findall(r"--extra (\S+)", found.group(1))) == LOCKED_EXTRAS


def test_excluded_packages_are_neither_locked_nor_installed() -> None:
    excluded = _excluded()
    assert "sentence-transformers" in excluded  # it would bring torch with it
    assert not excluded & set(_lock_entries())
    for name in (*excluded, "torch"):
        with pytest.raises(PackageNotFoundError):
            version(name)


def test_no_requirement_is_missing_but_the_excluded_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # A pip check that fails with no report on stdout must not pass for an empty loop.
    assert done.returncode == 0 or done.stdout.strip(), done.stderr
    missing = re.compile(r"^\S+ \S+ requires (\S+), which is not installed\.$")
    for line in done.stdout.splitlines():
        if line.startswith("No broken requirements"):
            continue
        found = missing.match(line)
        assert found is not None and canonicalize_name(found.group(1)) in _excluded(), line
