"""A small corpus on disk that tests change: a copy of the seeds plus a folder of their own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.engine.stories import StoryIndex

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def write_article(
    folder: Path, name: str, title: str, body: str, published: str = "2021-05-01T08:00:00Z"
) -> Path:
    path = folder / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "title": title,
                "url": f"https://island.example/{name}",
                "outlet": "Island News",
                "published": published,
                "body": body,
            }
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(SEEDS, root / "seeds")
    (root / "live").mkdir()
    write_article(
        root / "live", "quokka", "Quokka census counts a record", "The quokka census counted."
    )
    return root


@pytest.fixture
def groupings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many articles each story grouping of the test was over (0: an empty index)."""
    grouped: list[int] = []
    build = StoryIndex.build

    def counted(articles: Mapping[str, Any], **options: Any) -> StoryIndex:
        grouped.append(len(articles))
        return build(articles, **options)

    monkeypatch.setattr(StoryIndex, "build", counted)
    return grouped
