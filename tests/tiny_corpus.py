"""A few one-line articles on disk, loaded into an engine: the fixture most engine tests need."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine


def engine_over(tmp_path: Path, docs: dict[str, tuple[str, str]]) -> Engine:
    """An engine over ``docs`` (name -> (title, excerpt)); each URL is example.com/<name>."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, excerpt) in docs.items():
        (corpus / f"{name}.md").write_text(
            f"---\ntitle: {title}\nwebUrl: https://example.com/{name}\nexcerpt: {excerpt}\n---\n",
            encoding="utf-8",
        )
    snapshot, _, _ = CorpusLoader([corpus], tmp_path / "c.db").load()
    return Engine(snapshot)


SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seeded(tmp_path: Path) -> tuple[Path, CorpusLoader, Engine]:
    """A copy of the seeds to edit, its loader, and an engine over it as first loaded."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    loader = CorpusLoader([corpus], tmp_path / "c.db")
    snapshot, _, _ = loader.load()
    return corpus, loader, Engine(snapshot)
