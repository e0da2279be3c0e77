"""End-to-end: the real discord.py client (commands.Bot + app_commands) against DiscordStub."""

from __future__ import annotations

import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord_stub import (
    CommandUnavailable,
    DiscordStub,
    P,
    StubError,
    check_message,
    pings,
)
from tests.discord_stub.harness import BotRunner

OUTLETS = ["clearview", "clearwater", "clarion", "ice-watch", "palantir"]


class OwnerOnlyView(discord.ui.View):
    """A button only the user who ran the command may press."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(timeout=60)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Not your button.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Details", custom_id="details", style=discord.ButtonStyle.primary)
    async def details(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="Details: 3 contracts found.", view=None)


class StubTestBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.dm_messages = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,  # on_ready 50 ms after GUILD_CREATE, not 2 s
            chunk_guilds_at_startup=False,
        )
        self.guild_id = guild_id

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY; not needed against a stub.
        return None

    async def setup_hook(self) -> None:
        @self.tree.command(name="summary", description="Summarise coverage of an outlet")
        @app_commands.describe(query="Outlet or topic")
        async def summary(interaction: discord.Interaction, query: str) -> None:
            embed = discord.Embed(title=f"Coverage: {query}", description="12 articles")
            await interaction.response.send_message(
                f"Here you go {interaction.user.mention}",
                embed=embed,
                view=OwnerOnlyView(interaction.user.id),
            )

        @summary.autocomplete("query")
        async def summary_autocomplete(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=o, value=o) for o in OUTLETS if o.startswith(current)]

        @self.tree.command(name="big", description="Try to post an oversized embed")
        async def big(interaction: discord.Interaction) -> None:
            channel = interaction.channel
            assert isinstance(channel, discord.abc.Messageable)
            try:
                await channel.send(embed=discord.Embed(description="x" * 5000))
            except discord.HTTPException as exc:
                text = f"rejected {exc.status} {exc.code}"
            else:
                text = "posted"
            await interaction.response.send_message(text, ephemeral=True)

        corpus = app_commands.Group(
            name="corpus",
            description="Corpus administration",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )

        @corpus.command(name="stats", description="Corpus statistics")
        async def stats(interaction: discord.Interaction, verbose: bool = False) -> None:
            await interaction.response.defer(thinking=True, ephemeral=True)
            await interaction.followup.send(f"42 documents (verbose={verbose})")

        self.tree.add_command(corpus, guild=discord.Object(self.guild_id))
        await self.tree.sync()
        await self.tree.sync(guild=discord.Object(self.guild_id))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is not None:
            return
        await message.channel.send(f"You asked: {message.content}")


@pytest.fixture
async def bot(discord_stub: DiscordStub, bot_runner: BotRunner) -> StubTestBot:
    return await bot_runner.start(StubTestBot(discord_stub.guild.id))


async def test_login_sync_and_ready(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    assert bot.user is not None and bot.user.id == stub.bot_user.id
    assert bot.get_guild(stub.guild.id) is not None
    assert bot.get_channel(stub.channel.id) is not None
    global_cmds = await stub.wait_commands_synced(False)
    assert {c["name"] for c in global_cmds} == {"summary", "big"}
    summary = next(c for c in global_cmds if c["name"] == "summary")
    assert summary["options"][0]["name"] == "query"
    assert summary["options"][0]["autocomplete"] is True
    guild_cmds = await stub.wait_commands_synced(True)
    assert guild_cmds[0]["name"] == "corpus"
    assert guild_cmds[0]["default_member_permissions"] == str(P.MANAGE_GUILD)
    assert stub.gateway.identifies == 1
    assert stub.gateway.connections[0].compress == "zlib-stream"
    assert stub.unknown_routes == []


async def test_invalid_command_schema_rejected(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    path = f"/applications/{stub.application_id}/commands"
    status, body = await stub.rest("PUT", path, json=[{"name": "Summary", "description": "x"}])
    assert status == 400
    assert body["code"] == 50035
    assert body["errors"]["0"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"

    bad_order = {
        "name": "search",
        "description": "d",
        "options": [
            {"type": 3, "name": "a", "description": "a"},
            {"type": 3, "name": "b", "description": "b", "required": True},
        ],
    }
    too_many = {
        "name": "pick",
        "description": "d",
        "options": [
            {
                "type": 3,
                "name": "c",
                "description": "c",
                "choices": [{"name": str(i), "value": str(i)} for i in range(26)],
                "max_length": 7000,
            }
        ],
    }
    # Through discord.py itself: the 400 surfaces as HTTPException with Discord's code.
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.bulk_upsert_global_commands(stub.application_id, [bad_order, too_many])
    assert info.value.status == 400 and info.value.code == 50035
    paths = stub.rejections[-1].error_paths
    assert "0.options.1.required" in paths
    assert "1.options.0.choices" in paths and "1.options.0.max_length" in paths
    # The rejected syncs did not replace the accepted commands.
    assert {c["name"] for c in stub.global_commands} == {"summary", "big"}
    status, _ = await stub.rest("PUT", path, json=[], auth=False)
    assert status == 401


async def test_slash_command_answers(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    handle = await stub.invoke("summary", {"query": "clearview"}, user=stub.member)
    response = await handle.response()
    assert response["type"] == 4
    msg = await handle.message()
    assert msg.content == f"Here you go <@{stub.member.id}>"
    assert msg.embeds[0]["title"] == "Coverage: clearview"
    assert msg.custom_ids == ["details"]
    assert msg.allowed_mentions == {"parse": []}
    assert not msg.pings  # AllowedMentions.none(): the mention does not notify
    assert msg.data["interaction_metadata"]["user"]["id"] == str(stub.member.id)


async def test_autocomplete_returns_choices(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    choices = await discord_stub.autocomplete("summary", {"query": "clea"}, focused="query")
    assert [c["name"] for c in choices] == ["clearview", "clearwater"]


async def test_button_only_for_invoker(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    handle = await stub.invoke("summary", {"query": "clearview"}, user=stub.member)
    msg = await handle.message()

    refused = await stub.click(msg, "details", user=stub.other)
    answer = await refused.message()
    assert answer.content == "Not your button." and answer.ephemeral
    assert stub.message(msg.id).content.startswith("Here you go")  # untouched

    pressed = await stub.click(msg, "details", user=stub.member)
    assert (await pressed.response())["type"] == 7
    edited = await pressed.message()
    assert edited.id == msg.id
    assert edited.content == "Details: 3 contracts found."
    assert edited.components == [] and edited.edited


async def test_dm_message_gets_reply(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    reply = await stub.dm_message(stub.member, "how much is ICE paying clearview?")
    assert reply.content == "You asked: how much is ICE paying clearview?"
    assert reply.channel_id == stub.dm_channel(stub.member).id

    stub.close_dms(stub.other)
    user = await bot.fetch_user(stub.other.id)
    with pytest.raises(discord.Forbidden) as info:
        await user.send("hello")
    assert info.value.code == 50007


async def test_oversized_embed_rejected(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    handle = await stub.invoke("big")
    msg = await handle.message()
    assert msg.content == "rejected 400 50035" and msg.ephemeral
    rejected = stub.requests_to("POST", r"^/channels/\d+/messages$")[-1]
    assert rejected.status == 400
    assert rejected.error_paths == ["embeds.0.description"]
    assert not [m for m in stub.messages if m.source == "channel"]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"footer": {"text": "f" * 2049}}]}, "embeds.0.footer.text"),
        ({"embeds": [{"author": {"name": "a" * 257}}]}, "embeds.0.author.name"),
        ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "embeds"),
        ({"embeds": [{"title": "t", "url": "ftp://example.com"}]}, "embeds.0.url"),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "l", "custom_id": "x" * 101}
                        ],
                    }
                ]
            },
            "components.0.components.0.custom_id",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "l" * 81, "custom_id": "a"}
                        ],
                    }
                ]
            },
            "components.0.components.0.label",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 2, "style": 1, "label": "l", "custom_id": f"{r}"}],
                    }
                    for r in range(6)
                ]
            },
            "components",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "l", "custom_id": f"{i}"}
                            for i in range(6)
                        ],
                    }
                ]
            },
            "components.0.components",
        ),
    ],
)
def test_message_validation_rules(payload: dict, path: str) -> None:
    assert path in check_message(payload).paths()


async def test_message_rules_over_rest(discord_stub: DiscordStub) -> None:
    stub = discord_stub
    path = f"/channels/{stub.channel.id}/messages"
    status, body = await stub.rest("POST", path, json={"content": "x" * 2001})
    assert (
        status == 400 and body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    )
    status, body = await stub.rest("POST", path, json={"content": ""})
    assert status == 400 and body["code"] == 50006
    status, body = await stub.rest(
        "POST", path, json={"content": "hi @everyone", "allowed_mentions": {"parse": ["users"]}}
    )
    assert status == 200
    sent = stub.message(body["id"])
    assert sent.allowed_mentions == {"parse": ["users"]} and not sent.pings.everyone
    assert pings("hi @everyone", None).everyone  # no allowed_mentions: everything pings
    status, _ = await stub.rest("GET", "/no/such/route")
    assert status == 404 and stub.unknown_routes[-1].path == "/no/such/route"


async def test_nonce_enforce_dedups(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    channel = bot.get_channel(stub.channel.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("digest for today", nonce="digest-2024-06-01")
    second = await channel.send("digest for today", nonce="digest-2024-06-01")
    third = await channel.send("digest for today", nonce="digest-2024-06-02")
    assert first.id == second.id != third.id
    assert len([m for m in stub.messages if m.nonce == "digest-2024-06-01"]) == 1
    assert [r.deduplicated for r in stub.requests_to("POST", r"/messages$")] == [False, True, False]


async def test_resume_after_disconnect(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    await stub.disconnect(resume=True)  # op 7 RECONNECT → client RESUMEs
    assert stub.gateway.resumes == 1 and stub.gateway.identifies == 1
    assert stub.gateway.connections[-1].path == "/gateway/resume"  # honoured resume_gateway_url
    handle = await stub.invoke("summary", {"query": "clarion"})
    assert (await handle.message()).embeds[0]["title"] == "Coverage: clarion"

    # An interaction dispatched while the bot is away is replayed on RESUME.
    stub.hold_gateway()
    await stub.disconnect(resume=True, how="close", wait=False)
    missed = await stub.invoke("summary", {"query": "palantir"})
    stub.release_gateway()
    await stub.wait_resumed(2)
    assert (await missed.message()).embeds[0]["title"] == "Coverage: palantir"
    assert stub.gateway.identifies == 1


async def test_subcommand_group_permissions_and_dm(
    discord_stub: DiscordStub, bot: StubTestBot
) -> None:
    stub = discord_stub
    with pytest.raises(CommandUnavailable):
        await stub.invoke("corpus stats", user=stub.member)
    with pytest.raises(StubError):
        await stub.invoke("corpus stats", user=stub.owner, guild=False)
    handle = await stub.invoke("corpus stats", {"verbose": True}, user=stub.owner)
    assert (await handle.response())["type"] == 5
    msg = await handle.message()  # the followup filled in the "thinking" message
    assert msg.content == "42 documents (verbose=True)" and msg.ephemeral
    assert msg.id == handle.original_id and not msg.loading

    manager = stub.add_user("maria", permissions=P.MANAGE_GUILD)
    handle = await stub.invoke("corpus stats", user=manager)
    assert (await handle.message()).content.startswith("42 documents")

    dm = await stub.invoke("summary", {"query": "ice-watch"}, user=stub.member, guild=False)
    assert "guild_id" not in dm.payload and dm.payload["context"] == 1
    assert (await dm.message()).channel_id == stub.dm_channel(stub.member).id


async def test_double_ack_and_channel_errors(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    handle = await stub.invoke("summary", {"query": "clearview"})
    await handle.message()
    status, body = await stub.rest(
        "POST",
        f"/interactions/{handle.id}/{handle.token}/callback",
        json={"type": 4, "data": {"content": "again"}},
        auth=False,
    )
    assert status == 400 and body["code"] == 40060

    locked = await stub.add_channel("locked")
    await stub.set_bot_overwrite(locked, deny=P.SEND_MESSAGES)
    gone = await stub.add_channel("gone")
    channel = await bot.fetch_channel(gone.id)
    assert isinstance(channel, discord.TextChannel)
    await stub.delete_channel(gone)
    locked_channel = bot.get_channel(locked.id)
    assert isinstance(locked_channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as forbidden:
        await locked_channel.send("hi")
    assert forbidden.value.code == 50013
    with pytest.raises(discord.NotFound) as missing:
        await channel.send("hi")
    assert missing.value.code == 10003


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput = discord.ui.TextInput(label="What is wrong?", custom_id="text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.text.value}", ephemeral=True)


async def test_modal_files_and_rate_limit(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub

    @bot.tree.command(name="feedback", description="Send feedback")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    await bot.tree.sync()
    opened = await stub.invoke("feedback")
    assert (await opened.modal())["title"] == "Feedback"
    submitted = await stub.submit_modal(opened, {"text": "wrong totals"})
    assert (await submitted.message()).content == "Thanks: wrong totals"

    channel = bot.get_channel(stub.channel.id)
    assert isinstance(channel, discord.TextChannel)
    stub.fail_next("POST", r"/channels/\d+/messages$", status=429, retry_after=0.01)
    sent = await channel.send("report", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "r.csv"))
    assert sent.attachments[0].filename == "r.csv"
    posts = stub.requests_to("POST", r"/channels/\d+/messages$")
    assert [r.status for r in posts] == [429, 200]
    assert posts[-1].files[0]["size"] == 8 and posts[-1].body["content"] == "report"


async def test_reconnect_modes(discord_stub: DiscordStub, bot: StubTestBot) -> None:
    stub = discord_stub
    await stub.disconnect(how="abort")  # TCP drop without close frame → RESUME
    await stub.disconnect(resume=False)  # op 9 → fresh IDENTIFY (hook overridden: no 5 s)
    assert stub.gateway.resumes == 1 and stub.gateway.identifies == 2
    await bot.wait_until_ready()
    handle = await stub.invoke("summary", {"query": "clarion"})
    assert (await handle.message()).embeds[0]["title"] == "Coverage: clarion"


async def test_late_response_is_unknown_interaction(
    discord_stub: DiscordStub, bot: StubTestBot
) -> None:
    stub = discord_stub
    stub.interaction_deadline = 0.0  # every callback is "after 3 s"
    handle = await stub.invoke("summary", {"query": "clearview"})
    late = await stub.wait_for(
        lambda: [r for r in stub.requests_to("POST", "/callback$") if r.code == 10062],
        what="the late callback",
    )
    assert late[0].status == 404 and not handle.acknowledged
