"""Autocomplete choices the lookup, digest and follow commands share (engine suggestions).

A choice's name is corpus text shown as it is (no Markdown), so it is where a right-to-left
override or a zero-width space in a title or outlet would be seen: names go through
``strip_invisible`` like every card. Values are sent back unchanged, so a choice still finds
exactly the title or outlet it was made from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.app import request_log
from bot.corpus.invisible import strip_invisible

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
        return shown_choices((s.name, s.value) for s in found)

    async def outlet_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Outlet names, fuzzy-matched."""
        names = await self.answers.outlet_choices(current[:NAME_MAX])
        return shown_choices((n, n) for n in names)

    async def topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Topic names, fuzzy-matched."""
        names = await self.answers.topic_choices(current[:NAME_MAX])
        return shown_choices((n, n) for n in names)


def shown_choices(pairs: Iterable[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    """Choices Discord accepts and a reader can trust: visible names of 1-100 characters.

    A name with nothing visible left is not offered: Discord refuses an empty one, and a blank
    entry in the list could only mislead.
    """
    choices = []
    for name, value in pairs:
        shown = strip_invisible(name).strip()[:NAME_MAX]
        if shown and value:
            choices.append(app_commands.Choice(name=shown, value=value[:NAME_MAX]))
        if len(choices) == CHOICES_MAX:
            break
    return choices
