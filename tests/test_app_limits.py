"""Who may use what, and how often: /corpus for the operator, one budget per person everywhere.

The real CoverageBot against the loopback Discord stub, as in test_app_e2e. Time is a clock the
tests move (``UserCooldown(clock=...)``), so a cooldown window passes without waiting; nothing
sleeps: every wait is on the stub's state.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import bot.render
from bot.app import (
    COOLDOWN_PER,
    COOLDOWN_RATE,
    CORPUS_COOLDOWN_PER,
    CORPUS_COOLDOWN_RATE,
    CoverageBot,
    UserCooldown,
)
from bot.config import Settings
from bot.corpus.model import Problem
from bot.render import ProblemPages
from tests.discord_stub import DiscordStub, P, SentMessage, StubUser, running_bot
from tests.test_app_e2e import SEEDS, StubBot, answer, button, configure

SLOW_DOWN = re.compile(r"Slow down a little — try again in \d+ s\.")
NO_MATCH = "clearview moon landing"  # "not in this coverage", with "did you mean" buttons
BROKEN = 25  # /corpus errors: three pages of ten


class Clock:
    """Seconds since the epoch, moved by hand (never 0: discord.py reads 0 as "now")."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub) -> Settings:
    """The seeds plus unreadable files; the stub's server is the operator's admin server."""
    bad = tmp_path / "coverage" / "bad"
    bad.mkdir(parents=True)
    for i in range(BROKEN):
        (bad / f"broken-{i:02d}.json").write_text('{"title": "oops", ', encoding="utf-8")
    return configure(tmp_path, monkeypatch, stub, [SEEDS, bad.parent])


def admin_guilds(settings: Settings, *ids: int) -> Settings:
    return replace(settings, discord=replace(settings.discord, admin_guild_ids=ids))


@asynccontextmanager
async def started(
    stub: DiscordStub, settings: Settings, clock: Clock
) -> AsyncIterator[CoverageBot]:
    bot = StubBot(
        settings,
        guild_ready_timeout=0.05,
        cooldown=UserCooldown(clock=clock),
        corpus_cooldown=UserCooldown(CORPUS_COOLDOWN_RATE, CORPUS_COOLDOWN_PER, clock=clock),
    )
    async with running_bot(bot, stub, token=settings.discord.token):
        yield bot


@pytest_asyncio.fixture
async def app(stub: DiscordStub, settings: Settings, clock: Clock) -> AsyncIterator[CoverageBot]:
    async with started(stub, admin_guilds(settings, stub.guild.id), clock) as bot:
        yield bot


def refused(msg: SentMessage) -> bool:
    """The /corpus refusal: private, in words, and nothing about the corpus."""
    return msg.ephemeral and not msg.embeds and msg.content.startswith("/corpus is for the bot's")


def suggestion(msg: SentMessage) -> dict[str, Any]:
    return next(c for c in msg.walk_components() if c["type"] == 2)


def dm_posts(stub: DiscordStub, user: StubUser) -> list[SentMessage]:
    return [m for m in stub.messages if m.channel_id == stub.dm_channel(user).id]


# ------------------------------------------------------------------------------ /corpus
async def test_corpus_refuses_managers_of_servers_that_are_not_the_operators(
    stub: DiscordStub, settings: Settings, clock: Clock
) -> None:
    # No admin servers: the stub's server is a stranger's that added the bot.
    async with started(stub, admin_guilds(settings), clock):
        manager = stub.add_user("mallory", permissions=P.MANAGE_GUILD)
        for command in ("corpus stats", "corpus errors", "corpus reload"):
            msg = await answer(stub, command, user=manager)
            assert refused(msg), (command, msg.content)
        # The application's owner and `owner_ids` are the operator wherever they are.
        assert (await answer(stub, "corpus stats", user=stub.owner)).embeds
        by_config = await answer(stub, "corpus stats", user=stub.other, check_permissions=False)
        assert by_config.embeds
    assert stub.rejections == []


async def test_corpus_needs_the_bot_installed_in_the_admin_server(
    stub: DiscordStub, app: CoverageBot
) -> None:
    manager = stub.add_user("maria", permissions=P.MANAGE_GUILD)
    # The same manager through a user install (the app authorised by them, not the server):
    # Discord sends their Manage Server all the same, and it must not count.
    user_install = await answer(
        stub, "corpus stats", user=manager, integration_owners={"1": str(manager.id)}
    )
    assert refused(user_install)
    # Without Manage Server, the admin server itself is no pass.
    plain = await answer(stub, "corpus stats", user=stub.member, check_permissions=False)
    assert refused(plain)
    # Through the bot's own install there, the manager is an operator.
    stats = await answer(stub, "corpus stats", user=manager)
    assert stats.ephemeral and stats.embeds[0]["title"] == "Corpus"
    assert stub.rejections == []


async def test_corpus_has_a_cooldown_that_says_when_to_try_again(
    stub: DiscordStub, app: CoverageBot, clock: Clock
) -> None:
    stranger = stub.add_user("mallory")
    for _ in range(CORPUS_COOLDOWN_RATE + 2):  # refusals spend nothing
        assert refused(await answer(stub, "corpus stats", user=stranger, check_permissions=False))
    for command in ["corpus errors"] + ["corpus stats"] * (CORPUS_COOLDOWN_RATE - 1):
        assert (await answer(stub, command, user=stub.owner)).embeds, command
    handle = await stub.invoke("corpus reload", user=stub.owner)
    limited = await handle.message()
    assert (await handle.response())["type"] == 4  # answered at once: no re-scan started
    assert limited.ephemeral and not limited.embeds
    assert limited.content == (
        f"/corpus is limited to {CORPUS_COOLDOWN_RATE} uses every {CORPUS_COOLDOWN_PER:g} s — "
        f"try again in {CORPUS_COOLDOWN_PER:g} s."
    )
    clock.advance(CORPUS_COOLDOWN_PER / 2)
    later = await answer(stub, "corpus stats", user=stub.owner)
    assert later.content.endswith(f"try again in {CORPUS_COOLDOWN_PER / 2:g} s.")
    clock.advance(CORPUS_COOLDOWN_PER / 2 + 1)
    reloaded = await (await stub.invoke("corpus reload", user=stub.owner)).message()
    assert reloaded.embeds[0]["title"] == "Corpus reloaded"
    # The lookups' budget is another one.
    assert (await answer(stub, "summary", {"query": "clearview"}, user=stub.owner)).embeds
    assert stub.rejections == []


async def test_corpus_errors_renders_a_page_only_when_it_is_shown(
    stub: DiscordStub, app: CoverageBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    make_card = bot.render.make_card

    def counted(title: str, *args: Any, **kwargs: Any) -> bot.render.Card:
        card = make_card(title, *args, **kwargs)
        if title.startswith("Corpus errors"):
            rendered.append(card.footer or "")
        return card

    monkeypatch.setattr(bot.render, "make_card", counted)
    errors = await answer(stub, "corpus errors", user=stub.owner)
    assert errors.embeds[0]["title"] == f"Corpus errors ({BROKEN})"
    assert "broken-00.json" in errors.embeds[0]["description"]
    assert rendered == ["Page 1/3"]  # not every page up front, held for the view's 5 minutes

    msg = errors
    for expected in ("Page 2/3", "Page 3/3"):
        turned = await stub.click(msg, button(msg, ":next")["custom_id"], user=stub.owner)
        msg = await turned.message()
        assert msg.embeds[0]["footer"]["text"] == expected
    assert "broken-24.json" in msg.embeds[0]["description"]
    back = await (
        await stub.click(msg, button(msg, ":prev")["custom_id"], user=stub.owner)
    ).message()
    assert back.embeds[0]["footer"]["text"] == "Page 2/3"
    # Each page drawn when shown, and drawn again when shown again: nothing kept.
    assert rendered == ["Page 1/3", "Page 2/3", "Page 3/3", "Page 2/3"]
    assert stub.rejections == []


def test_problem_pages_render_from_the_list_they_are_given() -> None:
    problems = [Problem(f"/srv/coverage/f{i}.json", i + 1, "not JSON") for i in range(50_000)]
    pages = ProblemPages(problems)
    assert pages.problems is problems  # the snapshot's own list, not a copy
    assert len(pages) == 5_000
    last = pages[-1]
    assert last.footer == "Page 5000/5000" and "f49999.json:50000" in last.description
    assert [p.footer for p in pages[:2]] == ["Page 1/5000", "Page 2/5000"]
    with pytest.raises(IndexError):
        pages[5_000]
    empty = ProblemPages([])
    assert len(empty) == 1 and empty[0].description == "No file has an error."


# ------------------------------------------------------------------------------ "did you mean"
async def test_did_you_mean_clicks_spend_the_clickers_budget(
    stub: DiscordStub, app: CoverageBot, clock: Clock
) -> None:
    asked = await answer(stub, "summary", {"query": NO_MATCH}, user=stub.member)
    assert asked.embeds[0]["title"] == "Not in this coverage"
    first = suggestion(asked)

    # Someone out of budget clicks: told when to try again, privately, and no answer is run.
    carol = stub.add_user("carol")
    for _ in range(COOLDOWN_RATE):
        assert (await answer(stub, "summary", {"query": "clearview"}, user=carol)).embeds
    limited = await (await stub.click(asked, first["custom_id"], user=carol)).message()
    assert limited.ephemeral and not limited.embeds and SLOW_DOWN.fullmatch(limited.content)

    # Clicks alone spend the budget too, the clicker's and not the asker's.
    dave = stub.add_user("dave")
    for _ in range(COOLDOWN_RATE):
        theirs = await (await stub.click(asked, first["custom_id"], user=dave)).message()
        assert theirs.ephemeral and theirs.embeds[0]["title"].startswith(first["label"].rstrip("…"))
    limited = await (await stub.click(asked, first["custom_id"], user=dave)).message()
    assert SLOW_DOWN.fullmatch(limited.content) and not limited.embeds
    clock.advance(COOLDOWN_PER + 1)
    again = await (await stub.click(asked, first["custom_id"], user=dave)).message()
    assert again.embeds[0]["title"].startswith(first["label"].rstrip("…"))

    # The asker has spent one request: their own click still runs, in place.
    mine = await stub.click(asked, first["custom_id"], user=stub.member)
    assert (await mine.response())["type"] == 7
    assert (await mine.message()).embeds[0]["title"].startswith(first["label"].rstrip("…"))
    assert stub.message(asked.id).embeds[0]["title"].startswith(first["label"].rstrip("…"))
    assert stub.rejections == []


# ------------------------------------------------------------------------------ DMs
async def test_dms_share_the_budget_and_a_flood_gets_one_slow_down(
    stub: DiscordStub, app: CoverageBot, clock: Clock
) -> None:
    erin = stub.add_user("erin")
    # Five requests in every form: a slash command, then DMs that each get a reply, the
    # unknown command and the empty one included.
    assert (await answer(stub, "summary", {"query": "clearview"}, user=erin)).embeds
    assert (await stub.dm_message(erin, "help")).embeds
    assert (await stub.dm_message(erin, "/frobnicate now")).content.startswith("I don't know")
    assert (await stub.dm_message(erin, "summary")).content.startswith("summary what?")
    assert (await stub.dm_message(erin, "How much is ICE paying Clearview?")).embeds
    assert len(dm_posts(stub, erin)) == 4

    # The budget is gone: one "slow down", then silence, whatever is sent.
    flood = ["summary clearview", "/frobnicate", "summary", "help", "who covered clearview?"] * 4
    for text in flood:
        await stub.send_user_message(stub.dm_channel(erin), erin, text)
    notice = await stub.wait_message(
        lambda m: m.content.startswith("Slow down"), channel=stub.dm_channel(erin)
    )
    assert SLOW_DOWN.fullmatch(notice.content)

    # A slash command in the same window is refused too (an interaction is always answered).
    limited = await answer(stub, "summary", {"query": "clearview"}, user=erin)
    assert limited.ephemeral and SLOW_DOWN.fullmatch(limited.content)

    # Once the window resets, the next DM is answered, and it is the only post since the notice.
    clock.advance(COOLDOWN_PER + 1)
    reply = await stub.dm_message(erin, "summary clearview ice contract")
    assert reply.embeds and "Clearview" in reply.embeds[0]["title"]
    assert dm_posts(stub, erin)[4:] == [notice, reply]

    # A new window that runs out gets its own single notice.
    for _ in range(COOLDOWN_RATE - 1):
        await stub.dm_message(erin, "help")
    for _ in range(3):
        await stub.send_user_message(stub.dm_channel(erin), erin, "help")
    second = await stub.wait_message(
        lambda m: m.content.startswith("Slow down"), channel=stub.dm_channel(erin), after=reply.id
    )
    clock.advance(COOLDOWN_PER + 1)
    last = await stub.dm_message(erin, "help")
    posts = dm_posts(stub, erin)
    assert posts[-2:] == [second, last] and len(posts) == 4 + 2 + COOLDOWN_RATE - 1 + 2
    assert stub.rejections == []


def test_first_refusal_is_once_per_window() -> None:
    clock = Clock()
    cooldown = UserCooldown(rate=1, per=10, clock=clock)
    assert cooldown.hit(1) is None
    assert cooldown.hit(1) is not None and cooldown.first_refusal(1)
    assert cooldown.hit(1) is not None and not cooldown.first_refusal(1)
    clock.advance(11)
    assert cooldown.hit(1) is None
    assert cooldown.hit(1) is not None and cooldown.first_refusal(1)
    assert not cooldown.first_refusal(2)  # never refused
