"""Story groups kept beside the database, so a restart answers with stories at once.

Grouping a large corpus takes minutes (24 s at 100,000 articles, 227 s at a million), and until
it is done every /coverage, /source and /related answer is a story of one ("still grouping").
The groups themselves are small (the members of each story of two or more; everything else is
a story of one), so the bot writes them when a grouping finishes and when it stops, with the
corpus generation they belong to (``bot.corpus.generation``). A start whose corpus is of that
generation answers from them while the full grouping (which the incremental updates need) is
rebuilt beside the answers; a one-shot command answers from them and never groups. Groups of
another generation, of another format or unreadable are not used: stories are grouped as
before, never taken from other files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.corpus.model import Article
from bot.engine.results import Story
from bot.engine.stories import story_from
from bot.store import write_private

FORMAT = 1


def stories_path(database: str | Path) -> Path | None:
    """Where the story groups of ``database`` are kept; None for an in-memory database."""
    return None if str(database) == ":memory:" else Path(f"{database}.stories.json")


def save_groups(path: Path, generation: str, groups: Iterable[list[str]]) -> None:
    """Replace the kept groups with ``groups`` (stories of two or more) of ``generation``."""
    kept = sorted(sorted(g) for g in groups if len(g) > 1)
    record = {"format": FORMAT, "generation": generation, "groups": kept}
    write_private(path, json.dumps(record, separators=(",", ":")) + "\n")


def load_groups(path: Path, generation: str) -> list[list[str]] | None:
    """The groups kept for ``generation``, or None (none kept, another corpus, unreadable)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    if not generation or record.get("generation") != generation:
        return None
    groups = record.get("groups")
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(i, str) for i in g) for g in groups
    ):
        return None
    return groups


class SavedStories:
    """Stories from kept groups (articles changed since are the engine's to leave out)."""

    def __init__(self, groups: list[list[str]]) -> None:
        self._group: dict[str, list[str]] = {i: g for g in groups for i in g}

    def story_of(self, article_id: str, articles: Mapping[str, Article]) -> Story:
        """The story ``article_id`` was in, of the ``articles`` now; ``KeyError`` if gone."""
        if article_id not in articles:
            raise KeyError(article_id)
        members = self._group.get(article_id, [article_id])
        return story_from([articles[m] for m in members if m in articles])
