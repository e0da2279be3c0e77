"""Posting digests over discord.py: the core's ``Sender``, with Discord's errors typed.

A digest goes out as one message with its outbox nonce (discord.py then sets ``enforce_nonce``,
so a repeat returns the first message instead of a second post); Discord's errors become the
core's typed failures, so the core decides what to retry, pause or report.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import discord

from bot.digests.delivery import (
    DeliveryError,
    DMsClosed,
    MissingPermission,
    TargetGone,
    TransientError,
    missing_permission,
)
from bot.digests.models import Target
from bot.discord_embeds import message_embeds
from bot.render import Card

log = logging.getLogger(__name__)
T = TypeVar("T")

# How far back a digest whose send outcome was lost is looked for (after Discord's nonce window):
# one page of history is plenty for a channel the bot posts a few digests a day in.
HISTORY_SCAN = 100
# Discord error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
MISSING_ACCESS = 50001
CANNOT_DM = 50007
INVALID_RECIPIENT = 50033


def delivery_failure(
    error: discord.HTTPException, target: Target, missing: str | None = None
) -> DeliveryError:
    """Discord's answer to a digest as the core's typed failure.

    ``missing`` names the permission the bot's cached permissions say it lacks, for a 50013
    that doesn't say which (Discord never does).
    """
    code = error.code
    if isinstance(error, discord.NotFound):  # 10003 Unknown Channel, 10013 Unknown User
        return TargetGone() if target.kind == "channel" else TargetGone("the user no longer exists")
    if isinstance(error, discord.Forbidden):
        if target.kind == "dm" or code == CANNOT_DM:
            return DMsClosed()
        if code == MISSING_ACCESS:
            return MissingPermission("View Channel")
        return MissingPermission(missing or "Send Messages")
    if code == INVALID_RECIPIENT:
        return TargetGone("the user can no longer be reached")
    detail = f"Discord answered {error.status}" + (f" (code {code})" if code else "")
    return TransientError(detail)  # 5xx, or a 4xx that a later try may not hit


def cached_missing(channel: object) -> str | None:
    """The first permission a digest needs that the bot's cached permissions there lack."""
    if not isinstance(channel, discord.abc.GuildChannel) or channel.guild.me is None:
        return None
    granted = channel.permissions_for(channel.guild.me)
    return missing_permission(lambda name: bool(getattr(granted, name)))


class DiscordSender:
    """The core's ``Sender`` over discord.py: one message per digest, errors typed."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send(self, target: Target, cards: Sequence[Card], nonce: str) -> int:
        """Post ``cards`` as one message with ``nonce`` (discord.py adds ``enforce_nonce``)."""

        async def post() -> int:
            channel = await self._messageable(target)
            self._require_permissions(channel)
            message = await channel.send(embeds=message_embeds(cards), nonce=nonce)
            return message.id

        return await self._typed(target, post())

    async def check(self, target: Target) -> None:
        """Raise ``MissingPermission`` naming the first permission a digest there lacks."""

        async def look() -> None:
            self._require_permissions(await self._messageable(target))

        await self._typed(target, look())

    async def find_sent(self, target: Target, marker: str, after: datetime) -> int | None:
        """The bot's message after ``after`` whose footer holds ``marker``, if any."""

        async def scan() -> int | None:
            channel = await self._messageable(target)
            me = self.client.user
            async for message in channel.history(limit=HISTORY_SCAN, after=after):
                mine = me is not None and message.author.id == me.id
                if mine and any(marker in (e.footer.text or "") for e in message.embeds):
                    return message.id
            return None

        try:
            return await self._typed(target, scan())
        except MissingPermission:
            # No Read Message History: the core then sends again, as documented there.
            log.warning("can't read %s's history to find digest %s", target.key, marker)
            return None

    # ------------------------------------------------------------------ internals
    async def _messageable(self, target: Target) -> discord.abc.Messageable:
        if target.kind == "dm":
            return await self.client.create_dm(discord.Object(target.id))
        channel = self.client.get_channel(target.id)
        if channel is None:  # not cached (e.g. deleted, or its server unavailable): ask
            channel = await self.client.fetch_channel(target.id)
        if not isinstance(channel, discord.abc.Messageable):
            raise TargetGone("the channel can't hold messages")
        return channel

    @staticmethod
    def _require_permissions(channel: object) -> None:
        """Check the cached permissions first, so the reason names the permission exactly."""
        missing = cached_missing(channel)
        if missing is not None:
            raise MissingPermission(missing)

    def _missing(self, target: Target) -> str | None:
        if target.kind != "channel":
            return None
        return cached_missing(self.client.get_channel(target.id))

    async def _typed(self, target: Target, work: Coroutine[Any, Any, T]) -> T:
        try:
            return await work
        except discord.HTTPException as error:
            raise delivery_failure(error, target, self._missing(target)) from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise TransientError(f"network error ({type(error).__name__})") from error
