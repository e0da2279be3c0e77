"""The core stays free of Discord so the CLI, console and tests can use it without a client."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "bot/corpus",
    "bot/engine",
    "bot/digests",
    "bot/answers.py",
    "bot/answer_service.py",
    "bot/console.py",
    "bot/render.py",
    "bot/store.py",
    "bot/config.py",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_never_import_discord() -> None:
    files = [
        p
        for entry in CORE
        for p in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry])
        if p.exists()
    ]
    assert len(files) >= 10
    offenders = [str(p.relative_to(ROOT)) for p in files if "discord" in imported_modules(p)]
    assert offenders == []
