"""/corpus stats | errors | reload — for the bot's owners and members with Manage Server.

``default_permissions`` only hides the command from other members (and server admins can
change that in Integrations), so the same rule is checked again when it runs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import FriendlyError
from bot.discord_embeds import message_embeds
from bot.render import corpus_stats_card, problem_pages, reload_card
from cogs.views import PageView

if TYPE_CHECKING:
    from bot.app import CoverageBot


class Admin(commands.Cog):
    """Corpus administration."""

    corpus = app_commands.Group(
        name="corpus",
        description="Corpus statistics, errors and reload (owners and server managers)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )

    def __init__(self, bot: CoverageBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Owners and Manage Server only, whatever the server's command settings say."""
        if not await self.bot.is_corpus_admin(interaction):
            raise FriendlyError(
                "Only the bot's owners and members with Manage Server can use /corpus."
            )
        return True

    @corpus.command(name="stats", description="Articles, outlets, date range, files, last reload")
    async def stats(self, interaction: discord.Interaction) -> None:
        """/corpus stats."""
        # Counting outlets over the whole corpus takes ~50 ms at 100k articles: off the loop.
        corpus = self.bot.corpus
        card = await asyncio.to_thread(corpus_stats_card, corpus.snapshot, corpus.last_stats)
        await interaction.response.send_message(embeds=message_embeds([card]), ephemeral=True)

    @corpus.command(name="errors", description="Files that could not be read, and why")
    async def errors(self, interaction: discord.Interaction) -> None:
        """/corpus errors, paginated."""
        snapshot = self.bot.corpus.snapshot
        pages = await asyncio.to_thread(lambda: problem_pages(snapshot.errors))
        embeds = message_embeds(pages[:1])
        if len(pages) == 1:
            await interaction.response.send_message(embeds=embeds, ephemeral=True)
            return
        view = PageView(pages, interaction.user.id)
        await interaction.response.send_message(embeds=embeds, view=view, ephemeral=True)
        view.attach(interaction=interaction)

    @corpus.command(name="reload", description="Re-read every corpus folder now")
    async def reload(self, interaction: discord.Interaction) -> None:
        """/corpus reload: deferred, because reading a big folder takes longer than 3 s."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        change = await self.bot.reload_corpus()
        card = reload_card(change.snapshot, change.changes, change.stats)
        await interaction.followup.send(embeds=message_embeds([card]), ephemeral=True)


async def setup(bot: CoverageBot) -> None:
    """Extension entry point."""
    await bot.add_cog(Admin(bot))
