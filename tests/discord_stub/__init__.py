"""A Discord-compatible REST + gateway server on 127.0.0.1 for end-to-end bot tests.

Quick start::

    from tests.discord_stub import DiscordStub, patch_discord, running_bot

    async with DiscordStub() as stub:
        with patch_discord(stub):
            async with running_bot(make_bot(), stub) as bot:
                handle = await stub.invoke("summary", {"query": "clearview"})
                msg = await handle.message()

Or use the ``discord_stub`` / ``bot_runner`` fixtures from ``tests.discord_stub.fixtures``.
"""

from .harness import BotRunner, patch_discord, running_bot, set_discord_endpoints
from .models import Intents, P, StubChannel, StubGuild, StubMember, StubRole, StubUser
from .records import (
    CommandUnavailable,
    InteractionHandle,
    RecordedRequest,
    SentMessage,
    StubError,
    StubTimeout,
)
from .server import DiscordStub
from .validate import FormErrors, Pings, check_commands, check_message, pings

__all__ = [
    "BotRunner",
    "CommandUnavailable",
    "DiscordStub",
    "FormErrors",
    "Intents",
    "InteractionHandle",
    "P",
    "Pings",
    "RecordedRequest",
    "SentMessage",
    "StubChannel",
    "StubError",
    "StubGuild",
    "StubMember",
    "StubRole",
    "StubTimeout",
    "StubUser",
    "check_commands",
    "check_message",
    "patch_discord",
    "pings",
    "running_bot",
    "set_discord_endpoints",
]
