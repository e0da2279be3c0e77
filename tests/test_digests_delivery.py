"""Delivery: exactly once through crashes, one catch-up after downtime, failures that pause,
DST-correct schedules, and instant alerts that batch a burst of files into one post."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from bot.corpus.merge import ChangeSet
from bot.digests.delivery import Delivery, InstantBatcher
from bot.digests.models import MAX_CONSECUTIVE_FAILURES, StillGrouping, Target
from bot.digests.schedule import Schedule
from bot.digests.store import DigestStore
from bot.engine.engine import Engine
from tests.test_digests_support import (
    T0,
    Clock,
    CorpusDir,
    FakeSender,
    SimulatedCrash,
    add_sub,
    make_delivery,
    more_clearview,
    seed_story,
)

CHANNEL = Target.channel(100)
NEXT_NINE = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # the first 09:00 UTC slot after T0


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[CorpusDir, DigestStore, Clock, FakeSender]]:
    corpus = CorpusDir(tmp_path)
    seed_story(corpus)
    corpus.load()
    clock = Clock(T0)
    store = await DigestStore.open(corpus.db)
    sender = FakeSender(clock)
    # The corpus as the bot found it on its first start.
    await make_delivery(store, corpus.engine, sender, clock).start()
    yield corpus, store, clock, sender
    await store.close()
    corpus.close()


async def arrive(corpus: CorpusDir, delivery: Delivery, *outlets: str, start: int = 0) -> set[str]:
    """New files land in the corpus folder; the engine and digests hear of them."""
    paths = [more_clearview(corpus, o, start + n) for n, o in enumerate(outlets)]
    changes = corpus.refresh(paths)
    await delivery.note_changes(changes)
    return set(changes.added)


def articles_in(post: object, corpus: CorpusDir) -> set[str]:
    text = post.text  # type: ignore[attr-defined]
    assert corpus.engine is not None
    return {i for i, a in corpus.engine.snapshot.articles.items() if f"({a.url})" in text}


async def test_new_articles_appear_in_the_next_digest_exactly_once(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now)
    clock.advance(hours=1)
    first = await arrive(corpus, delivery, "Highsnobiety", "Engadget")

    clock.set(NEXT_NINE - timedelta(minutes=1))
    assert await delivery.run_due() == []
    clock.set(NEXT_NINE)
    [outcome] = await delivery.run_due()
    assert outcome.status == "sent" and outcome.articles == 2
    assert len(sender.posts) == 1 and articles_in(sender.posts[0], corpus) == first
    assert "Now covered by 4 outlets, first The Verge" in sender.posts[0].text

    clock.advance(minutes=1)
    assert await delivery.run_due() == []  # the slot is done
    clock.advance(hours=2)
    second = await arrive(corpus, delivery, "Gizmodo", start=2)
    clock.set(NEXT_NINE + timedelta(days=1))
    [outcome] = await delivery.run_due()
    assert outcome.status == "sent"
    assert articles_in(sender.posts[1], corpus) == second  # not the first two again
    clock.set(NEXT_NINE + timedelta(days=2))
    [outcome] = await delivery.run_due()
    assert outcome.status == "nothing-new" and len(sender.posts) == 2  # quiet: no post


async def test_a_subscription_counts_from_the_corpus_it_was_made_in(env) -> None:
    """An article the engine already holds when a subscription is made is old for it, even
    before anything noted when it arrived; for an older subscription it is still new."""
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    older = await add_sub(store, clock.now)
    clock.advance(hours=1)
    changes = corpus.refresh([more_clearview(corpus, "Engadget")])  # in the engine, not noted
    clock.advance(minutes=1)
    other = Target.channel(200)
    newer = await add_sub(store, await delivery.new_from(), target=other)
    clock.advance(minutes=1)
    await delivery.note_changes(changes)  # the instant batcher, waking after the subscription
    added = set(changes.added)
    clock.set(NEXT_NINE)
    outcomes = {o.subscription_id: o.status for o in await delivery.run_due()}
    assert outcomes == {older.id: "sent", newer.id: "nothing-new"}
    [post] = sender.posts
    assert post.target == CHANNEL and articles_in(post, corpus) == added
    assert sender.to(other) == []


async def test_crash_after_the_post_before_the_record_still_makes_one_post(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now)
    clock.advance(hours=1)
    added = await arrive(corpus, delivery, "Highsnobiety")
    clock.set(NEXT_NINE)
    sender.crash_after_post = True
    with pytest.raises(SimulatedCrash):
        await delivery.run_due()
    assert len(sender.posts) == 1  # Discord accepted it; the bot died before recording it
    [pending] = await store.pending()
    assert pending.nonce == sender.posts[0].nonce and len(pending.nonce) <= 25
    await store.close()

    # Restart: a new store and delivery over the same database file.
    sender.crash_after_post = False
    clock.advance(minutes=1)
    store2 = await DigestStore.open(corpus.db)
    try:
        restarted = make_delivery(store2, corpus.engine, sender, clock)
        outcomes = await restarted.start()
        assert [(o.status, o.recovered) for o in outcomes] == [("sent", True)]
        assert outcomes[0].message_id == sender.posts[0].id
        assert len(sender.posts) == 1  # the same nonce was deduplicated
        assert await store2.pending() == []
        after = await store2.get(sub.id)
        assert after is not None and after.last_delivered_at == pending.cutoff
        assert await store2.delivered({CHANNEL.key}, added) == {CHANNEL.key: added}
        # The next slot doesn't repeat those articles.
        clock.set(NEXT_NINE + timedelta(days=1))
        [outcome] = await restarted.run_due()
        assert outcome.status == "nothing-new" and len(sender.posts) == 1
    finally:
        await store2.close()


async def test_a_pending_digest_past_the_nonce_window_is_looked_up_not_reposted(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now)
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Highsnobiety")
    clock.set(NEXT_NINE)
    sender.crash_after_post = True
    with pytest.raises(SimulatedCrash):
        await delivery.run_due()
    sender.crash_after_post = False
    sender.expire_nonces()  # down for an hour: Discord no longer dedups this nonce
    clock.advance(hours=1)
    outcomes = await make_delivery(store, corpus.engine, sender, clock).start()
    assert [(o.status, o.recovered) for o in outcomes] == [("sent", True)]
    assert len(sender.posts) == 1


async def test_a_pending_digest_that_never_reached_discord_is_sent_on_start(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now)
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Highsnobiety")
    clock.set(NEXT_NINE)
    sender.crash_before_post = True
    with pytest.raises(SimulatedCrash):
        await delivery.run_due()
    sender.crash_before_post = False
    assert sender.posts == []
    clock.advance(hours=1)  # past the nonce window: looked up first, not found, then sent
    outcomes = await make_delivery(store, corpus.engine, sender, clock).start()
    assert [o.status for o in outcomes] == ["sent"] and len(sender.posts) == 1


async def test_downtime_across_two_slots_yields_one_catch_up_digest(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    quiet_sub = await add_sub(store, clock.now)
    loud_sub = await add_sub(
        store, clock.now, "portland ban", target=Target.channel(200), quiet=False
    )
    clock.set(NEXT_NINE)
    await delivery.run_due()
    assert len(sender.to(Target.channel(200))) == 1  # "nothing new", since quiet is off
    # The bot goes down; files arrive; the 09:00 slots of March 3rd and 4th pass unseen.
    clock.set(NEXT_NINE + timedelta(hours=3))
    added = await arrive(corpus, delivery, "Highsnobiety", "Engadget")
    clock.set(NEXT_NINE + timedelta(days=2, hours=3))
    restarted = make_delivery(store, corpus.engine, sender, clock)
    outcomes = await restarted.start()
    assert sorted((o.subscription_id, o.status) for o in outcomes) == [
        (quiet_sub.id, "sent"),
        (loud_sub.id, "sent"),
    ]
    assert len(sender.to(CHANNEL)) == 1 and articles_in(sender.to(CHANNEL)[0], corpus) == added
    assert len(sender.to(Target.channel(200))) == 2  # one catch-up, not two
    clock.advance(hours=1)
    assert await restarted.run_due() == []


async def test_a_daily_digest_posts_at_its_local_time_across_dst(tmp_path: Path) -> None:
    corpus = CorpusDir(tmp_path)
    seed_story(corpus)
    corpus.load()
    sender = FakeSender()  # stamps posts with the travelled real clock
    store = await DigestStore.open(corpus.db)
    try:
        delivery = Delivery(store, corpus.engine, sender)  # the real clock, moved by time-machine
        start = datetime(2024, 3, 29, 12, 0, tzinfo=UTC)  # Berlin springs forward on the 31st
        with time_machine.travel(start, tick=False):
            await delivery.start()
            await add_sub(
                store,
                datetime.now(UTC),
                "portland ban",
                schedule=Schedule("daily", time(9, 0), "Europe/Berlin"),
                quiet=False,
            )
        moment = start
        while moment < datetime(2024, 4, 1, 12, 0, tzinfo=UTC):
            moment += timedelta(minutes=15)
            with time_machine.travel(moment, tick=False):
                await delivery.run_due()
        posted = [p.at for p in sender.posts]
        assert posted == [
            datetime(2024, 3, 30, 8, 0, tzinfo=UTC),  # 09:00 CET
            datetime(2024, 3, 31, 7, 0, tzinfo=UTC),  # 09:00 CEST
            datetime(2024, 4, 1, 7, 0, tzinfo=UTC),
        ]
    finally:
        await store.close()
        corpus.close()


@pytest.mark.parametrize(
    ("target", "breaks", "reason"),
    [
        (Target.channel(100), "gone", "the channel no longer exists"),
        (Target.dm(42), "dms", "the user's DMs are closed to the bot"),
        (Target.channel(100), "permission", "the bot is missing the Embed Links permission"),
    ],
)
async def test_failures_mark_the_subscription_failing_then_pause_it(
    env, target: Target, breaks: str, reason: str
) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now, target=target, quiet=False)
    if breaks == "gone":
        sender.gone.add(target)
    elif breaks == "dms":
        sender.closed_dms.add(target.id)
    else:
        sender.missing[target] = "Embed Links"
    for day in range(MAX_CONSECUTIVE_FAILURES):
        clock.set(NEXT_NINE + timedelta(days=day))
        [outcome] = await delivery.run_due()
        assert outcome.status == "failed" and outcome.reason is not None
        assert outcome.reason.startswith(reason)
        current = await store.get(sub.id)
        assert current is not None
        assert current.failing_reason is not None and current.failing_reason.startswith(reason)
        assert current.consecutive_failures == day + 1
        assert current.paused == (day + 1 == MAX_CONSECUTIVE_FAILURES)
        assert outcome.paused == current.paused
    assert current.status == "paused" and "5 failed deliveries" in (current.paused_reason or "")
    attempts = sender.attempts
    clock.set(NEXT_NINE + timedelta(days=10))
    assert await delivery.run_due() == []  # paused: no more attempts, no crash loop
    assert sender.attempts == attempts and sender.posts == []
    assert [o.status for o in await store.pending()] == []


async def test_a_success_clears_the_failure_count(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now, quiet=False)
    sender.gone.add(CHANNEL)
    clock.set(NEXT_NINE)
    await delivery.run_due()
    sender.gone.clear()
    clock.set(NEXT_NINE + timedelta(days=1))
    [outcome] = await delivery.run_due()
    assert outcome.status == "sent"
    current = await store.get(sub.id)
    assert current is not None
    assert (current.failing_reason, current.consecutive_failures) == (None, 0)


async def test_transient_errors_retry_with_the_same_nonce(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock, max_attempts=3)
    sub = await add_sub(store, clock.now)
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Highsnobiety")
    sender.transient = 2
    clock.set(NEXT_NINE)
    assert [o.status for o in await delivery.run_due()] == ["retrying"]
    clock.advance(minutes=1)
    assert [o.status for o in await delivery.run_due()] == ["retrying"]
    clock.advance(minutes=1)
    [outcome] = await delivery.run_due()
    assert outcome.status == "sent" and len(sender.posts) == 1
    # Then a digest that keeps failing gives up after max_attempts and counts one failure.
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Engadget", start=1)
    sender.transient = 10
    clock.set(NEXT_NINE + timedelta(days=1))
    statuses = []
    for _ in range(3):
        statuses += [o.status for o in await delivery.run_due()]
        clock.advance(minutes=1)
    assert statuses == ["retrying", "retrying", "failed"]
    current = await store.get(sub.id)
    assert current is not None and current.consecutive_failures == 1
    assert (current.failing_reason or "").startswith("Discord kept failing")


async def test_two_subscriptions_of_one_channel_never_repeat_an_article(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now, "clearview ice contract")
    await add_sub(store, clock.now, "clearview facial recognition licenses")
    clock.advance(hours=1)
    added = await arrive(corpus, delivery, "Highsnobiety", "Engadget")
    clock.set(NEXT_NINE)
    outcomes = await delivery.run_due()
    assert [o.status for o in outcomes] == ["sent", "nothing-new"]
    assert len(sender.posts) == 1 and articles_in(sender.posts[0], corpus) == added


async def test_preview_sends_nothing_and_send_now_delivers(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now)
    clock.advance(hours=1)
    added = await arrive(corpus, delivery, "Highsnobiety")
    preview = await delivery.preview(sub)
    assert set(preview.article_ids) == added and sender.posts == []
    outcome = await delivery.send_now(sub)
    assert outcome.status == "sent" and len(sender.posts) == 1
    current = await store.get(sub.id)
    assert current is not None
    assert (await delivery.preview(current)).empty
    clock.set(NEXT_NINE)
    assert [o.status for o in await delivery.run_due()] == ["nothing-new"]


async def test_removing_a_subscription_drops_its_unsent_digest(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now)
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Highsnobiety")
    sender.transient = 1
    clock.set(NEXT_NINE)
    assert [o.status for o in await delivery.run_due()] == ["retrying"]
    assert await store.remove(sub.id)
    assert await store.pending() == []
    assert await delivery.run_due() == [] and sender.posts == []


def told_when_recorded(store: DigestStore) -> asyncio.Event:
    """An event set each time ``store`` records a delivery (after it has)."""
    recorded = asyncio.Event()
    record_delivery = store.record_delivery

    async def record_and_tell(*args: Any, **kwargs: Any) -> Any:
        result = await record_delivery(*args, **kwargs)
        recorded.set()
        return result

    store.record_delivery = record_and_tell  # type: ignore[method-assign]
    return recorded


async def test_instant_alerts_batch_a_burst_of_files_into_one_post(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now, "clearview ice contract", schedule=Schedule("instant"))
    await add_sub(
        store, clock.now, "portland ban", target=Target.channel(200), schedule=Schedule("instant")
    )
    gate = asyncio.Event()

    async def window(_: float) -> None:
        await gate.wait()

    batcher = InstantBatcher(delivery, wait=window)
    recorded = told_when_recorded(store)
    task = asyncio.create_task(batcher.run())
    try:
        clock.advance(minutes=5)
        added: set[str] = set()
        for n in range(50):  # fifty files, fifty corpus change events
            changes = corpus.refresh([more_clearview(corpus, f"Outlet {n:02d}", n)])
            added |= changes.added
            batcher.submit(changes)
            await asyncio.sleep(0)
        assert len(added) == 50
        gate.set()
        await asyncio.wait_for(recorded.wait(), 10)  # posted and recorded
    finally:
        task.cancel()
    assert batcher.flushes == 1
    assert len(sender.posts) == 1 and sender.posts[0].target == CHANNEL
    assert "50 new articles" not in sender.posts[0].text  # capped at max_items ...
    assert "And 40 more" in sender.posts[0].text  # ... the rest counted, with a /search hint
    seen = await store.seen_after(T0)
    assert added <= set(seen)  # first-seen times were recorded for scheduled digests too


async def test_instant_alerts_wait_while_stories_are_grouped_again(env) -> None:
    # After a rebuild the stories are regrouped in the background; an alert sent meanwhile
    # would call every article a new story. It waits, then goes out once.
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now, "clearview ice contract", schedule=Schedule("instant"))
    grouped, asked, recorded = asyncio.Event(), asyncio.Event(), told_when_recorded(store)

    async def stories_ready() -> None:
        asked.set()
        await grouped.wait()

    batcher = InstantBatcher(delivery, wait=lambda _: asyncio.sleep(0), ready=stories_ready)
    task = asyncio.create_task(batcher.run())
    try:
        clock.advance(minutes=5)
        batcher.submit(corpus.refresh([more_clearview(corpus, "Outlet 00", 0)]))
        await asyncio.wait_for(asked.wait(), 10)
        assert sender.posts == []  # held while the stories are grouped
        grouped.set()
        await asyncio.wait_for(recorded.wait(), 10)
    finally:
        task.cancel()
    assert len(sender.posts) == 1 and batcher.flushes == 1


def regrouping(monkeypatch: pytest.MonkeyPatch, *, under_way: bool = True) -> None:
    """The engine's stories not ready: being grouped (a change woke a resting grouping after
    a run looked), or not (a grouping failed, and none runs until the corpus changes).
    """
    monkeypatch.setattr(Engine, "stories_ready", property(lambda engine: False))
    monkeypatch.setattr(Engine, "grouping_under_way", property(lambda engine: under_way))


@pytest.mark.parametrize("under_way", [True, False])
async def test_an_instant_run_waits_only_while_the_stories_are_being_grouped(
    env, monkeypatch: pytest.MonkeyPatch, under_way: bool
) -> None:
    # Computed while a grouping loads, changed articles would be stories of one, each "new";
    # when no grouping runs, waiting would hold every digest for nothing.
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now, schedule=Schedule("instant"))
    batcher = InstantBatcher(delivery, wait=lambda _: asyncio.sleep(0))
    clock.advance(minutes=5)
    batcher.submit(corpus.refresh([more_clearview(corpus, "Highsnobiety")]))
    regrouping(monkeypatch, under_way=under_way)
    outcomes = await batcher.flush()
    if under_way:
        assert outcomes == [] and sender.posts == []
        assert delivery.behind  # looked at again soon
        monkeypatch.undo()
        outcomes = await delivery.run_instant()
    [outcome] = outcomes
    assert outcome.status == "sent" and len(sender.posts) == 1


async def test_send_now_and_preview_while_stories_regroup_say_so_and_post_nothing(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    sub = await add_sub(store, clock.now)
    clock.advance(hours=1)
    await arrive(corpus, delivery, "Highsnobiety")
    regrouping(monkeypatch)
    with pytest.raises(StillGrouping, match="grouping the coverage into stories"):
        await delivery.send_now(sub)
    with pytest.raises(StillGrouping):
        await delivery.preview(sub)
    assert sender.posts == []


async def test_instant_alerts_wait_for_the_engine_to_apply_a_change(env) -> None:
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    await add_sub(store, clock.now, schedule=Schedule("instant"))
    batcher = InstantBatcher(delivery, wait=lambda _: asyncio.sleep(0))
    clock.advance(minutes=5)
    path = more_clearview(corpus, "Highsnobiety")
    snapshot, changes, _ = corpus.loader.refresh([str(path)])
    batcher.submit(changes)  # heard before the engine applied it
    assert await batcher.flush() == [] or sender.posts == []
    assert delivery.behind
    corpus.engine.apply(snapshot, changes)
    clock.advance(seconds=10)
    [outcome] = await batcher.flush()
    assert outcome.status == "sent" and articles_in(sender.posts[0], corpus) == set(changes.added)


async def test_instant_subscriptions_catch_up_on_start(env) -> None:
    corpus, store, clock, sender = env
    await add_sub(store, clock.now, schedule=Schedule("instant"))
    clock.advance(hours=1)
    # Files land while the bot is down: the next start loads them with the rest.
    more_clearview(corpus, "Highsnobiety")
    more_clearview(corpus, "Engadget", 1)
    corpus.load()
    clock.advance(minutes=1)
    outcomes = await make_delivery(store, corpus.engine, sender, clock).start()
    assert [(o.status, o.articles) for o in outcomes] == [("sent", 2)]


async def test_an_article_removed_and_back_within_one_burst_is_new_again(env) -> None:
    """A file deleted and restored while the batching window is open: its article was
    forgotten and is back, so it counts as new, as it would in two bursts."""
    corpus, store, clock, sender = env
    delivery = make_delivery(store, corpus.engine, sender, clock)
    path = more_clearview(corpus, "Engadget")
    clock.advance(minutes=1)
    [article] = corpus.refresh([path]).added
    await delivery.note_changes(ChangeSet(added=frozenset({article})))
    batcher = InstantBatcher(delivery)
    clock.advance(minutes=5)
    path_text = path.read_text(encoding="utf-8")
    path.unlink()
    batcher.submit(corpus.refresh([path]))  # removed ...
    path.write_text(path_text, encoding="utf-8")
    batcher.submit(corpus.refresh([path]))  # ... and back, before the window closes
    await batcher.flush()
    seen = await store.seen_after(T0)
    assert seen.get(article) == clock.now  # first seen again, now
