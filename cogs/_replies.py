"""From a command and a query to the message a person sees: slash commands, buttons and DMs.

One path for every surface so "/summary x", a "did you mean" click and the DM "summary x" look
the same. The engine runs in its worker thread; if it has not answered within ``DEFER_AFTER``
the interaction is deferred first, so Discord's 3-second acknowledgement never runs out even
while a big reload is being applied.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import discord

from bot.answer_service import AnswerService
from bot.answers import Reply, reply_for
from bot.app import UserCooldown
from bot.discord_embeds import message_embeds
from bot.render import help_card
from cogs.views import AnswerView, PageView, SuggestionView

# Answer directly when the engine is this quick (it nearly always is: 1–2 ms); otherwise defer.
# 1 s leaves 2 s of Discord's 3 for the network and a busy event loop.
DEFER_AFTER = 1.0
T = TypeVar("T")


async def deferring(
    work: Awaitable[T], defer: Callable[[], Awaitable[object]], after: float = DEFER_AFTER
) -> T:
    """``work``'s result, calling ``defer`` first if it has not come within ``after`` seconds."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=after)
    if not done:
        await defer()
    return await task


class Replier:
    """Composes replies from the engine and sends them to interactions or DM channels.

    ``cooldown`` is the per-user budget "did you mean" clicks spend, as the commands do.
    """

    def __init__(
        self, answers: AnswerService, cooldown: UserCooldown, *, defer_after: float = DEFER_AFTER
    ) -> None:
        self.answers = answers
        self.cooldown = cooldown
        self.defer_after = defer_after

    async def compose(
        self,
        command: str,
        query: str,
        *,
        surface: str = "slash",
        outlet: str | None = None,
        topic: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Reply:
        """Ask the engine and render its answer, both in the engine's thread."""
        if command == "help":  # the only answer that depends on where it is asked
            return Reply(command, [help_card(surface)])
        filters = {"outlet": outlet, "topic": topic, "since": since, "until": until}
        self.answers.prepare(command, query)
        return await self.answers.call(reply_for, command, query, filters)

    def view_for(
        self, reply: Reply, owner_id: int, *, ephemeral: bool = False
    ) -> AnswerView | None:
        """Page buttons for several pages, suggestion buttons for a miss, else nothing."""
        if len(reply.pages) > 1:
            return PageView(reply.pages, owner_id)
        if reply.suggestions:

            async def pick(interaction: discord.Interaction, suggestion: str, asker: bool) -> None:
                await self.to_interaction(
                    interaction,
                    reply.command,
                    suggestion,
                    ephemeral=ephemeral or not asker,
                    in_place=asker,
                )

            return SuggestionView(reply.suggestions, owner_id, pick, self.cooldown)
        return None

    # ------------------------------------------------------------------ interactions
    async def to_interaction(
        self,
        interaction: discord.Interaction,
        command: str,
        query: str,
        *,
        ephemeral: bool = False,
        in_place: bool = False,
        **filters: Any,
    ) -> None:
        """Answer a slash command (or, ``in_place``, replace the clicked message)."""
        response = interaction.response
        defer = (
            response.defer
            if in_place
            else functools.partial(response.defer, thinking=True, ephemeral=ephemeral)
        )
        reply = await deferring(self.compose(command, query, **filters), defer, self.defer_after)
        await self.send(interaction, reply, ephemeral=ephemeral, in_place=in_place)

    async def send(
        self,
        interaction: discord.Interaction,
        reply: Reply,
        *,
        ephemeral: bool = False,
        in_place: bool = False,
    ) -> None:
        """Send ``reply`` as the interaction's response (or its deferred edit)."""
        embeds = message_embeds(reply.cards)
        view = self.view_for(reply, interaction.user.id, ephemeral=ephemeral)
        extra: dict[str, Any] = {} if view is None else {"view": view}
        if interaction.response.is_done():
            if in_place or view is not None:
                await interaction.edit_original_response(embeds=embeds, view=view)
            else:
                await interaction.edit_original_response(embeds=embeds)
        elif in_place:
            await interaction.response.edit_message(embeds=embeds, view=view)
        else:
            await interaction.response.send_message(embeds=embeds, ephemeral=ephemeral, **extra)
        if view is not None:
            view.attach(interaction=interaction)

    # ------------------------------------------------------------------ DMs
    async def to_message(self, message: discord.Message, command: str, query: str) -> None:
        """Answer a plain DM in its channel."""
        reply = await self.compose(command, query, surface="dm")
        embeds = message_embeds(reply.cards)
        view = self.view_for(reply, message.author.id)
        if view is None:
            await message.channel.send(embeds=embeds)
            return
        sent = await message.channel.send(embeds=embeds, view=view)
        view.attach(message=sent)
