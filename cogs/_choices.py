"""Autocomplete choices the lookup, digest and follow commands share (engine suggestions)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.app import request_log

if TYPE_CHECKING:
    from bot.answer_service import AnswerService

log = logging.getLogger(__name__)

QUERY_MAX = 200  # a long question fits; a pasted article does not
NAME_MAX = 100  # Discord's limit for an autocomplete value, so every suggestion fits
CHOICES_MAX = 25  # Discord rejects more


class LookupChoices:
    """Autocomplete callbacks for the query, outlet and topic options of any cog with ``answers``.

    discord.py binds them to the cog instance because they are methods of its class.
    """

    answers: AnswerService

    async def query_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Titles, outlets and topics matching what is typed (the engine's suggest)."""
        try:
            found = await self.answers.suggest(current[:QUERY_MAX])
        except Exception:  # autocomplete failing must not spam the error funnel
            what = request_log(interaction.client).describe(
                "query autocomplete", interaction.user.id, query=current
            )
            log.exception("%s failed", what)
            return []
        return [app_commands.Choice(name=s.name, value=s.value) for s in found[:CHOICES_MAX]]

    async def outlet_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Outlet names, fuzzy-matched."""
        names = await self.answers.outlet_choices(current[:NAME_MAX])
        return [app_commands.Choice(name=n, value=n) for n in names[:CHOICES_MAX]]

    async def topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Topic names, fuzzy-matched."""
        names = await self.answers.topic_choices(current[:NAME_MAX])
        return [app_commands.Choice(name=n, value=n) for n in names[:CHOICES_MAX]]
