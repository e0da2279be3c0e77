"""Glue between the stub and a real discord.py client: URL patching and bot lifecycle.

Readiness: :func:`running_bot` returns once ``bot.wait_until_ready()`` does. discord.py
fires on_ready ``guild_ready_timeout`` seconds (default 2 s) after the last
GUILD_CREATE, so test bots should pass ``guild_ready_timeout=0.05`` (or similar) and
``chunk_guilds_at_startup=False`` to start in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

if TYPE_CHECKING:
    import discord

    from .server import DiscordStub

ClientT = TypeVar("ClientT", bound="discord.Client")


def set_discord_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Point discord.py at another Discord (what the app does from DISCORD_API_BASE /
    DISCORD_GATEWAY_URL). Both are class attributes, so this is process-wide."""
    if api_base:
        Route.BASE = api_base.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


@contextlib.contextmanager
def patch_discord(stub: DiscordStub) -> Iterator[None]:
    """Route discord.py's REST and gateway to ``stub`` for the duration; restores after.

    Process-wide (class attributes): do not run two stubs at once in one process.
    """
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    set_discord_endpoints(stub.api_base, stub.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@asynccontextmanager
async def running_bot(
    bot: ClientT,
    stub: DiscordStub,
    *,
    token: str | None = None,
    ready_timeout: float = 10.0,
) -> AsyncIterator[ClientT]:
    """Log ``bot`` in against ``stub``, connect, wait for on_ready; close it afterwards.

    ``login`` runs ``setup_hook`` (where bots usually ``tree.sync()``). If the connect
    task dies before ready, its exception is raised here instead of a timeout.
    """
    task: asyncio.Task[None] | None = None
    try:
        await bot.login(token or stub.token)
        task = asyncio.create_task(bot.connect(reconnect=True), name="discord-stub-bot")
        ready = asyncio.ensure_future(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # raises the connect error
                raise RuntimeError("bot.connect() returned before the bot was ready")
            raise TimeoutError(f"bot not ready after {ready_timeout}s")
        yield bot
    finally:
        await bot.close()
        if task is not None:
            try:
                await asyncio.wait_for(task, 5)
            except (asyncio.CancelledError, TimeoutError):
                task.cancel()
            except Exception:
                pass


class BotRunner:
    """Starts bots against a stub and closes them all at teardown (see fixtures)."""

    def __init__(self, stub: DiscordStub) -> None:
        self.stub = stub
        self._stack = AsyncExitStack()

    async def start(self, bot: ClientT, **kwargs: object) -> ClientT:
        """Login + connect + wait until ready; the bot is closed by :meth:`aclose`."""
        return await self._stack.enter_async_context(running_bot(bot, self.stub, **kwargs))  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self._stack.aclose()
