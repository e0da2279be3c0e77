"""Plain DMs: any text is a question for /ask; a leading command word runs that command.

Guild messages never reach this code in practice (no guild-messages intent) and are ignored if
they do, so the bot needs no message-content intent.

Every reply is a post, so every DM that would get one spends the sender's per-user budget (the
one slash commands spend), help and "I don't know /x" included. Past it the sender is told to
slow down once per window, then hears nothing until the window resets: a flood of DMs must not
become a flood of replies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.answers import REQUEST_WORDS, parse_request
from bot.app import UserCooldown, user_message
from bot.request_log import RequestLog
from cogs._replies import Replier

if TYPE_CHECKING:
    from bot.answer_service import AnswerService
    from bot.app import CoverageBot

log = logging.getLogger(__name__)

DM_QUERY_MAX = 500  # same spirit as the slash option's max_length; a DM can be longer


class DirectMessages(commands.Cog):
    """Answers questions sent to the bot in a DM."""

    def __init__(
        self, answers: AnswerService, cooldown: UserCooldown, requests: RequestLog | None = None
    ) -> None:
        self.replier = Replier(answers, cooldown)
        self.cooldown = cooldown
        self.requests = requests or RequestLog()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer a DM; ignore bots (ourselves included) and anything in a server."""
        if message.author.bot or message.guild is not None:
            return
        if not isinstance(message.channel, discord.DMChannel):
            return
        if not message.content.strip():
            return  # an attachment or sticker alone: nothing to answer, nothing spent
        limited = self.cooldown.hit(message.author.id)
        if limited is not None:
            if self.cooldown.first_refusal(message.author.id):
                await message.channel.send(user_message(limited) or "")
            return
        command, query = parse_request(message.content)
        if command not in REQUEST_WORDS:
            await message.channel.send(
                f"I don't know “{command[:50]}”. Send `help` to see what I can do."
            )
            return
        if not query and command not in ("help", "latest"):
            await message.channel.send(f"{command} what? For example: `{command} clearview`.")
            return
        try:
            await self.replier.to_message(message, command, query[:DM_QUERY_MAX])
        except discord.HTTPException:
            log.warning("could not answer DM from %s", message.author.id, exc_info=True)
        except Exception:
            what = self.requests.describe(f"DM {command}", message.author.id, query=query)
            log.exception("%s failed", what)
            await message.channel.send(
                "Something went wrong answering that. It has been logged — please try again."
            )


async def setup(bot: CoverageBot) -> None:
    """Extension entry point."""
    await bot.add_cog(DirectMessages(bot.answers, bot.cooldown, bot.request_log))
