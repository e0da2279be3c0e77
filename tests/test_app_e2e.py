"""End to end: the real CoverageBot (discord.py client) against the Discord-compatible stub.

The bot finds the stub the way it would find a proxy in production: DISCORD_API_BASE,
DISCORD_GATEWAY_URL and DISCORD_TOKEN in the environment, read by load_settings. The corpus is
the repo's seeds/ plus a folder built here (a dozen quokka articles to page through, an article
too big and too hostile for any embed, some broken files for /corpus errors).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

import cogs.views
from bot.app import CoverageBot
from bot.config import Settings, load_settings
from bot.engine.sentences import SentenceModel
from bot.engine.word_vectors import ENVIRONMENT_SWITCH, WordVectors
from tests.discord_stub import (
    CommandUnavailable,
    DiscordStub,
    Intents,
    P,
    SentMessage,
    StubError,
    check_message,
    running_bot,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# The seeds' links as their webUrl gives them (www. included): what a card shows.
VERGE = "https://www.theverge.com/2020/8/14/21368930/clearview-ai-ice-contract-privacy-immigration"
BUSINESS_INSIDER = (
    "https://www.businessinsider.com/ice-clearview-ai-sign-contract-facial-recognition-2020-8"
)
URL_IN_MARKDOWN = re.compile(r"\]\(([^)\s]+)\)|<([a-z][a-z0-9+.-]*:[^>\s]+)>")


# ------------------------------------------------------------------------------ corpus
def write_extra_corpus(folder: Path, broken: int = 12) -> None:
    """Quokkas to page through, a hostile giant, and ``broken`` unreadable files."""
    folder.mkdir(parents=True, exist_ok=True)
    hostile = (
        "# Heading\n> quote\n**bold** __under__ ~~strike~~ `code` ||spoiler|| @everyone @here "
        "<@123456789012345678> [fake](http://evil.example) javascript:alert(1) "
    )
    giant = {
        "title": "**Gigantism** claim: @everyone [fake](http://evil.example) " + "word " * 300,
        "excerpt": "Gigantism excerpt " + "*star* _under_ " * 800,
        "content": hostile * 500,
        "webUrl": "javascript:alert(1)",
        "publishedDateTime": "2021-03-01T10:00:00Z",
        "provider": {"name": "Mega **Outlet** @everyone", "domain": "mega.example"},
        "images": [{"url": "javascript:alert(2)"}],
        "topics": ["Gigantism"],
        "related": [
            {
                "title": f"Gigantism follow-up {i} " + "[fake](http://evil.example) " * 30,
                "webUrl": f"https://mega.example/gigantism-{i}",
            }
            for i in range(30)
        ],
    }
    (folder / "giant.json").write_text(json.dumps(giant), encoding="utf-8")
    quokkas = [
        {
            "title": f"Quokka census {i}: island count number {i}",
            "excerpt": f"The quokka census on Rottnest island counted quokkas, report {i}.",
            "webUrl": f"https://news{i % 4}.example/quokka-{i}",
            "publishedDateTime": f"2021-05-{i + 1:02d}T08:00:00Z",
            "provider": {"name": f"Island News {i % 4}", "domain": f"news{i % 4}.example"},
            "topics": ["Wildlife"],
            "images": [{"url": f"https://img.example/q{i}.jpg"}],
        }
        for i in range(12)
    ]
    (folder / "quokkas.jsonl").write_text(
        "\n".join(json.dumps(q) for q in quokkas), encoding="utf-8"
    )
    bad = folder / "bad"
    bad.mkdir(exist_ok=True)
    for i in range(broken):
        (bad / f"broken-{i:02d}.json").write_text('{"title": "oops", ', encoding="utf-8")


@pytest.fixture(scope="session")
def extra_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extra") / "coverage"
    write_extra_corpus(folder)
    return folder


# ------------------------------------------------------------------------------ fixtures
class StubBot(CoverageBot):
    """The app as shipped; only discord.py's 5 s pause before a re-IDENTIFY is skipped."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub, paths: list[Path]
) -> Settings:
    """Environment and config.toml exactly as an operator would set them."""
    # Route.BASE / DEFAULT_GATEWAY are process-wide: restore them after the test.
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    monkeypatch.setenv("DISCORD_API_BASE", stub.api_base)
    monkeypatch.setenv("DISCORD_GATEWAY_URL", stub.gateway_url)
    monkeypatch.setenv("DISCORD_TOKEN", stub.token)
    config = tmp_path / "config.toml"
    config.write_text(
        "[corpus]\n"
        f"paths = {json.dumps([str(p) for p in paths])}\n"
        f"database = {json.dumps(str(tmp_path / 'data' / 'coverage.db'))}\n"
        "watch = false\n"
        "[discord]\n"
        f"owner_ids = [{stub.other.id}]\n"
        f"admin_guild_ids = [{stub.guild.id}]\n",  # the operator's own server
        encoding="utf-8",
    )
    monkeypatch.setenv("COVERAGE_BOT_CONFIG", str(config))
    return load_settings()


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: DiscordStub, extra_corpus: Path
) -> Settings:
    return configure(tmp_path, monkeypatch, stub, [SEEDS, extra_corpus])


@pytest_asyncio.fixture
async def app(stub: DiscordStub, settings: Settings) -> AsyncIterator[CoverageBot]:
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        yield bot


# ------------------------------------------------------------------------------ helpers
async def answer(
    stub: DiscordStub, command: str, options: dict[str, Any] | None = None, **kwargs: Any
) -> SentMessage:
    handle = await stub.invoke(command, options or {}, **kwargs)
    return await handle.message()


def button(msg: SentMessage, suffix: str) -> dict[str, Any]:
    found = [c for c in msg.walk_components() if str(c.get("custom_id", "")).endswith(suffix)]
    assert found, f"no button *{suffix} in {msg.custom_ids}"
    return found[0]


def urls_in(embed: dict[str, Any]) -> list[str]:
    """Every URL an embed would show or link: its own fields and links inside its text."""
    urls = [
        embed.get("url"),
        (embed.get("thumbnail") or {}).get("url"),
        (embed.get("image") or {}).get("url"),
        (embed.get("author") or {}).get("url"),
    ]
    texts = [embed.get("description") or "", *(f["value"] for f in embed.get("fields") or [])]
    for text in texts:
        for a, b in URL_IN_MARKDOWN.findall(text):
            urls.append(a or b)
    return [u for u in urls if u]


def assert_accepted_and_clean(stub: DiscordStub, msg: SentMessage) -> None:
    assert stub.rejections == []
    assert not check_message(msg.data).paths()
    assert msg.allowed_mentions == {"parse": []}
    assert not msg.pings.everyone and not msg.pings.users and not msg.pings.roles


# ------------------------------------------------------------------------------ tests
async def test_sync_accepted_schema_and_only_when_changed(
    stub: DiscordStub, settings: Settings, app: CoverageBot
) -> None:
    commands = {c["name"]: c for c in await stub.wait_commands_synced(False)}
    assert stub.rejections == [] and len(stub.syncs) == 1
    assert set(commands) == {
        "summary",
        "source",
        "related",
        "search",
        "ask",
        "coverage",
        "latest",
        "help",
        "corpus",
        "digest",
        "follow",
        "unfollow",
        "follows",
    }
    for name in ("summary", "source", "related", "search", "ask", "coverage", "latest", "help"):
        assert commands[name]["contexts"] == [0, 1, 2], name  # server, bot DM, private channel
        assert commands[name]["integration_types"] == [0, 1], name  # server and user installs
        assert commands[name]["default_member_permissions"] is None
    query = commands["summary"]["options"][0]
    assert query["name"] == "query" and query["max_length"] == 200 and query["autocomplete"]
    search = {o["name"]: o for o in commands["search"]["options"]}
    assert search["outlet"]["autocomplete"] and search["topic"]["autocomplete"]
    assert search["since"]["max_length"] == 32 and not search["since"].get("required")
    corpus = commands["corpus"]
    assert corpus["contexts"] == [0] and corpus["integration_types"] == [0]
    assert corpus["default_member_permissions"] == str(P.MANAGE_GUILD)
    assert {o["name"] for o in corpus["options"]} == {"stats", "errors", "reload"}
    assert (Path(settings.corpus.database).parent / "command-tree.sha256").exists()

    # A restart with the same commands does not sync; a changed tree does.
    await app.close()
    again = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(again, stub, token=settings.discord.token):
        assert again.synced_scopes == [] and len(stub.syncs) == 1

    class Changed(StubBot):
        async def setup_hook(self) -> None:
            @app_commands.command(name="ping", description="Are you there?")
            async def ping(interaction: discord.Interaction) -> None:
                await interaction.response.send_message("pong")

            self.tree.add_command(ping)
            await super().setup_hook()

    changed = Changed(settings, guild_ready_timeout=0.05)
    async with running_bot(changed, stub, token=settings.discord.token):
        assert changed.synced_scopes == ["global"] and len(stub.syncs) == 2
        assert "ping" in {c["name"] for c in stub.global_commands}
        # `coverage-bot sync --guild ID`: a development server gets every command at once.
        scopes = await changed.sync_commands(force=True, guild_ids=[stub.guild.id])
        assert scopes == [f"guild:{stub.guild.id}"] and stub.rejections == []
        assert {"summary", "corpus", "ping"} <= {
            c["name"] for c in stub.guild_commands[stub.guild.id]
        }
        hashes = json.loads(
            (Path(settings.corpus.database).parent / "command-tree.sha256").read_text(
                encoding="utf-8"
            )
        )
        assert set(hashes) == {
            f"{stub.application_id}/global",
            f"{stub.application_id}/guild:{stub.guild.id}",
        }


async def test_minimal_intents_and_no_pings(stub: DiscordStub, app: CoverageBot) -> None:
    assert stub.session is not None
    assert stub.session.intents == Intents.GUILDS | Intents.DIRECT_MESSAGES
    # No guild-messages intent: Discord would not even deliver a server message to the bot.
    with pytest.raises(StubError, match="GUILD_MESSAGES"):
        await stub.send_user_message(stub.channel, stub.member, "summary clearview")


@pytest.mark.parametrize(
    ("command", "query", "check"),
    [
        ("summary", "clearview ice contract", "summary"),
        ("source", "ICE Clearview contract", "source"),
        ("related", "ICE signed a contract with Clearview", "related"),
        ("search", "clearview ice contract", "search"),
        ("ask", "How much is ICE paying Clearview?", "ask"),
        ("coverage", "clearview ice contract", "coverage"),
    ],
)
async def test_each_command_answers_with_the_right_article(
    stub: DiscordStub, app: CoverageBot, command: str, query: str, check: str
) -> None:
    msg = await answer(stub, command, {"query": query})
    assert_accepted_and_clean(stub, msg)
    assert not msg.ephemeral and len(msg.embeds) == 1
    embed = msg.embeds[0]
    text = json.dumps(embed)
    if check == "summary":
        assert embed["url"] in (VERGE, BUSINESS_INSIDER)
        assert "Clearview" in embed["title"] and embed["author"]["name"]
        assert "2020-08-14" in embed["description"]  # outlet · date line
        assert embed["footer"]["text"].startswith("matched in")  # why it matched
    elif check == "source":
        assert embed["url"] in (VERGE, BUSINESS_INSIDER)
        names = [f["name"] for f in embed["fields"]]
        assert "Published by" in names and "First reported by" in names
        first = next(f for f in embed["fields"] if f["name"] == "First reported by")
        assert VERGE in first["value"]  # The Verge at 17:42 beat Business Insider at 19:09
    elif check == "related":
        assert embed["title"].startswith("Related to:") and "Clearview" in embed["title"]
        assert "same story" in embed["description"]
    elif check == "search":
        assert embed["title"] == "Search: clearview ice contract"
        assert VERGE in text and BUSINESS_INSIDER in text
        assert "**" in embed["fields"][0]["value"]  # matched words marked
    elif check == "ask":
        assert "$224,000" in embed["description"] and embed["description"].startswith(">")
        assert "Highsnobiety" in embed["description"]
    elif check == "coverage":
        assert embed["title"].startswith("Coverage:")
        assert "The Verge" in text and "Business Insider" in text
    if embed.get("url") == VERGE:
        assert embed["thumbnail"]["url"].startswith("https://")  # the article's image


async def test_latest_help_private_and_dm_context(stub: DiscordStub, app: CoverageBot) -> None:
    latest = await answer(stub, "latest")
    assert latest.embeds[0]["title"] == "Latest coverage"
    assert latest.embeds[0]["description"].startswith("• [Quokka census 11")  # newest first
    wildlife = await answer(stub, "latest", {"topic": "wildlife"})
    assert "Clearview" not in wildlife.embeds[0]["description"]

    helped = await answer(stub, "help")
    assert helped.ephemeral and "/summary" in helped.embeds[0]["description"]

    private = await answer(stub, "summary", {"query": "clearview ice contract", "private": True})
    assert private.ephemeral and "Clearview" in private.embeds[0]["title"]

    # The bot's DM (context 1), as a user who installed the app would use it.
    dm = await stub.invoke("ask", {"query": "How much is ICE paying Clearview?"}, guild=False)
    msg = await dm.message()
    assert msg.channel_id == stub.dm_channel(stub.member).id
    assert "$224,000" in msg.embeds[0]["description"]
    # User-installed in a server the bot is not in: the interaction says so; the answer comes
    # through the interaction webhook all the same.
    user_install = await stub.invoke(
        "summary", {"query": "clearview"}, integration_owners={"1": str(stub.member.id)}
    )
    assert "Clearview" in (await user_install.message()).embeds[0]["title"]
    assert stub.rejections == []


async def test_autocomplete_returns_choices(stub: DiscordStub, app: CoverageBot) -> None:
    choices = await stub.autocomplete("summary", {"query": "clea"}, focused="query")
    assert 0 < len(choices) <= 25
    assert any("Clearview" in c["name"] for c in choices)
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    typed = await stub.autocomplete("ask", {"query": "quokka cens"}, focused="query")
    assert typed and all("Quokka" in c["name"] for c in typed)
    outlets = await stub.autocomplete("search", {"query": "x", "outlet": "verg"}, focused="outlet")
    assert [c["value"] for c in outlets] == ["The Verge"]
    topics = await stub.autocomplete("latest", {"topic": "wild"}, focused="topic")
    assert [c["value"] for c in topics] == ["Wildlife"]
    empty = await stub.autocomplete("search", {"query": ""}, focused="query")
    assert len(empty) <= 25


async def test_pagination_pages_refuses_others_and_disables_on_timeout(
    stub: DiscordStub, app: CoverageBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = await answer(stub, "search", {"query": "quokka census"}, user=stub.member)
    assert msg.embeds[0]["footer"]["text"] == "Page 1/3"
    assert len(msg.embeds[0]["fields"]) == 5
    assert button(msg, ":prev")["disabled"] and button(msg, ":page")["label"] == "1/3"

    refused = await stub.click(msg, button(msg, ":next")["custom_id"], user=stub.other)
    told = await refused.message()
    assert told.ephemeral and "Only the person who asked" in told.content
    assert stub.message(msg.id).embeds[0]["footer"]["text"] == "Page 1/3"

    turned = await stub.click(msg, button(msg, ":next")["custom_id"], user=stub.member)
    assert (await turned.response())["type"] == 7  # the same message, updated
    page2 = await turned.message()
    assert page2.id == msg.id and page2.embeds[0]["footer"]["text"] == "Page 2/3"
    assert page2.embeds[0]["fields"][0]["name"].startswith("6. ")
    last = await stub.click(page2, button(page2, ":next")["custom_id"], user=stub.member)
    page3 = await last.message()
    assert page3.embeds[0]["footer"]["text"] == "Page 3/3" and button(page3, ":next")["disabled"]
    back = await stub.click(page3, button(page3, ":prev")["custom_id"], user=stub.member)
    assert (await back.message()).embeds[0]["footer"]["text"] == "Page 2/3"

    # Filters narrow the pages; on timeout every button is disabled in place.
    monkeypatch.setattr(cogs.views, "VIEW_TIMEOUT", 0.05)
    short = await answer(
        stub,
        "search",
        {"query": "quokka census", "outlet": "Island News 1", "since": "2021-05"},
        user=stub.owner,
    )
    assert short.embeds[0]["description"].startswith("3 result(s)")
    filtered = await answer(
        stub,
        "search",
        {"query": "quokka census", "since": "2021-05-03", "until": "2021-05-09"},
        user=stub.owner,
    )
    assert filtered.embeds[0]["description"].startswith("7 result(s)")
    expiring = await answer(stub, "search", {"query": "quokka census"}, user=stub.owner)
    await stub.wait_for(
        lambda: all(
            c.get("disabled") for c in stub.message(expiring.id).walk_components() if c["type"] == 2
        ),
        what="the buttons disabled on timeout",
    )
    assert stub.rejections == []


async def test_no_match_offers_suggestions_that_run(stub: DiscordStub, app: CoverageBot) -> None:
    msg = await answer(stub, "summary", {"query": "clearview moon landing"}, user=stub.member)
    embed = msg.embeds[0]
    assert embed["title"] == "Not in this coverage"
    assert "2020-08-11" in embed["description"]  # the coverage's date range
    labels = [c["label"] for c in msg.walk_components() if c["type"] == 2]
    assert 1 <= len(labels) <= 3 and all(len(label) <= 80 for label in labels)
    first = next(c for c in msg.walk_components() if c["type"] == 2)

    # Someone else clicking gets the answer privately; the asker's message is untouched.
    other = await stub.click(msg, first["custom_id"], user=stub.other)
    theirs = await other.message()
    assert theirs.ephemeral and theirs.embeds[0]["title"].startswith(first["label"].rstrip("…"))
    assert stub.message(msg.id).embeds[0]["title"] == "Not in this coverage"

    # The asker's click replaces "not in this coverage" with the answer.
    mine = await stub.click(msg, first["custom_id"], user=stub.member)
    assert (await mine.response())["type"] == 7
    answered = await mine.message()
    assert answered.id == msg.id and answered.embeds[0]["title"].startswith(
        first["label"].rstrip("…")
    )
    assert answered.components == []

    nothing = await answer(stub, "search", {"query": "zebra migration kenya"})
    assert nothing.embeds[0]["title"] == "Not in this coverage"


async def test_cooldown_says_when_to_try_again(stub: DiscordStub, app: CoverageBot) -> None:
    carol = stub.add_user("carol")
    for _ in range(app.cooldown.rate):
        msg = await answer(stub, "summary", {"query": "clearview"}, user=carol)
        assert msg.embeds and not msg.ephemeral
    limited = await answer(stub, "source", {"query": "clearview"}, user=carol)
    assert limited.ephemeral and not limited.embeds
    assert re.fullmatch(r"Slow down a little — try again in \d+ s\.", limited.content)
    # Others are not affected; help is never limited.
    assert (await answer(stub, "summary", {"query": "clearview"}, user=stub.owner)).embeds
    assert (await answer(stub, "help", user=carol)).embeds
    reply = await stub.dm_message(carol, "summary clearview")
    assert reply.content.startswith("Slow down a little — try again in ")


async def test_oversized_hostile_answer_is_trimmed_never_rejected(
    stub: DiscordStub, app: CoverageBot
) -> None:
    for command in ("summary", "source", "related", "search", "coverage", "ask"):
        reader = stub.add_user(f"reader-{command}")  # one user each: the cooldown is per user
        msg = await answer(stub, command, {"query": "gigantism claim"}, user=reader)
        assert_accepted_and_clean(stub, msg)
        assert msg.embeds, command
        embed = msg.embeds[0]
        text = json.dumps(msg.embeds, ensure_ascii=False)
        assert len(embed.get("title", "")) <= 256
        assert len(embed.get("description") or "") <= 4096
        assert all(len(f["value"]) <= 1024 for f in embed.get("fields") or [])
        assert "Gigantism" in text or "gigantism" in text.casefold(), command
        assert "@everyone" not in text and "@here" not in text  # defused (zero-width space)
        assert "javascript:" not in " ".join(urls_in(embed))
        assert all(u.startswith(("http://", "https://")) for u in urls_in(embed)), command
        assert "[fake](http://evil" not in text  # corpus links are text, not links
        if command in ("summary", "source"):
            assert embed["title"].startswith("\\*\\*Gigantism\\*\\*")  # Markdown escaped
            assert embed["title"].endswith("…")  # cut at a word boundary
            assert "url" not in embed and "thumbnail" not in embed  # javascript: dropped
    dm = await stub.dm_message(stub.owner, "summary gigantism claim")
    assert_accepted_and_clean(stub, dm)


async def test_dm_messages_are_answered(stub: DiscordStub, app: CoverageBot) -> None:
    asked = await stub.dm_message(stub.member, "How much is ICE paying Clearview?")
    assert "$224,000" in asked.embeds[0]["description"]
    assert asked.channel_id == stub.dm_channel(stub.member).id
    summary = await stub.dm_message(stub.member, "summary clearview ice contract")
    assert summary.embeds[0]["url"] in (VERGE, BUSINESS_INSIDER)
    coverage = await stub.dm_message(stub.member, "coverage clearview ice contract")
    assert coverage.embeds[0]["title"].startswith("Coverage:")
    dora = stub.add_user("dora")  # every DM spends the sender's budget: a second sender
    helped = await stub.dm_message(dora, "help")
    assert "summary clearview" in helped.embeds[0]["description"]
    empty = await stub.dm_message(dora, "summary")
    assert empty.content.startswith("summary what?")
    unknown = await stub.dm_message(dora, "/frobnicate now")
    assert "help" in unknown.content

    pages = await stub.dm_message(stub.member, "search quokka census")
    assert pages.embeds[0]["footer"]["text"] == "Page 1/3"
    turned = await stub.click(pages, button(pages, ":next")["custom_id"], user=stub.member)
    assert (await turned.message()).embeds[0]["footer"]["text"] == "Page 2/3"
    missing = await stub.dm_message(stub.member, "source clearview moon landing")
    assert missing.embeds[0]["title"] == "Not in this coverage" and missing.custom_ids
    assert all(m.allowed_mentions == {"parse": []} for m in stub.messages)
    assert stub.rejections == []


async def test_survives_gateway_disconnects(stub: DiscordStub, app: CoverageBot) -> None:
    await stub.disconnect(resume=True)  # op 7 → RESUME
    assert "Clearview" in (await answer(stub, "summary", {"query": "clearview"})).embeds[0]["title"]
    await stub.disconnect(how="abort")  # the TCP connection just dies → RESUME
    await stub.disconnect(resume=False)  # invalid session → a fresh IDENTIFY
    await app.wait_until_ready()
    msg = await answer(stub, "ask", {"query": "How much is ICE paying Clearview?"})
    assert "$224,000" in msg.embeds[0]["description"]
    reply = await stub.dm_message(stub.member, "summary clearview")
    assert reply.embeds
    assert stub.gateway.identifies == 2 and stub.gateway.resumes == 2


async def test_corpus_admin(
    stub: DiscordStub, app: CoverageBot, settings: Settings, extra_corpus: Path
) -> None:
    with pytest.raises(CommandUnavailable):  # hidden from plain members, as Discord does
        await stub.invoke("corpus stats", user=stub.member)
    with pytest.raises(StubError):  # servers only
        await stub.invoke("corpus stats", user=stub.owner, guild=False)
    refused = await answer(stub, "corpus stats", user=stub.member, check_permissions=False)
    assert refused.ephemeral and "Manage Server" in refused.content

    stats = await answer(stub, "corpus stats", user=stub.owner)
    fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
    assert stats.ephemeral
    assert int(fields["Articles"]) == len(app.corpus.snapshot.articles) > 40
    assert fields["Published"] == "2020-08-11 – 2021-05-12"
    assert int(fields["Files"]) >= 16 and fields["Errors"] == "12"
    assert "UTC" in fields["Last reloaded"]
    # Built at this first start, beside the database; stories grouped with it (a small corpus).
    assert fields["Search index"] == "built" and fields["Stories"] == "grouped"
    assert fields["Word table"] == "off (answers use words alone)"  # COVERAGE_BOT_SEMANTIC=0
    manager = stub.add_user("maria", permissions=P.MANAGE_GUILD)
    assert (await answer(stub, "corpus stats", user=manager)).embeds
    owner_by_config = await answer(stub, "corpus stats", user=stub.other, check_permissions=False)
    assert owner_by_config.embeds  # settings.discord.owner_ids

    errors = await answer(stub, "corpus errors", user=stub.owner)
    assert errors.ephemeral and errors.embeds[0]["title"] == "Corpus errors (12)"
    assert "broken-00.json" in errors.embeds[0]["description"]
    turned = await stub.click(errors, button(errors, ":next")["custom_id"], user=stub.owner)
    page2 = await turned.message()
    assert (
        page2.embeds[0]["footer"]["text"] == "Page 2/2"
        and "broken-11" in page2.embeds[0]["description"]
    )

    # A new file, then /corpus reload: answered only once the engine serves the new snapshot.
    (extra_corpus / "new.json").write_text(
        json.dumps(
            {
                "title": "Wombat tunnels found under the city library",
                "excerpt": "Engineers found wombat tunnels beneath the library.",
                "webUrl": "https://wombat.example/tunnels",
                "publishedDateTime": "2021-06-01T09:00:00Z",
                "provider": {"name": "Burrow Times"},
            }
        ),
        encoding="utf-8",
    )
    try:
        handle = await stub.invoke("corpus reload", user=stub.owner)
        assert (await handle.response())["type"] == 5  # deferred: reading may take a while
        reloaded = await handle.message()
        assert "Articles added 1" in reloaded.embeds[0]["description"]
        found = await answer(stub, "summary", {"query": "wombat tunnels library"})
        assert found.embeds[0]["url"] == "https://wombat.example/tunnels"
    finally:
        (extra_corpus / "new.json").unlink()
    assert stub.rejections == []


async def test_error_funnel_answers_plainly_and_logs(
    stub: DiscordStub,
    app: CoverageBot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_date = await answer(stub, "search", {"query": "quokka", "since": "last tuesday"})
    assert bad_date.ephemeral
    assert bad_date.content == (
        "I couldn't read “last tuesday”: use a date like 2020-08-14, 2020-08 or 2020."
    )

    def broken(query: str) -> None:
        raise RuntimeError("index on fire")

    monkeypatch.setattr(app.answers.engine, "coverage", broken)
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        msg = await answer(stub, "coverage", {"query": "clearview ice", "private": True})
    assert msg.ephemeral and msg.content.startswith("Something went wrong")
    assert "index on fire" not in msg.content  # no internals shown to users
    record = next(r for r in caplog.records if r.name == "bot.app")
    # Who and which command; not what was asked ([logging] queries: tests/test_privacy.py).
    assert record.getMessage() == f"/coverage by user {stub.member.id} failed"
    assert record.exc_info and "index on fire" in str(record.exc_info[1])
    assert stub.token not in caplog.text


async def test_slow_answers_are_deferred_within_the_deadline(
    stub: DiscordStub, app: CoverageBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release = threading.Event()
    real = app.answers.engine.summary

    def slow(query: str) -> Any:
        release.wait(5)
        return real(query)

    monkeypatch.setattr(app.answers.engine, "summary", slow)
    lookups = app.get_cog("Lookups")
    assert lookups is not None
    monkeypatch.setattr(lookups.replier, "defer_after", 0.05)  # type: ignore[attr-defined]
    handle = await stub.invoke("summary", {"query": "clearview ice contract"})
    assert (await handle.response())["type"] == 5  # acknowledged ("thinking…") first
    release.set()
    msg = await handle.message()
    assert msg.id == handle.original_id and not msg.loading
    assert "Clearview" in msg.embeds[0]["title"]


def test_no_module_singletons_in_cogs() -> None:
    for path in (ROOT / "cogs").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "get_cog(" not in text, path
        assert "CoverageBot(" not in text, path


async def test_watcher_changes_reach_answers(
    stub: DiscordStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    settings = configure(tmp_path, monkeypatch, stub, [SEEDS, live])
    settings = Settings(
        corpus=replace(settings.corpus, watch=True, watch_debounce_ms=20),
        discord=settings.discord,
    )
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        (live / "platypus.json").write_text(
            json.dumps(
                {
                    "title": "Platypus glows under ultraviolet light",
                    "excerpt": "Researchers found that platypus fur glows under UV light.",
                    "webUrl": "https://glow.example/platypus",
                    "publishedDateTime": "2021-07-01T09:00:00Z",
                    "provider": {"name": "Glow Weekly"},
                }
            ),
            encoding="utf-8",
        )
        await asyncio.wait_for(
            bot.until_applied(
                lambda s: any(a.url == "https://glow.example/platypus" for a in s.articles.values())
            ),
            10,
        )
        msg = await answer(stub, "summary", {"query": "platypus glows ultraviolet"})
        assert msg.embeds[0]["url"] == "https://glow.example/platypus"


async def test_a_large_corpus_answers_before_its_stories_are_grouped(
    stub: DiscordStub, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 100k articles grouping stories takes 14 s, at 1M 227 s: the bot connects and answers
    # first, says a story may be incomplete, and starts digests only once stories are grouped.
    import threading

    import bot.app as app_module
    from bot.digests.delivery import Delivery
    from bot.engine.engine import Engine

    monkeypatch.setattr(app_module, "STORIES_IN_BACKGROUND_FROM", 0)
    gate = threading.Event()
    cluster = Engine.cluster

    def gated(engine: Engine) -> None:
        gate.wait(timeout=10)
        cluster(engine)

    monkeypatch.setattr(Engine, "cluster", gated)
    digest_starts: list[object] = []
    start = Delivery.start

    async def recorded(delivery: Delivery, *args: Any, **kwargs: Any) -> Any:
        digest_starts.append(delivery)
        return await start(delivery, *args, **kwargs)

    monkeypatch.setattr(Delivery, "start", recorded)
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        digests = bot.get_cog("Digests")
        early = (await answer(stub, "coverage", {"query": "clearview ice contract"})).embeds[0]
        fields = {f["name"]: f["value"] for f in early.get("fields", [])}
        assert fields.get("Other outlets", "").startswith("Still grouping")
        assert "First reported by" not in fields  # nothing is known about who was first
        # The bot is ready and has answered; the digests' start-up has not run.
        assert not bot.stories_ready.is_set() and digest_starts == []

        gate.set()
        await asyncio.wait_for(bot.stories_ready.wait(), 10)
        await asyncio.wait_for(digests.wait_started(), 10)
        assert len(digest_starts) == 1
        later = (await answer(stub, "coverage", {"query": "clearview ice contract"})).embeds[0]
        text = json.dumps(later)
        assert "Still grouping" not in text
        assert "The Verge" in text and "Business Insider" in text


async def test_the_bot_reads_the_word_table_kept_beside_its_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stub: DiscordStub,
    word_vectors: WordVectors,
    sentence_model: SentenceModel,
) -> None:
    # As a restarted bot has it: distilled (and the graph built) beside the database before.
    settings = configure(tmp_path, monkeypatch, stub, [SEEDS])
    monkeypatch.setenv(ENVIRONMENT_SWITCH, "1")
    table = Path(f"{settings.corpus.database}.vectors")
    table.mkdir(parents=True, mode=0o700)
    for cached in (word_vectors.path, sentence_model.path):
        assert cached is not None
        shutil.copy2(cached, table / cached.name)
    copied = {p.name: p.stat().st_mtime_ns for p in table.iterdir()}
    bot = StubBot(settings, guild_ready_timeout=0.05)
    async with running_bot(bot, stub, token=settings.discord.token):
        engine = bot.answers.engine
        words, sentences = engine.word_vectors, engine.sentences
        assert words is not None and sentences is not None
        assert await asyncio.wait_for(asyncio.to_thread(words.join), timeout=60)
        assert await asyncio.wait_for(asyncio.to_thread(sentences.join), timeout=60)
        assert {p.name: p.stat().st_mtime_ns for p in table.iterdir()} == copied  # read only
        stats = await answer(stub, "corpus stats", user=stub.owner)
        fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
        assert fields["Word table"] == "ready"
        assert fields["Sentence model"].startswith("ready; vectors: ")
        # Retold ("deportation agency" for ICE, "deal" for contract): refused on words alone.
        found = await answer(
            stub, "search", {"query": "the deportation agency's deal with clearview"}
        )
        assert_accepted_and_clean(stub, found)
        assert found.embeds[0]["title"] != "Not in this coverage"
        first = found.embeds[0]["fields"][0]["name"]  # one of the seeds' three tellings
        assert "ICE" in first or "Immigration and Customs Enforcement" in first
