"""The commands' API: validation, permissions, scope, follows by DM, pause and resume."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digests.delivery import MissingPermission, TargetGone, missing_permission
from bot.digests.models import InvalidSubscription, LimitReached, Target, UnknownSubscription
from bot.digests.service import DigestService, NotAllowed
from bot.digests.store import DigestStore
from tests.test_digests_support import (
    T0,
    Clock,
    CorpusDir,
    FakeSender,
    make_delivery,
    more_clearview,
    seed_story,
)

GUILD, OTHER_GUILD, CHANNEL = 1, 2, 100
NEXT_NINE = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[tuple[DigestService, FakeSender, Clock, CorpusDir]]:
    corpus = CorpusDir(tmp_path)
    seed_story(corpus)
    corpus.load()
    clock = Clock(T0)
    store = await DigestStore.open(corpus.db)
    sender = FakeSender(clock)
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await delivery.start()
    yield DigestService(store, delivery, max_per_guild=3), sender, clock, corpus
    await store.close()
    corpus.close()


async def add(service: DigestService, **kw: object):
    options: dict[str, object] = {
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "created_by": 7,
        "query": "clearview ice contract",
    }
    options.update(kw)
    return await service.add(**options)  # type: ignore[arg-type]


def test_members_without_manage_server_are_refused() -> None:
    with pytest.raises(NotAllowed, match="Manage Server"):
        DigestService.require_manager(False)
    DigestService.require_manager(True)


async def test_add_validates_and_stores_in_the_corpus_spelling(svc, monkeypatch) -> None:
    service, _, _, corpus = svc
    # Names are matched against every outlet of the corpus: never on the event loop's thread.
    threads: list[int] = []
    resolve = corpus.engine.resolve_outlet

    def recorded(name: str) -> str | None:
        threads.append(threading.get_ident())
        return resolve(name)

    monkeypatch.setattr(corpus.engine, "resolve_outlet", recorded)
    sub = await add(
        service,
        schedule="weekly",
        time="7:30",
        timezone="europe/berlin",
        weekday="mon",
        outlet="the verge",
        max_items=5,
        quiet=False,
    )
    assert sub.schedule.describe() == "weekly on Monday at 07:30 (Europe/Berlin)"
    assert sub.outlet == "The Verge" and sub.max_items == 5 and not sub.quiet
    assert threads and threading.get_ident() not in threads
    assert sub.target == Target.channel(CHANNEL) and sub.guild_id == GUILD
    assert [s.id for s in await service.list(GUILD)] == [sub.id]
    assert await service.list(OTHER_GUILD) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timezone": "Mars/Base"}, "is not an IANA time zone"),
        ({"time": "25:00"}, "not a time of day"),
        ({"schedule": "weekly"}, "needs a weekday"),
        ({"schedule": "hourly"}, "must be one of daily, weekly, instant"),
        ({"query": "   "}, "The query is empty"),
        ({"max_items": 0}, "between 1 and 25"),
    ],
)
async def test_add_refuses_bad_options_with_a_reason(svc, options, message) -> None:
    service, _, _, _ = svc
    with pytest.raises(InvalidSubscription, match=message):
        await add(service, **options)
    assert await service.list(GUILD) == []


async def test_add_says_exactly_which_permission_is_missing(svc) -> None:
    service, sender, _, _ = svc
    sender.missing[Target.channel(CHANNEL)] = "Embed Links"
    with pytest.raises(MissingPermission) as caught:
        await add(service)
    assert caught.value.permission == "Embed Links"
    assert str(caught.value) == "the bot is missing the Embed Links permission in this channel"
    sender.missing.clear()
    sender.gone.add(Target.channel(CHANNEL))
    with pytest.raises(TargetGone):
        await add(service)
    assert await service.list(GUILD) == []


async def test_a_server_has_a_limit(svc) -> None:
    service, _, _, _ = svc
    for _ in range(3):
        await add(service)
    with pytest.raises(LimitReached):
        await add(service)


async def test_another_servers_digest_does_not_exist_here(svc) -> None:
    service, _, _, _ = svc
    sub = await add(service)
    for call in (service.remove, service.pause, service.resume, service.preview, service.send_now):
        with pytest.raises(UnknownSubscription, match=f"#{sub.id}"):
            await call(OTHER_GUILD, sub.id)
    removed = await service.remove(GUILD, sub.id)
    assert removed.id == sub.id and await service.list(GUILD) == []


async def test_preview_send_now_pause_and_resume(svc) -> None:
    service, sender, clock, corpus = svc
    sub = await add(service)
    clock.advance(hours=1)
    changes = corpus.refresh([more_clearview(corpus, "Highsnobiety")])
    await service.delivery.note_changes(changes)
    preview = await service.preview(GUILD, sub.id)
    assert preview[0].title.startswith("Preview:") and sender.posts == []
    assert "Highsnobiety" in preview[0].fields[0].value

    paused = await service.pause(GUILD, sub.id)
    assert paused.paused and paused.status == "paused"
    clock.set(NEXT_NINE)
    assert await service.delivery.run_due() == []  # paused digests don't run
    resumed = await service.resume(GUILD, sub.id)
    assert not resumed.paused
    clock.set(NEXT_NINE + timedelta(days=1))
    [outcome] = await service.delivery.run_due()
    assert outcome.status == "sent" and outcome.articles == 1  # what arrived while paused

    sent_sub, outcome = await service.send_now(GUILD, sub.id)
    assert outcome.status == "nothing-new" and len(sender.posts) == 1
    assert sent_sub.id == sub.id


async def test_follow_with_closed_dms_says_so_then_fails_later(svc) -> None:
    service, sender, clock, corpus = svc
    sender.closed_dms.add(42)
    result = await service.follow(
        user_id=42, query="clearview ice contract", schedule="daily", time="09:00", timezone="UTC"
    )
    assert not result.dms_open
    assert [s.id for s in await service.follows(42)] == [result.subscription.id]
    open_result = await service.follow(user_id=43, query="portland ban")
    assert open_result.dms_open
    assert sender.to(Target.dm(43))[0].cards[0].title.startswith("Following:")
    # Something new arrives: the 09:00 delivery to closed DMs marks the follow failing.
    clock.advance(hours=1)
    changes = corpus.refresh([more_clearview(corpus, "Highsnobiety")])
    await service.delivery.note_changes(changes)
    clock.set(NEXT_NINE)
    outcomes = await service.delivery.run_due()
    assert [(o.subscription_id, o.status) for o in outcomes] == [
        (result.subscription.id, "failed"),
        (open_result.subscription.id, "nothing-new"),
    ]
    cards = await service.follows_cards(42)
    assert "failing (1 time): the user's DMs are closed to the bot" in cards[0].fields[0].value
    with pytest.raises(UnknownSubscription):
        await service.unfollow(43, result.subscription.id)  # someone else's follow
    await service.unfollow(42, result.subscription.id)
    assert await service.follows(42) == []


async def test_list_cards_show_failing_digests(svc) -> None:
    service, sender, clock, _ = svc
    sub = await add(service, quiet=False)
    sender.gone.add(Target.channel(CHANNEL))
    clock.set(NEXT_NINE)
    await service.delivery.run_due()
    [card] = await service.list_cards(GUILD)
    assert f"#{sub.id}" in card.fields[0].name
    assert "failing (1 time): the channel no longer exists" in card.fields[0].value
    assert service.timezones("berl") == ["Europe/Berlin"]


def test_missing_permission_names_the_first_thing_to_fix() -> None:
    granted = {"view_channel": True, "send_messages": True, "embed_links": False}
    assert missing_permission(granted.__getitem__) == "Embed Links"
    granted["send_messages"] = False
    assert missing_permission(granted.__getitem__) == "Send Messages"
    assert missing_permission(lambda _: True) is None
