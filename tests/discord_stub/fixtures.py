"""Pytest fixtures for the Discord stub.

Enable everywhere with ``pytest_plugins = ["tests.discord_stub.fixtures"]`` in
tests/conftest.py, or import the fixtures into a test module directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .harness import BotRunner, patch_discord
from .server import DiscordStub


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[DiscordStub]:
    """A started stub on loopback, stopped after (the bot is pointed at it by its config)."""
    async with DiscordStub() as s:
        yield s


@pytest_asyncio.fixture
async def discord_stub() -> AsyncIterator[DiscordStub]:
    """A started stub with discord.py patched to use it; stopped (and unpatched) after."""
    stub = DiscordStub()
    await stub.start()
    try:
        with patch_discord(stub):
            yield stub
    finally:
        await stub.stop()


@pytest_asyncio.fixture
async def bot_runner(discord_stub: DiscordStub) -> AsyncIterator[BotRunner]:
    """``await bot_runner.start(bot)`` → logged in, connected and ready; closed after."""
    runner = BotRunner(discord_stub)
    try:
        yield runner
    finally:
        await runner.aclose()
