"""Data at rest and in logs: private file modes, rows that go when their scope goes, and log
lines that name who and which command but not what was asked (unless configured).

The Discord side is the real CoverageBot against the loopback stub: GUILD_DELETE and
CHANNEL_DELETE arrive on its gateway like Discord's, and the tests wait for the bot's
``digests_forgotten`` event (dispatched once the rows are deleted), never for time.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import sqlite3
import stat
import tomllib
from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.app import CoverageBot
from bot.config import LoggingSettings, load_settings
from bot.console import _prompt_lines
from bot.digests.models import NewSubscription, Target
from bot.digests.schedule import Schedule
from bot.digests.store import DigestStore
from bot.store import connect
from tests.discord_stub import DiscordStub, running_bot
from tests.test_app_e2e import SEEDS, StubBot, configure
from tests.test_digests_e2e import DIGEST_TITLE, NINE, QUERY, World
from tests.test_digests_support import T0

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub) -> World:
    live = tmp_path / "live"
    live.mkdir()
    return World(stub, configure(tmp_path, monkeypatch, stub, [SEEDS, live]), live)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """What most systems run with: files 0644 and folders 0755 unless the code says otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------ file modes
@pytest.mark.usefixtures("permissive_umask")
async def test_the_running_bot_keeps_its_data_private(
    stub: DiscordStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(tmp_path, monkeypatch, stub, [SEEDS])
    database = Path(settings.corpus.database)
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        await stub.wait_commands_synced(False)  # the command-tree hash is written after it
        data = database.parent
        assert mode(data) == 0o700
        files = {p.name: mode(p) for p in data.iterdir() if not p.is_dir()}
        assert {"coverage.db", "coverage.db-wal", "coverage.db-shm", "command-tree.sha256"} <= set(
            files
        )
        assert files == dict.fromkeys(files, 0o600)
        # The search index's own files are tantivy's to create: its folder keeps them private.
        folders = {p.name: mode(p) for p in data.iterdir() if p.is_dir()}
        assert folders == {"coverage.db.index": 0o700}


@pytest.mark.usefixtures("permissive_umask")
def test_files_left_readable_by_an_older_version_are_tightened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "coverage.db"
    # An older version's database, still open elsewhere, so its -wal and -shm are there too.
    older = sqlite3.connect(database)
    try:
        older.execute("PRAGMA journal_mode=WAL")
        older.execute("CREATE TABLE t (x)")
        older.execute("INSERT INTO t VALUES (1)")
        older.commit()
        sides = [data / "coverage.db-wal", data / "coverage.db-shm"]
        assert mode(data) == 0o755 and {mode(p) for p in [database, *sides]} == {0o644}
        config = tmp_path / "config.toml"
        config.write_text(
            f"[corpus]\npaths = [{json.dumps(str(SEEDS))}]\n"
            f"database = {json.dumps(str(database))}\n",
            encoding="utf-8",
        )
        assert cli.main(["--config", str(config), "search", "clearview", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["results"]
        assert mode(data) == 0o700
        assert {p.name: mode(p) for p in [database, *sides]} == {
            "coverage.db": 0o600,
            "coverage.db-wal": 0o600,
            "coverage.db-shm": 0o600,
        }
    finally:
        older.close()


@pytest.mark.usefixtures("permissive_umask")
def test_a_database_in_a_shared_folder_is_private_but_the_folder_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    monkeypatch.chdir(work)
    connect("coverage.db").close()
    assert mode(work) == 0o755  # the working directory is not the bot's to lock
    assert mode(work / "coverage.db") == 0o600


@pytest.mark.usefixtures("permissive_umask")
def test_the_console_history_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("readline")
    history = tmp_path / "data" / "console-history"

    def typed(prompt: str = "") -> str:
        raise EOFError  # the user pressed ^D at once

    monkeypatch.setattr(builtins, "input", typed)
    assert list(_prompt_lines(history)) == []
    assert mode(history.parent) == 0o700 and mode(history) == 0o600


# ------------------------------------------------------------------------------ scopes
def rows(database: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        return db.execute(sql, params).fetchall()


def about_target(database: str, target: Target) -> dict[str, int]:
    """How many rows of each digest table are about ``target``."""
    key = target.key
    return {
        "subscriptions": rows(
            database, "SELECT count(*) FROM digest_subscriptions WHERE target = ?", key
        )[0][0],
        "outbox": rows(database, "SELECT count(*) FROM digest_outbox WHERE target = ?", key)[0][0],
        "delivered": rows(database, "SELECT count(*) FROM digest_delivered WHERE target = ?", key)[
            0
        ][0],
    }


def forgotten(bot: CoverageBot, scope: str, scope_id: int) -> asyncio.Future[Any]:
    """The bot's word that a scope's rows are deleted (registered now, awaited later)."""
    return asyncio.ensure_future(
        bot.wait_for(
            "digests_forgotten", check=lambda s, i, _: (s, i) == (scope, scope_id), timeout=5
        )
    )


async def test_removed_from_a_server_forgets_its_digests_but_not_during_an_outage(
    world: World,
) -> None:
    stub = world.stub
    news = await stub.add_channel("news")
    old = await stub.add_channel("old")
    carol = stub.add_user("carol")
    database = world.settings.corpus.database
    async with world.running():
        general_id = await world.add()
        await world.add(channel=news)
        old_id = await world.add(channel=old)
        await world.run("follow", {"query": QUERY}, user=carol)  # made in the server
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        sent = await world.tick(NINE)
        assert {o.status for o in sent} == {"sent"} and len(sent) == 4
        await world.run("digest remove", {"digest": old_id})  # its delivery log stays, for now
        channels = [Target.channel(c.id) for c in (stub.channel, news, old)]
        before = {t: about_target(database, t) for t in channels}
        assert before[Target.channel(stub.channel.id)] == {
            "subscriptions": 1,
            "outbox": 1,
            "delivered": 1,
        }
        assert before[Target.channel(old.id)]["delivered"] == 1

        # An outage is not a removal: nothing is deleted, and the digests go on after it.
        bot = world.bot
        down = asyncio.ensure_future(bot.wait_for("guild_unavailable", timeout=5))
        await stub.guild_outage()
        await down
        up = asyncio.ensure_future(bot.wait_for("guild_available", timeout=5))
        await stub.guild_outage(over=True)
        await up
        assert {t: about_target(database, t) for t in channels} == before
        assert general_id in [s.id for s in await bot.digests.list(stub.guild.id)]

        done = forgotten(bot, "server", stub.guild.id)
        await stub.remove_bot()
        assert (await done)[2] == 2
        assert await bot.digests.list(stub.guild.id) == []
        for target in channels:
            assert about_target(database, target) == dict.fromkeys(before[target], 0), target
        assert rows(
            database, "SELECT count(*) FROM digest_subscriptions WHERE guild_id = ?", stub.guild.id
        ) == [(0,)]
        # Carol's follow is hers (it goes to her DMs): it stays, no longer naming the server.
        [follow] = await bot.digests.follows(carol.id)
        assert follow.guild_id is None
        assert about_target(database, Target.dm(carol.id))["delivered"] == 1


async def test_a_server_that_removed_the_bot_while_it_was_down_is_forgotten_at_start(
    world: World,
) -> None:
    stub = world.stub
    database = world.settings.corpus.database
    left_guild, left_channel, user = 9_001, 9_002, 9_003
    store = await DigestStore.open(database)
    try:
        daily = Schedule("daily", time(9, 0))
        left = await store.add(
            NewSubscription(Target.channel(left_channel), QUERY, daily, guild_id=left_guild),
            T0,
        )
        row = await store.enqueue(left, T0, ["a1"], "[]", "m", T0)
        await store.record_delivery(row.id, 1, T0)
        follow = await store.add(
            NewSubscription(Target.dm(user), QUERY, daily, guild_id=left_guild, created_by=user),
            T0,
        )
        here = await store.add(
            NewSubscription(Target.channel(stub.channel.id), QUERY, daily, guild_id=stub.guild.id),
            T0,
        )
    finally:
        await store.close()
    assert about_target(database, Target.channel(left_channel)) == {
        "subscriptions": 1,
        "outbox": 1,
        "delivered": 1,
    }
    async with world.running():  # returns once the digests have started
        assert about_target(database, Target.channel(left_channel)) == dict.fromkeys(
            ("subscriptions", "outbox", "delivered"), 0
        )
        kept = await world.bot.digests.store.get(follow.id)
        assert kept is not None and kept.guild_id is None  # the user's, to their DMs
        assert [s.id for s in await world.bot.digests.list(stub.guild.id)] == [here.id]


async def test_a_deleted_channel_forgets_its_digests(world: World) -> None:
    stub = world.stub
    doomed = await stub.add_channel("doomed")
    database = world.settings.corpus.database
    async with world.running():
        await world.add(channel=doomed)
        kept = await world.add()
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        assert [o.status for o in await world.tick(NINE)] == ["sent", "sent"]
        gone, general = Target.channel(doomed.id), Target.channel(stub.channel.id)
        assert about_target(database, gone) == {"subscriptions": 1, "outbox": 1, "delivered": 1}

        done = forgotten(world.bot, "channel", doomed.id)
        await stub.delete_channel(doomed)
        assert (await done)[2] == 1
        assert about_target(database, gone) == {"subscriptions": 0, "outbox": 0, "delivered": 0}
        assert about_target(database, general) == {"subscriptions": 1, "outbox": 1, "delivered": 1}
        assert [s.id for s in await world.bot.digests.list(stub.guild.id)] == [kept]


async def test_unfollow_leaves_nothing_about_the_user(world: World) -> None:
    stub = world.stub
    dave = stub.add_user("dave")
    database = world.settings.corpus.database
    mine = Target.dm(dave.id)

    async def follow(query: str) -> int:
        msg = await world.run("follow", {"query": query}, user=dave, guild=False)
        return int(DIGEST_TITLE.search(msg.embeds[0]["title"]).group(1))  # type: ignore[union-attr]

    async with world.running():
        first = await follow(QUERY)
        second = await follow("clearview")
        world.clock.now = T0 + timedelta(hours=1)
        await world.arrive("Engadget")
        outcomes = {o.subscription_id: o.status for o in await world.tick(NINE)}
        assert outcomes[first] == "sent"  # the article goes once to the DMs, by the first
        assert about_target(database, mine) == {"subscriptions": 2, "outbox": 1, "delivered": 1}

        gone = await world.run("unfollow", {"follow": first}, user=dave, guild=False)
        assert gone.embeds[0]["title"] == f"Unfollowed #{first}"
        assert about_target(database, mine) == {"subscriptions": 1, "outbox": 0, "delivered": 0}
        await world.run("unfollow", {"follow": second}, user=dave, guild=False)
        assert about_target(database, mine) == {"subscriptions": 0, "outbox": 0, "delivered": 0}
        assert rows(
            database, "SELECT count(*) FROM digest_subscriptions WHERE created_by = ?", dave.id
        ) == [(0,)]
        assert await world.bot.digests.follows(dave.id) == []


# ------------------------------------------------------------------------------ logs
def test_logging_queries_is_documented_and_off_by_default(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data["logging"]) == set(LoggingSettings.__dataclass_fields__)
    assert load_settings(EXAMPLE, env={}).logging == LoggingSettings(queries=False)
    config = tmp_path / "config.toml"
    config.write_text("[logging]\nqueries = true\n", encoding="utf-8")
    assert load_settings(config, env={}).logging.queries is True


@pytest.mark.parametrize("queries", [False, True])
async def test_a_failed_lookup_is_logged_by_user_and_command_not_by_query(
    stub: DiscordStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    queries: bool,
) -> None:
    configure(tmp_path, monkeypatch, stub, [SEEDS])
    if queries:
        config = Path(os.environ["COVERAGE_BOT_CONFIG"])
        config.write_text(config.read_text() + "[logging]\nqueries = true\n", encoding="utf-8")
    settings = load_settings()
    secret = "clearview ice contract"

    def broken(query: str) -> None:
        raise RuntimeError("index on fire")

    async def no_suggestions(current: str) -> None:
        raise RuntimeError("suggestions on fire")

    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        monkeypatch.setattr(bot.answers.engine, "coverage", broken)
        monkeypatch.setattr(bot.answers, "suggest", no_suggestions)
        with caplog.at_level(logging.ERROR):
            handle = await stub.invoke("coverage", {"query": secret}, user=stub.member)
            msg = await handle.message()
            assert msg.content.startswith("Something went wrong")
            reply = await stub.dm_message(stub.other, f"coverage {secret}")
            assert reply.content.startswith("Something went wrong")
            choices = await stub.autocomplete(
                "summary", {"query": secret}, focused="query", user=stub.member
            )
            assert choices == []
    lines = {
        r.name: r.getMessage()
        for r in caplog.records
        if r.name in ("bot.app", "cogs.dms", "cogs._choices")
    }
    assert lines.keys() == {"bot.app", "cogs.dms", "cogs._choices"}
    assert lines["bot.app"].startswith(f"/coverage by user {stub.member.id}")
    assert lines["cogs.dms"].startswith(f"DM coverage by user {stub.other.id}")
    assert lines["cogs._choices"].startswith(f"query autocomplete by user {stub.member.id}")
    for line in lines.values():
        assert (secret in line) is queries, line
    if queries:
        assert "private=" not in lines["bot.app"]  # options Discord sent, nothing invented
        assert f"query={secret!r}" in lines["bot.app"]
