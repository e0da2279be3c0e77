"""The engine behind an event loop: a failed corpus change is repaired without a long stall."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.answer_service import AnswerService
from bot.corpus.live import CorpusChange
from bot.engine.engine import Engine
from tests.tiny_corpus import add_zebra, seeded


async def test_a_failed_change_is_rebuilt_and_a_large_corpus_regrouped_beside_the_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, loader, _ = seeded(tmp_path)
    service = AnswerService(Engine(loader.load()[0], stories="later"))
    await service.group_stories()
    snapshot, changes, stats = add_zebra(corpus, loader)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service.engine, "_update_names", broken)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            await service.apply(CorpusChange(snapshot, changes, stats))
        monkeypatch.undo()
        # Answered from the rebuilt index at once, the new article included.
        zebra = await service.call(Engine.summary, "zebra crossing robots lagos")
        assert zebra.hit.article.url == "https://example.com/zebra-robots"

        await service.stories_ready.wait()
        story = (await service.call(Engine.coverage, "clearview ice contract")).story
        assert service.engine.stories_ready and story.grouped and story.first is not None
        assert {a.outlet.name for a in story.articles} >= {"The Verge", "Business Insider"}
    finally:
        await service.close()


async def test_overlapping_groupings_leave_the_switch_interval_as_they_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, loader, _ = seeded(tmp_path)
    snapshot = loader.load()[0]
    services = [AnswerService(Engine(snapshot, stories="later")) for _ in range(2)]
    # The second grouping starts after the first and is held until the first is over, so it
    # finishes last: the order in which restoring each grouping's own interval goes wrong.
    first_over = threading.Event()
    cluster = services[1].engine.cluster

    def held() -> None:
        first_over.wait(timeout=10)
        cluster()

    monkeypatch.setattr(services[1].engine, "cluster", held)

    async def first() -> None:
        await services[0].group_stories()
        first_over.set()

    before = sys.getswitchinterval()
    try:
        await asyncio.gather(first(), services[1].group_stories())
    finally:
        for service in services:
            await service.close()
    assert all(s.engine.stories_ready for s in services)
    assert sys.getswitchinterval() == before
