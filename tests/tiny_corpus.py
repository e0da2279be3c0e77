"""A few one-line articles on disk, loaded into an engine: the fixture most engine tests need."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.corpus.loader import CorpusLoader, LoadStats
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.engine.engine import Engine
from bot.engine.stories import StoryIndex


def engine_over(
    tmp_path: Path,
    docs: Mapping[str, tuple[str, str] | tuple[str, str, str]],
    published: str | None = None,
    outlet: str | None = None,
) -> Engine:
    """An engine over ``docs`` (name -> (title, excerpt[, published])); URLs example.com/<name>.

    ``published``: every article's publication time (ISO 8601) unless its own says otherwise,
    else none has one; ``outlet``: every article's outlet name, else the site's.
    """
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    provider = f"provider:\n  name: {outlet}\n  domain: example.com\n" if outlet else ""
    for name, (title, excerpt, *own) in docs.items():
        stamp = own[0] if own else published
        when = f"publishedDateTime: {stamp}\n" if stamp else ""
        (corpus / f"{name}.md").write_text(
            f"---\ntitle: {title}\nwebUrl: https://example.com/{name}\n{when}{provider}"
            f"excerpt: {excerpt}\n---\n",
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


def follow(engine: Engine, loader: CorpusLoader, corpus: Path, *names: str) -> CorpusSnapshot:
    """Refresh each of ``names`` (edited or deleted) and apply it to ``engine``, one at a time."""
    snapshot = engine.snapshot
    for name in names:
        snapshot, changes, _ = loader.refresh([str(corpus / name)])
        engine.apply(snapshot, changes)
    return snapshot


def add_zebra(corpus: Path, loader: CorpusLoader) -> tuple[CorpusSnapshot, ChangeSet, LoadStats]:
    """Add one undated article unrelated to the seeds; the loader's refresh for it."""
    (corpus / "zebra.md").write_text(
        "---\ntitle: Zebra crossing robots arrive in Lagos\n"
        "webUrl: https://example.com/zebra-robots\n---\n",
        encoding="utf-8",
    )
    return loader.refresh([str(corpus / "zebra.md")])


class HeldGrouping:
    """``engine.cluster`` in a thread, held inside its first story build until ``finish``."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []  # articles handed to each story build
        self._release, building = threading.Event(), threading.Event()
        build = StoryIndex.build.__func__  # type: ignore[attr-defined]

        def held(cls: type[StoryIndex], articles: Mapping[str, Any], **options: Any) -> Any:
            self.sizes.append(len(articles))
            if len(self.sizes) == 1:
                building.set()
                assert self._release.wait(10)
            return build(cls, articles, **options)

        monkeypatch.setattr(StoryIndex, "build", classmethod(held))
        self._worker = threading.Thread(target=engine.cluster)
        self._worker.start()
        assert building.wait(10)

    def finish(self) -> None:
        """Let the grouping go on and wait until it is over."""
        self._release.set()
        self._worker.join(10)
        assert not self._worker.is_alive()
