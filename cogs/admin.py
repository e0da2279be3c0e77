"""/corpus stats | errors | reload — for the bot's operators alone.

There is one corpus, shared by every server the bot is in: its owners, ``[discord] owner_ids``
and members with Manage Server in ``[discord] admin_guild_ids`` may read its file paths and
force re-scans; a manager of any other server may not. ``default_permissions`` only hides the
command from other members (and server admins can change that in Integrations), so the rule is
checked when it runs.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import FriendlyError
from bot.discord_embeds import message_embeds
from bot.render import ProblemPages, corpus_stats_card, reload_card
from cogs.views import PageView

if TYPE_CHECKING:
    from bot.app import CoverageBot


class Admin(commands.Cog):
    """Corpus administration."""

    corpus = app_commands.Group(
        name="corpus",
        description="Corpus statistics, errors and reload (the bot's operators)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )

    def __init__(self, bot: CoverageBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Operators only, whatever the server's command settings say; then a cooldown.

        The cooldown comes second so a refused stranger spends nothing, and a reload
        re-reads every folder: even an operator gets a few a minute.
        """
        if not await self.bot.is_corpus_admin(interaction):
            raise FriendlyError(
                "/corpus is for the bot's operators: its owners, and members with Manage Server "
                "in the operator's own servers."
            )
        limited = self.bot.corpus_cooldown.hit(interaction.user.id)
        if limited is not None:
            wait = max(1, math.ceil(limited.retry_after))
            cooldown = self.bot.corpus_cooldown
            raise FriendlyError(
                f"/corpus is limited to {cooldown.rate} uses every {cooldown.per:g} s — "
                f"try again in {wait} s."
            )
        return True

    @corpus.command(name="stats", description="Articles, outlets, date range, files, last reload")
    async def stats(self, interaction: discord.Interaction) -> None:
        """/corpus stats."""
        # Counting outlets over the whole corpus takes ~50 ms at 100k articles: off the loop.
        corpus, engine = self.bot.corpus, self.bot.answers.engine
        stores = {
            "Search index": engine.index_state,
            "Stories": engine.stories_state,
            "Word table": engine.word_table_state,
            "Article meanings": engine.meanings_state,
            "Sentence model": engine.sentences_state,
        }
        card = await asyncio.to_thread(
            corpus_stats_card, corpus.snapshot, corpus.last_stats, stores
        )
        await interaction.response.send_message(embeds=message_embeds([card]), ephemeral=True)

    @corpus.command(name="errors", description="Files that could not be read, and why")
    async def errors(self, interaction: discord.Interaction) -> None:
        """/corpus errors, paginated: a page is rendered when shown, from the snapshot's list."""
        pages = ProblemPages(self.bot.corpus.snapshot.errors)
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
