"""Buttons under answers: search pages (the invoker's alone) and "did you mean" suggestions.

Pages come from a pure page source (``bot.render.search_pages``, or ``ProblemPages``, which
renders a page only when it is shown); these views only move between them. A view remembers
how to edit its message — through the interaction that created it (works in DMs, ephemeral
answers and user-installed contexts where the bot cannot edit channel messages) or the channel
message itself — so that on timeout its buttons are disabled rather than left to fail with
"This interaction failed".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence

import discord

from bot.app import UserCooldown, report_error
from bot.discord_embeds import message_embeds
from bot.render import Card, button_label

log = logging.getLogger(__name__)

VIEW_TIMEOUT = 300.0  # well inside the 15 minutes an interaction token can edit its message
Pick = Callable[[discord.Interaction, str, bool], Awaitable[None]]
"""Run a suggestion for the clicking user: (interaction, suggestion, clicked by the asker)."""


class AnswerView(discord.ui.View):
    """Base for this app's views: one error funnel, buttons disabled on timeout."""

    def __init__(self, *, timeout: float | None = None) -> None:
        super().__init__(timeout=VIEW_TIMEOUT if timeout is None else timeout)
        # discord.py routes a click by custom_id; ids unique per view keep that unambiguous
        # even before a response's message id is known, and let tests find a view's buttons.
        self.key = os.urandom(5).hex()
        self._interaction: discord.Interaction | None = None
        self._message: discord.Message | None = None

    def attach(
        self,
        *,
        interaction: discord.Interaction | None = None,
        message: discord.Message | None = None,
    ) -> None:
        """Remember where the view is shown, for the edit on timeout."""
        self._interaction, self._message = interaction, message

    def disable(self) -> None:
        """Grey out every button."""
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True

    async def on_timeout(self) -> None:
        """Disable the buttons in place; a message that is gone is not an error."""
        self.disable()
        try:
            if self._interaction is not None:
                await self._interaction.edit_original_response(view=self)
            elif self._message is not None:
                await self._message.edit(view=self)
        except discord.HTTPException as exc:
            log.debug("could not disable buttons after timeout: %s", exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        """Button errors go through the same funnel as command errors."""
        await report_error(interaction, error)


class PageView(AnswerView):
    """◀ Prev · page n/N · Next ▶ over cards; only the person who asked may turn pages."""

    def __init__(
        self, pages: Sequence[Card], owner_id: int, *, timeout: float | None = None
    ) -> None:
        super().__init__(timeout=timeout)
        self.pages = pages  # indexed, never copied: a lazy source stays lazy
        self.owner_id = owner_id
        self.index = 0
        self.prev.custom_id = f"{self.key}:prev"
        self.where.custom_id = f"{self.key}:page"
        self.next.custom_id = f"{self.key}:next"
        self._refresh()

    def _refresh(self) -> None:
        self.prev.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.where.label = f"{self.index + 1}/{len(self.pages)}"

    def current(self) -> list[discord.Embed]:
        """The embeds of the page on show."""
        return message_embeds([self.pages[self.index]])

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Pages turn for the person who asked; anyone else is told how to get their own."""
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the person who asked can turn these pages — ask your own to browse.",
            ephemeral=True,
        )
        return False

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._refresh()
        await interaction.response.edit_message(embeds=self.current(), view=self)

    @discord.ui.button(label="◀ Prev", style=discord.ButtonStyle.secondary)
    async def prev(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Previous page."""
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def where(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """A label, never clickable (it is disabled)."""

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.primary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Next page."""
        await self._show(interaction, self.index + 1)


class SuggestionView(AnswerView):
    """Up to three "did you mean" buttons; each runs the same command with the suggestion.

    Anyone may click: the asker's click replaces the "not in this coverage" message, anyone
    else gets their own answer privately (posting in someone else's name would be noise).
    A click runs a full query, so it spends the clicker's ``cooldown`` like a slash command.
    """

    def __init__(
        self,
        suggestions: Sequence[str],
        owner_id: int,
        pick: Pick,
        cooldown: UserCooldown,
        *,
        timeout: float | None = None,
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self._pick = pick
        self.cooldown = cooldown
        for i, suggestion in enumerate(list(suggestions)[:3]):
            button: discord.ui.Button = discord.ui.Button(
                label=button_label(suggestion),
                style=discord.ButtonStyle.secondary,
                custom_id=f"{self.key}:s{i}",
            )
            button.callback = self._callback(suggestion)  # type: ignore[method-assign]
            self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """The clicker's budget, not the asker's: the error funnel tells them when to retry."""
        self.cooldown.spend(interaction.user.id)
        return True

    def _callback(self, suggestion: str) -> Callable[[discord.Interaction], Awaitable[None]]:
        async def run(interaction: discord.Interaction) -> None:
            asker = interaction.user.id == self.owner_id
            if asker:
                self.stop()  # the message is about to show the answer instead
            await self._pick(interaction, suggestion, asker)

        return run
