"""Digests end to end: the real CoverageBot (discord.py) against the Discord-compatible stub.

Time is an injected clock (``DigestTiming.clock``) the tests move; the schedule check is the
cog's own loop body (``Digests.tick``), called at the moments a test chooses, and the instant
alerts' batching window is opened by the test (``Window``) instead of a timer. Nothing sleeps:
every wait is on the stub's state, a bot future, or the window.

The crash test runs the bot as a real process (``coverage-bot run``) and SIGKILLs it while the
stub holds the answer to a digest it has already posted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.app import CoverageBot, DigestTiming
from bot.config import Settings
from bot.digests.delivery import (
    DMsClosed,
    InstantBatcher,
    MissingPermission,
    Outcome,
    TargetGone,
    TransientError,
)
from bot.digests.models import MAX_CONSECUTIVE_FAILURES, NewSubscription, Target
from bot.digests.schedule import Schedule
from bot.digests.store import DigestStore
from bot.engine.engine import Engine
from cogs._sender import delivery_failure
from cogs.digests import Digests
from tests.discord_stub import (
    CommandUnavailable,
    DiscordStub,
    P,
    SentMessage,
    running_bot,
)
from tests.test_app_e2e import ROOT, SEEDS, StubBot, configure
from tests.test_digests_support import (
    T0,
    Clock,
    CorpusDir,
    FakeSender,
    make_delivery,
    more_clearview,
    seed_story,
)

NINE = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # the first 09:00 UTC slot after T0
QUERY = "clearview ice contract"
DIGEST_TITLE = re.compile(r"#(\d+)")


# ------------------------------------------------------------------------------ time
class Window:
    """The instant-alert batching window: counts batches; with ``hold``, stays open until
    ``release``. A batch's corpus changes are recorded before its window opens, so a counted
    window also means "first-seen times are written"."""

    def __init__(self) -> None:
        self.calls = 0
        self.hold = False
        self._release = asyncio.Event()
        self._changed = asyncio.Condition()

    async def __call__(self, seconds: float) -> None:
        async with self._changed:
            self.calls += 1
            self._changed.notify_all()
        if self.hold:
            await self._release.wait()

    async def opened(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.calls >= count), 5)

    def release(self) -> None:
        self.hold = False
        self._release.set()


# ------------------------------------------------------------------------------ the world
class World:
    """A stub, a corpus (the seeds plus a folder tests add to), a clock and running bots."""

    def __init__(self, stub: DiscordStub, settings: Settings, live: Path) -> None:
        self.stub = stub
        self.settings = settings
        self.live = live
        self.clock = Clock(T0)  # the digests' clock, moved by the test
        self.window = Window()
        self.files = 0
        self._bot: CoverageBot | None = None
        self._cog: Digests | None = None

    @property
    def bot(self) -> CoverageBot:
        assert self._bot is not None, "no bot running"
        return self._bot

    @property
    def cog(self) -> Digests:
        assert self._cog is not None, "no bot running"
        return self._cog

    @asynccontextmanager
    async def running(self) -> AsyncIterator[list[Outcome]]:
        """A bot on this world's database; yields what it delivered on start."""
        # An hour between the loop's own checks: the tests call ``tick`` at chosen moments.
        timing = DigestTiming(clock=self.clock, interval=3600, wait=self.window)
        bot = StubBot(self.settings, guild_ready_timeout=0.05, digest_timing=timing)
        async with running_bot(bot, self.stub, token=self.settings.discord.token):
            # load_extension runs the module afresh: its class isn't the one imported here.
            cog = cast(Digests, bot.get_cog("Digests"))
            assert cog is not None
            self._bot, self._cog = bot, cog
            try:
                yield await asyncio.wait_for(cog.wait_started(), 10)
            finally:
                self._bot = self._cog = None

    async def run(
        self, command: str, options: dict[str, Any] | None = None, **kwargs: Any
    ) -> SentMessage:
        kwargs.setdefault("user", self.stub.owner)
        handle = await self.stub.invoke(command, options or {}, **kwargs)
        return await handle.message()

    async def add(self, query: str = QUERY, **options: Any) -> int:
        """/digest add by the server owner; the new digest's id."""
        options = {"channel": self.stub.channel, "query": query, "schedule": "daily", **options}
        msg = await self.run("digest add", options)
        assert msg.ephemeral and msg.embeds, msg.content
        title = msg.embeds[0]["title"]
        assert title.endswith(" added"), title
        return int(DIGEST_TITLE.search(title).group(1))  # type: ignore[union-attr]

    async def tick(self, moment: datetime) -> list[Outcome]:
        self.clock.now = moment
        return await self.cog.tick()

    def write(self, outlet: str, title: str | None = None, body: str | None = None) -> Path:
        """Another outlet's report of the Clearview/ICE story (or any article)."""
        self.files += 1
        slug = f"a{self.files:03d}"
        path = self.live / f"{slug}.json"
        article = {
            "title": title or "Clearview AI signs a contract with ICE",
            "url": f"https://{outlet.lower().replace(' ', '')}.example/{slug}",
            "outlet": outlet,
            "published": f"2020-08-15T{10 + self.files % 10:02d}:00:00Z",  # after The Verge
            "body": body
            or "Immigration and Customs Enforcement signed a contract with facial recognition "
            "company Clearview AI, paying $224,000 for Clearview licenses, records show.",
            "topics": ["Privacy"],
        }
        path.write_text(json.dumps(article), encoding="utf-8")
        return path

    async def arrive(self, *outlets: str) -> set[str]:
        """New files land; the engine applies them and digests note when they were first seen."""
        urls = {json.loads(self.write(o).read_text())["url"] for o in outlets}
        batches = self.window.calls
        change = await self.bot.reload_corpus()
        await self.window.opened(batches + 1)
        added = {i for i in change.changes.added if change.snapshot.articles[i].url in urls}
        assert len(added) == len(outlets)
        return added

    def posts(self, channel: Any = None) -> list[SentMessage]:
        """The digests the bot posted (not interaction answers) in ``channel``."""
        cid = (channel or self.stub.channel).id
        return [m for m in self.stub.messages if m.source == "channel" and m.channel_id == cid]


def text_of(msg: SentMessage) -> str:
    return json.dumps(msg.embeds, ensure_ascii=False)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub) -> World:
    live = tmp_path / "live"
    live.mkdir()
    return World(stub, configure(tmp_path, monkeypatch, stub, [SEEDS, live]), live)


# ------------------------------------------------------------------------------ commands
async def test_commands_and_who_may_use_them(world: World) -> None:
    stub = world.stub
    async with world.running():
        commands = {c["name"]: c for c in await stub.wait_commands_synced(False)}
        assert stub.rejections == []
        digest = commands["digest"]
        assert digest["default_member_permissions"] == str(P.MANAGE_GUILD)
        assert digest["contexts"] == [0] and digest["integration_types"] == [0]
        subcommands = {o["name"]: o for o in digest["options"]}
        assert set(subcommands) == {
            "add",
            "list",
            "remove",
            "pause",
            "resume",
            "preview",
            "send-now",
        }
        add = {o["name"]: o for o in subcommands["add"]["options"]}
        assert [o["name"] for o in subcommands["add"]["options"] if o.get("required")] == [
            "channel",
            "query",
            "schedule",
        ]
        assert [c["value"] for c in add["schedule"]["choices"]] == ["daily", "weekly", "instant"]
        assert add["timezone"]["autocomplete"] and add["outlet"]["autocomplete"]
        assert add["max_items"]["min_value"] == 1 and add["max_items"]["max_value"] == 25
        assert subcommands["remove"]["options"][0]["autocomplete"]
        for name in ("follow", "unfollow", "follows"):
            assert commands[name]["contexts"] == [0, 1, 2], name
            assert commands[name]["integration_types"] == [0, 1], name
            assert commands[name]["default_member_permissions"] is None

        # A member without Manage Server doesn't see /digest; if a server shows it anyway, it
        # is refused when run, and nothing is created.
        with pytest.raises(CommandUnavailable):
            await stub.invoke("digest list", user=stub.member)
        refused = await world.run(
            "digest add",
            {"channel": stub.channel, "query": QUERY, "schedule": "daily"},
            user=stub.member,
            check_permissions=False,
        )
        assert refused.ephemeral and refused.content == (
            "Managing digests needs the Manage Server permission."
        )
        assert await world.bot.digests.list(stub.guild.id) == []
        manager = stub.add_user("maria", permissions=P.MANAGE_GUILD)
        assert (await world.run("digest list", user=manager)).embeds

        zones = await stub.autocomplete(
            "digest add",
            {"query": QUERY, "timezone": "europe/ber"},
            focused="timezone",
            user=stub.owner,
        )
        assert zones[0] == {"name": "Europe/Berlin", "value": "Europe/Berlin"}
        digest_id = await world.add(time="07:30", timezone="Europe/Berlin")
        choices = await stub.autocomplete(
            "digest pause", {"digest": "1"}, focused="digest", user=stub.owner
        )
        assert [c["value"] for c in choices] == [digest_id]
        assert "clearview ice contract" in choices[0]["name"]
        listed = await world.run("digest list")
        assert "daily at 07:30 (Europe/Berlin)" in text_of(listed)


async def test_add_names_exactly_what_is_wrong(world: World) -> None:
    stub = world.stub
    locked = await stub.add_channel("locked")
    async with world.running():
        for deny, permission in (
            (P.EMBED_LINKS, "Embed Links"),
            (P.SEND_MESSAGES, "Send Messages"),
            (P.VIEW_CHANNEL, "View Channel"),
        ):
            await stub.set_bot_overwrite(locked, deny=deny)
            # The bot hears of the overwrite on the gateway; wait until it has.
            await world.bot.wait_for(
                "guild_channel_update", check=lambda _, after: after.id == locked.id, timeout=5
            )
            msg = await world.run(
                "digest add", {"channel": locked, "query": QUERY, "schedule": "daily"}
            )
            assert msg.ephemeral
            assert msg.content == (
                f"I can't post digests in <#{locked.id}>: the bot is missing the {permission} "
                "permission in this channel. Fix that in the channel's permissions and try again."
            )
        bad = {
            "Mars/Olympus": "“Mars/Olympus” is not an IANA time zone",
            "weekly": "A weekly schedule needs a weekday",
            "25:00": "“25:00” is not a time of day",
        }
        for value, said in bad.items():
            options: dict[str, Any] = {"channel": stub.channel, "query": QUERY, "schedule": "daily"}
            if value == "weekly":
                options["schedule"] = "weekly"
            elif ":" in value:
                options["time"] = value
            else:
                options["timezone"] = value
            msg = await world.run("digest add", options)
            assert msg.ephemeral and msg.content.startswith(said), msg.content
        assert await world.bot.digests.list(stub.guild.id) == []


# ------------------------------------------------------------------------------ schedules
async def test_new_articles_appear_in_the_next_digest_exactly_once(world: World) -> None:
    stub = world.stub
    async with world.running():
        digest_id = await world.add()
        world.clock.now = T0 + timedelta(hours=1)
        first = await world.arrive("Highsnobiety Two", "Engadget")

        preview = await world.run("digest preview", {"digest": digest_id})
        assert preview.ephemeral and "2 new articles" in text_of(preview)
        assert world.posts() == []  # a preview posts nothing

        assert await world.tick(NINE - timedelta(minutes=1)) == []
        [sent] = await world.tick(NINE)
        assert (sent.status, sent.articles) == ("sent", 2)
        [post] = world.posts()
        assert post.id == sent.message_id and post.embeds[0]["title"] == f"Digest: {QUERY}"
        assert "Engadget" in text_of(post) and "Highsnobiety Two" in text_of(post)
        assert "Now covered by 5 outlets, first The Verge" in text_of(post)
        assert post.nonce and post.nonce.startswith("d")
        assert post.data["nonce"] == post.nonce  # sent with enforce_nonce (see the request)
        [request] = [r for r in stub.requests_to("POST", r"/messages$") if r.body.get("nonce")]
        assert request.body["enforce_nonce"] is True
        assert stub.rejections == []

        assert await world.tick(NINE + timedelta(minutes=1)) == []  # the slot is done
        world.clock.now = NINE + timedelta(hours=2)
        second = await world.arrive("Gizmodo")
        [sent] = await world.tick(NINE + timedelta(days=1))
        assert (sent.status, sent.articles) == ("sent", 1)
        posts = world.posts()
        assert len(posts) == 2 and "Gizmodo" in text_of(posts[1])
        assert "Engadget" not in text_of(posts[1])  # never an article already delivered
        [quiet] = await world.tick(NINE + timedelta(days=2))
        assert quiet.status == "nothing-new" and len(world.posts()) == 2  # quiet: no post

        # send-now with nothing new says so; pause stops the slots; resume starts them again.
        now = await world.run("digest send-now", {"digest": digest_id})
        assert now.embeds[0]["title"] == f"Nothing new for digest #{digest_id}"
        await world.run("digest pause", {"digest": digest_id})
        world.clock.now = NINE + timedelta(days=2, hours=1)
        await world.arrive("Wired Two")
        assert await world.tick(NINE + timedelta(days=3)) == []
        listed = text_of(await world.run("digest list"))
        assert "paused" in listed
        await world.run("digest resume", {"digest": digest_id})
        [sent] = await world.tick(NINE + timedelta(days=4))
        assert sent.status == "sent" and "Wired Two" in text_of(world.posts()[-1])
        assert len(first | second) == 3 and len(world.posts()) == 3
        world.clock.now = NINE + timedelta(days=4, hours=1)
        await world.arrive("Ars Technica")
        now = await world.run("digest send-now", {"digest": digest_id})
        assert now.embeds[0]["title"] == f"Digest #{digest_id} posted"
        assert f"Posted in <#{stub.channel.id}>: 1 new article." in now.embeds[0]["description"]
        assert "Ars Technica" in text_of(world.posts()[-1]) and len(world.posts()) == 4
        [quiet] = await world.tick(NINE + timedelta(days=5))
        assert quiet.status == "nothing-new"  # send-now's articles aren't sent again
        removed = await world.run("digest remove", {"digest": digest_id})
        assert removed.embeds[0]["title"] == f"Digest #{digest_id} removed"
        assert "No digests yet" in text_of(await world.run("digest list"))


async def test_a_daily_digest_posts_at_its_local_time_across_dst(world: World) -> None:
    world.clock.now = datetime(2024, 3, 29, 12, 0, tzinfo=UTC)  # Berlin springs forward on the 31st
    async with world.running():
        await world.add(time="09:00", timezone="Europe/Berlin", quiet=False)
        posted: list[datetime] = []
        moment = world.clock.now
        while moment < datetime(2024, 4, 1, 12, 0, tzinfo=UTC):
            moment += timedelta(minutes=30)
            if any(o.status == "sent" for o in await world.tick(moment)):
                posted.append(moment)
        assert posted == [
            datetime(2024, 3, 30, 8, 0, tzinfo=UTC),  # 09:00 CET
            datetime(2024, 3, 31, 7, 0, tzinfo=UTC),  # 09:00 CEST
            datetime(2024, 4, 1, 7, 0, tzinfo=UTC),
        ]
        posts = world.posts()
        assert len(posts) == 3
        assert all("Nothing new since" in p.embeds[0]["description"] for p in posts)  # quiet off
        assert (
            posts[0]
            .embeds[0]["footer"]["text"]
            .startswith("Coverage Bot · daily at 09:00 (Europe/Berlin) · ref ")
        )


async def test_downtime_across_two_slots_yields_one_catch_up_digest(world: World) -> None:
    async with world.running():
        digest_id = await world.add()
        await world.tick(NINE)
        assert world.posts() == []  # nothing new yet, and the digest is quiet
    # The bot is down; files land; the 09:00 slots of March 3rd and 4th pass unseen.
    world.write("Engadget")
    world.write("Gizmodo")
    world.clock.now = NINE + timedelta(days=2, hours=3)
    async with world.running() as started:
        assert [(o.subscription_id, o.status, o.articles) for o in started] == [
            (digest_id, "sent", 2)
        ]
        [post] = world.posts()
        assert "Engadget" in text_of(post) and "Gizmodo" in text_of(post)
        assert await world.tick(NINE + timedelta(days=2, hours=4)) == []
        [quiet] = await world.tick(NINE + timedelta(days=3))  # the next slot: nothing new
        assert quiet.status == "nothing-new" and len(world.posts()) == 1


async def test_a_lost_answer_past_the_nonce_window_is_found_in_history(world: World) -> None:
    stub = world.stub
    async with world.running():
        await world.add()
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        # Discord creates the message but the answer is lost (a 503 discord.py doesn't retry).
        stub.fail_next("POST", rf"^/channels/{stub.channel.id}/messages$", status=503, after=True)
        [retrying] = await world.tick(NINE)
        assert retrying.status == "retrying"
        [posted] = world.posts()
        # Ten minutes on, Discord no longer dedups the nonce: the digest is looked for by the
        # marker in its footer, found, and recorded without a second post.
        [found] = await world.tick(NINE + timedelta(minutes=10))
        assert (found.status, found.recovered, found.message_id) == ("sent", True, posted.id)
        assert world.posts() == [posted]
        assert len(stub.requests_to("GET", rf"^/channels/{stub.channel.id}/messages$")) == 1
        assert await world.tick(NINE + timedelta(minutes=11)) == []


# ------------------------------------------------------------------------------ failures
async def test_deleted_channel_and_closed_dms_mark_failing_then_pause(world: World) -> None:
    stub = world.stub
    doomed = await stub.add_channel("doomed")
    carol = stub.add_user("carol")
    stub.close_dms(carol)
    async with world.running():
        digest_id = await world.add(channel=doomed)
        followed = await world.run("follow", {"query": QUERY}, user=carol)
        assert followed.ephemeral and "your DMs are closed to me" in followed.embeds[0]["title"]
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        # Deleted unseen (the bot was offline): a CHANNEL_DELETE it hears deletes the digest.
        await stub.delete_channel(doomed, dispatch=False)

        for day in range(MAX_CONSECUTIVE_FAILURES):
            outcomes = await world.tick(NINE + timedelta(days=day))
            assert sorted((o.status, o.reason) for o in outcomes) == [
                ("failed", "the channel no longer exists"),
                ("failed", "the user's DMs are closed to the bot"),
            ]
            if day == 0:
                listed = text_of(await world.run("digest list"))
                assert "failing (1 time): the channel no longer exists" in listed
                mine = text_of(await world.run("follows", user=carol, guild=False))
                assert "failing (1 time): the user's DMs are closed to the bot" in mine
        listed = text_of(await world.run("digest list"))
        assert f"#{digest_id}" in listed and "paused — paused after 5 failed deliveries" in listed
        mine = text_of(await world.run("follows", user=carol, guild=False))
        assert "paused — paused after 5 failed deliveries" in mine

        # Paused: no more attempts, no crash loop.
        attempts = len(stub.requests_to("POST", r"/channels/\d+/messages$"))
        for day in range(MAX_CONSECUTIVE_FAILURES, MAX_CONSECUTIVE_FAILURES + 3):
            assert await world.tick(NINE + timedelta(days=day)) == []
        assert len(stub.requests_to("POST", r"/channels/\d+/messages$")) == attempts
        assert world.posts(doomed) == [] and world.posts(stub.dm_channel(carol)) == []


async def test_a_permission_lost_unnoticed_is_named_from_discords_answer(world: World) -> None:
    stub = world.stub
    async with world.running():
        digest_id = await world.add(quiet=False)
        # Revoked without a gateway event: the bot's cache still says it may post, so the
        # reason comes from Discord's 403 (50013 → Send Messages, 50001 → View Channel).
        await stub.set_bot_overwrite(stub.channel, deny=P.SEND_MESSAGES, dispatch=False)
        [failed] = await world.tick(NINE)
        assert failed.reason == "the bot is missing the Send Messages permission in this channel"
        await stub.set_bot_overwrite(stub.channel, deny=P.VIEW_CHANNEL, dispatch=False)
        [failed] = await world.tick(NINE + timedelta(days=1))
        assert failed.reason == "the bot is missing the View Channel permission in this channel"
        await stub.set_bot_overwrite(stub.channel, deny=0, dispatch=False)
        [sent] = await world.tick(NINE + timedelta(days=2))
        assert sent.status == "sent"  # a delivery that works clears the failures
        [sub] = await world.bot.digests.list(stub.guild.id)
        assert (sub.id, sub.failing_reason, sub.consecutive_failures) == (digest_id, None, 0)


def http_error(status: int, code: int) -> discord.HTTPException:
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    if status >= 500:
        kind = discord.DiscordServerError
    response = SimpleNamespace(status=status, reason="stub")
    return kind(response, {"code": code, "message": "stub"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code", "target", "missing", "expected"),
    [
        (404, 10003, Target.channel(1), None, TargetGone("the channel no longer exists")),
        (404, 10013, Target.dm(1), None, TargetGone("the user no longer exists")),
        (403, 50013, Target.channel(1), "Embed Links", MissingPermission("Embed Links")),
        (403, 50013, Target.channel(1), None, MissingPermission("Send Messages")),
        (403, 50001, Target.channel(1), None, MissingPermission("View Channel")),
        (403, 50007, Target.dm(1), None, DMsClosed()),
        (400, 50033, Target.dm(1), None, TargetGone("the user can no longer be reached")),
        (503, 0, Target.channel(1), None, TransientError("Discord answered 503")),
    ],
)
def test_discord_errors_become_typed_failures(
    status: int, code: int, target: Target, missing: str | None, expected: Exception
) -> None:
    failure = delivery_failure(http_error(status, code), target, missing)
    assert type(failure) is type(expected) and failure.reason == str(expected)
    assert failure.permanent == (status < 500)


async def test_follow_delivers_by_dm(world: World) -> None:
    stub = world.stub
    dave = stub.add_user("dave")
    dms = stub.dm_channel(dave)
    async with world.running():
        followed = await world.run(
            "follow", {"query": QUERY, "timezone": "America/New_York"}, user=dave, guild=False
        )
        follow_id = int(DIGEST_TITLE.search(followed.embeds[0]["title"]).group(1))  # type: ignore[union-attr]
        [welcome] = world.posts(dms)
        assert welcome.embeds[0]["title"] == f"Following: {QUERY}"
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        # 09:00 in New York is 14:00 UTC in early March (EST until the 10th): two hours on.
        assert await world.tick(T0 + timedelta(hours=1, minutes=59)) == []
        [sent] = await world.tick(T0 + timedelta(hours=2))
        assert sent.status == "sent"
        digest = world.posts(dms)[-1]
        assert "Engadget" in text_of(digest) and digest.nonce and digest.nonce.startswith("d")
        mine = text_of(await world.run("follows", user=dave, guild=False))
        assert f"#{follow_id}" in mine and "America/New_York" in mine
        gone = await world.run("unfollow", {"follow": follow_id}, user=dave, guild=False)
        assert gone.embeds[0]["title"] == f"Unfollowed #{follow_id}"
        stranger = await world.run("unfollow", {"follow": follow_id}, user=stub.member)
        assert stranger.ephemeral and stranger.content == f"There is no digest #{follow_id} here."
        assert stub.rejections == []


# ------------------------------------------------------------------------------ instant
async def test_instant_alerts_batch_a_burst_of_files_into_one_post(world: World) -> None:
    stub = world.stub
    async with world.running():
        await world.add(schedule="instant")
        world.clock.now = T0 + timedelta(minutes=5)
        world.window.hold = True
        urls: set[str] = set()
        # Fifty files in ten corpus change events, as the watcher's debounce would group a
        # folder being copied in. (Fifty one-file events make the same one post; the engine
        # takes seconds to apply that many changes one by one, too slow for this suite.)
        for event in range(10):
            paths = [str(world.write(f"Outlet {event * 5 + n:02d}")) for n in range(5)]
            change = await world.bot.corpus.refresh(paths)
            assert len(change.changes.added) == 5
            urls |= {change.snapshot.articles[i].url for i in change.changes.added}
        # The engine follows each change in turn and hands it on to the batcher.
        await world.bot.until_applied(
            lambda snap: sum(a.url in urls for a in snap.articles.values()) == 50
        )
        await world.window.opened(1)  # the burst's one window is open ...
        assert world.window.calls == 1 and world.posts() == []
        world.window.release()  # ... and closes
        post = await stub.wait_message(
            lambda m: m.source == "channel", channel=stub.channel, what="the instant alert"
        )
        # Once the delivery lock is free the alert is recorded: nothing more is new.
        [again] = await world.bot.digests.delivery.run_instant()
        assert again.status == "nothing-new"
        assert world.posts() == [post] and world.bot.digest_batcher.flushes == 1  # type: ignore[union-attr]
        assert "And 40 more" in text_of(post)  # max_items 10; the rest counted, with /search
        assert "/search query:clearview ice contract" in text_of(post)
        assert stub.rejections == []


async def test_the_batcher_rests_when_no_instant_subscription_needs_a_second_look(
    tmp_path: Path,
) -> None:
    """A scheduled run that saw lagging coverage must not keep re-waking the batcher."""
    corpus = CorpusDir(tmp_path)
    seed_story(corpus)
    corpus.load()
    store = await DigestStore.open(corpus.db)
    windows = 0

    async def window(_: float) -> None:
        nonlocal windows
        windows += 1

    try:
        delivery = make_delivery(store, corpus.engine, FakeSender(), Clock())
        delivery.behind = True  # as left by a scheduled run
        flushed = asyncio.Event()
        run_instant = delivery.run_instant

        async def observed() -> list[Outcome]:
            try:
                return await run_instant()
            finally:
                flushed.set()

        delivery.run_instant = observed  # type: ignore[method-assign]
        batcher = InstantBatcher(delivery, wait=window)
        task = asyncio.create_task(batcher.run())
        batcher.submit(corpus.refresh([more_clearview(corpus, "Engadget")]))
        await asyncio.wait_for(flushed.wait(), 5)
        for _ in range(10):  # a batcher woken again opens its next window within a few turns
            await asyncio.sleep(0)
        task.cancel()
        assert (windows, batcher.flushes, delivery.behind) == (1, 1, False)
    finally:
        await store.close()
        corpus.close()


# ------------------------------------------------------------------------------ the crash
def hold_digest_posts(stub: DiscordStub) -> asyncio.Event:
    """Make the stub create a digest message, then hold its answer until the event is set.

    Extends the stub from here (its REST routes are a table of handlers): a digest is a
    channel post whose nonce starts with "d" (the outbox's ``d{id}-{marker}``).
    """
    release = asyncio.Event()
    routes = stub._rest.routes
    for i, (method, template, rx, handler, auth) in enumerate(routes):
        if (method, template) == ("POST", "/channels/{channel_id}/messages"):

            async def held(req: Any, handler: Any = handler) -> Any:
                answer = await handler(req)
                if str((req.body or {}).get("nonce", "")).startswith("d"):
                    await release.wait()
                return answer

            routes[i] = (method, template, rx, held, auth)
    return release


def outbox(database: str) -> list[tuple[str, str, int | None]]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT state, nonce, message_id FROM digest_outbox").fetchall()


async def test_killed_after_discord_accepted_a_digest_posts_it_once(
    stub: DiscordStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(tmp_path, monkeypatch, stub, [SEEDS])
    database = settings.corpus.database
    # A digest added two days ago: its 09:00 UTC slot has passed, and the coverage the bot is
    # about to load for the first time is all new to it, so the bot posts a catch-up on start.
    store = await DigestStore.open(database)
    try:
        sub = await store.add(
            NewSubscription(
                Target.channel(stub.channel.id),
                QUERY,
                Schedule("daily", time(9, 0)),
                guild_id=stub.guild.id,
                created_by=stub.owner.id,
            ),
            datetime.now(UTC) - timedelta(days=2),
        )
    finally:
        await store.close()
    release = hold_digest_posts(stub)

    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=dict(os.environ),
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        posted = asyncio.ensure_future(
            stub.wait_message(
                lambda m: (m.nonce or "").startswith("d"),
                channel=stub.channel,
                what="the catch-up digest",
                timeout=60,
            )
        )
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait({posted, exited}, return_when=asyncio.FIRST_COMPLETED)
        assert posted.done(), f"the bot exited early:\n{log.read_text(errors='replace')}"
        digest = posted.result()
        # The stub created the message and holds its answer: the bot is waiting to record it.
        process.kill()
        assert await exited == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        release.set()
    [(state, nonce, message_id)] = outbox(database)
    assert (state, nonce, message_id) == ("pending", digest.nonce, None)

    # A new bot on the same database reconciles the outbox: the same nonce, Discord's dedup.
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        cog = cast(Digests, bot.get_cog("Digests"))
        started = await asyncio.wait_for(cog.wait_started(), 10)
        assert [(o.subscription_id, o.status, o.recovered, o.message_id) for o in started] == [
            (sub.id, "sent", True, digest.id)
        ]
        delivered = await bot.digests.store.get(sub.id)
        assert delivered is not None and delivered.last_delivered_at is not None
    assert [m.id for m in stub.messages if m.nonce == digest.nonce] == [digest.id]
    assert [m.id for m in stub.messages if m.source == "channel"] == [digest.id]
    sends = [r for r in stub.requests_to("POST", r"/messages$") if r.body.get("nonce") == nonce]
    assert [r.deduplicated for r in sends] == [False, True]
    assert outbox(database) == [("sent", digest.nonce, digest.id)]


# ------------------------------------------------------------------------------ first moments
def write_large_corpus(folder: Path, articles: int = 21_000, per_file: int = 1_500) -> None:
    """Old coverage, enough that the bot groups its stories in the background (20,000+)."""
    folder.mkdir()
    for start in range(0, articles, per_file):
        lines = [
            json.dumps(
                {
                    "title": f"Council minutes {i}: a contract for road works in ward {i % 97}",
                    "url": f"https://ward{i % 50}.example/minutes-{i}",
                    "outlet": f"Ward News {i % 50}",
                    "published": f"2019-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00Z",
                    "body": f"The council signed a contract for road works in ward {i % 97}.",
                }
            )
            for i in range(start, min(start + per_file, articles))
        ]
        (folder / f"minutes-{start:05d}.jsonl").write_text("\n".join(lines), encoding="utf-8")


async def test_subscriptions_made_before_the_digests_start_get_only_new_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub
) -> None:
    """A digest and a follow made the moment commands work, while 20k+ articles are still
    being grouped (so the digests' start-up has not noted the corpus yet): the old seed
    coverage matching their query is never posted; the next new article is."""
    live, large = tmp_path / "live", tmp_path / "large"
    live.mkdir()
    write_large_corpus(large)
    world = World(stub, configure(tmp_path, monkeypatch, stub, [SEEDS, large, live]), live)
    # Story grouping waits for the test: the subscriptions are made while it runs.
    grouping = threading.Event()
    cluster = Engine.cluster

    def held(engine: Engine) -> None:
        assert grouping.wait(30), "the test never let grouping go on"
        cluster(engine)

    monkeypatch.setattr(Engine, "cluster", held)
    dave = stub.add_user("dave")
    dms = stub.dm_channel(dave)
    timing = DigestTiming(clock=world.clock, interval=3600, wait=world.window)
    bot = StubBot(world.settings, guild_ready_timeout=0.05, digest_timing=timing)
    async with running_bot(bot, stub, token=world.settings.discord.token):
        cog = cast(Digests, bot.get_cog("Digests"))
        world._bot, world._cog = bot, cog
        assert len(bot.corpus.snapshot.articles) > 20_000 and not bot.stories_ready.is_set()
        await world.add(schedule="instant")
        await world.run("follow", {"query": QUERY, "schedule": "instant"}, user=dave, guild=False)
        assert cog.started is not None and not cog.started.done()  # start-up not run yet
        world.clock.now = T0 + timedelta(minutes=1)  # grouping takes a while
        grouping.set()
        started = await asyncio.wait_for(cog.wait_started(), 60)
        assert [o.status for o in started if o.status == "sent"] == []
        assert world.posts() == [] and [m.embeds[0]["title"] for m in world.posts(dms)] == [
            f"Following: {QUERY}"
        ]
        world.clock.now = T0 + timedelta(minutes=5)
        await world.arrive("Engadget")
        post = await stub.wait_message(
            lambda m: m.source == "channel", channel=stub.channel, what="the instant alert"
        )
        alert = await stub.wait_message(
            lambda m: m.source == "channel" and m.embeds[0]["title"] != f"Following: {QUERY}",
            channel=dms,
            what="the follow's alert",
        )
        for message in (post, alert):
            assert "engadget.example" in text_of(message)
            assert "theverge.com" not in text_of(message)  # the old seed coverage stays old
        assert stub.rejections == []
