"""Slash commands that look things up: /summary /source /related /search /ask /coverage /latest.

Plus /help. Installable to servers and users; usable in servers, DMs and private channels.

Thin on purpose: options in, ``Replier`` out. Parsing, ranking and rendering live in ``bot/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import parse_day
from bot.app import UserCooldown
from cogs._choices import NAME_MAX, QUERY_MAX, LookupChoices
from cogs._replies import Replier

if TYPE_CHECKING:
    from bot.answer_service import AnswerService
    from bot.app import CoverageBot

Query = app_commands.Range[str, 1, QUERY_MAX]
Name = app_commands.Range[str, 1, NAME_MAX]
F = TypeVar("F", bound=Callable[..., object])

PRIVATE = "Only you see the answer"


def everywhere(func: F) -> F:
    """Installable to servers and users; usable in servers, DMs with the bot and group DMs."""
    func = app_commands.allowed_installs(guilds=True, users=True)(func)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)(func)


class Day(app_commands.Transformer):
    """A date option typed as text (2020, 2020-08, 2020-08-14)."""

    hint = "use a date like 2020-08-14, 2020-08 or 2020"

    def __init__(self, *, end: bool = False) -> None:
        self.end = end

    @property
    def type(self) -> discord.AppCommandOptionType:
        """Sent to Discord as a string option."""
        return discord.AppCommandOptionType.string

    @property
    def max_value(self) -> int:
        """Sent as ``max_length`` for a string option: dates are short, longer is not one."""
        return 32

    async def transform(self, interaction: discord.Interaction, value: str) -> datetime:
        """Parse the date, or fail with a hint the error funnel shows."""
        try:
            return parse_day(value, end=self.end)
        except ValueError as exc:
            raise app_commands.TransformerError(value, self.type, self) from exc


Since = app_commands.Transform[datetime, Day(end=False)]
Until = app_commands.Transform[datetime, Day(end=True)]


class Lookups(LookupChoices, commands.Cog):
    """The lookup commands and their autocomplete."""

    def __init__(self, answers: AnswerService, cooldown: UserCooldown) -> None:
        self.answers = answers
        self.cooldown = cooldown
        self.replier = Replier(answers, cooldown)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Per-user cooldown for every lookup (help is free)."""
        if interaction.command is not None and interaction.command.name == "help":
            return True
        self.cooldown.spend(interaction.user.id)
        return True

    # ------------------------------------------------------------------ commands
    @app_commands.command(name="summary", description="The best article and a short summary")
    @app_commands.describe(query="What the article is about", private=PRIVATE)
    @app_commands.autocomplete(query=LookupChoices.query_choices)
    @everywhere
    async def summary(
        self, interaction: discord.Interaction, query: Query, private: bool = False
    ) -> None:
        """/summary."""
        await self.replier.to_interaction(interaction, "summary", query, ephemeral=private)

    @app_commands.command(name="source", description="Who published it, when, and who was first")
    @app_commands.describe(query="What the article is about", private=PRIVATE)
    @app_commands.autocomplete(query=LookupChoices.query_choices)
    @everywhere
    async def source(
        self, interaction: discord.Interaction, query: Query, private: bool = False
    ) -> None:
        """/source."""
        await self.replier.to_interaction(interaction, "source", query, ephemeral=private)

    @app_commands.command(name="related", description="Articles related to one, with reasons")
    @app_commands.describe(query="What the article is about", private=PRIVATE)
    @app_commands.autocomplete(query=LookupChoices.query_choices)
    @everywhere
    async def related(
        self, interaction: discord.Interaction, query: Query, private: bool = False
    ) -> None:
        """/related."""
        await self.replier.to_interaction(interaction, "related", query, ephemeral=private)

    @app_commands.command(name="search", description="Ranked articles, a page at a time")
    @app_commands.describe(
        query="Words to look for",
        outlet="Only this outlet",
        topic="Only this topic",
        since="Published on or after (2020-08-14, 2020-08 or 2020)",
        until="Published on or before (2020-08-14, 2020-08 or 2020)",
        private=PRIVATE,
    )
    @app_commands.autocomplete(
        query=LookupChoices.query_choices,
        outlet=LookupChoices.outlet_choices,
        topic=LookupChoices.topic_choices,
    )
    @everywhere
    async def search(
        self,
        interaction: discord.Interaction,
        query: Query,
        outlet: Name | None = None,
        topic: Name | None = None,
        since: Since | None = None,
        until: Until | None = None,
        private: bool = False,
    ) -> None:
        """/search."""
        await self.replier.to_interaction(
            interaction,
            "search",
            query,
            ephemeral=private,
            outlet=outlet,
            topic=topic,
            since=since,
            until=until,
        )

    @app_commands.command(name="ask", description="The passage that answers a question")
    @app_commands.describe(query="Your question", private=PRIVATE)
    @app_commands.autocomplete(query=LookupChoices.query_choices)
    @everywhere
    async def ask(
        self, interaction: discord.Interaction, query: Query, private: bool = False
    ) -> None:
        """/ask."""
        await self.replier.to_interaction(interaction, "ask", query, ephemeral=private)

    @app_commands.command(name="coverage", description="The story: outlets, first report, timeline")
    @app_commands.describe(query="What the story is about", private=PRIVATE)
    @app_commands.autocomplete(query=LookupChoices.query_choices)
    @everywhere
    async def coverage(
        self, interaction: discord.Interaction, query: Query, private: bool = False
    ) -> None:
        """/coverage."""
        await self.replier.to_interaction(interaction, "coverage", query, ephemeral=private)

    @app_commands.command(name="latest", description="The newest articles, optionally on a topic")
    @app_commands.describe(topic="Only this topic", private=PRIVATE)
    @app_commands.autocomplete(topic=LookupChoices.topic_choices)
    @everywhere
    async def latest(
        self, interaction: discord.Interaction, topic: Name | None = None, private: bool = False
    ) -> None:
        """/latest."""
        await self.replier.to_interaction(interaction, "latest", topic or "", ephemeral=private)

    @app_commands.command(name="help", description="What Coverage Bot can do")
    @everywhere
    async def help(self, interaction: discord.Interaction) -> None:
        """/help, always private: it is for the person asking."""
        await self.replier.to_interaction(interaction, "help", "", ephemeral=True)


async def setup(bot: CoverageBot) -> None:
    """Extension entry point."""
    await bot.add_cog(Lookups(bot.answers, bot.cooldown))
