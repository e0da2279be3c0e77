"""The stub's world: users, roles, members, channels and one guild, plus their Discord JSON.

Payload shapes follow Discord API v10 as discord.py 2.7 reads them (e.g. a member
payload must carry ``flags``, a message ``type``/``content``/``timestamp``). Snowflakes
are real ones (Discord epoch + time), so ``created_at`` on the bot's side is sane.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Monotonic snowflake generator (time-based like Discord's, so ids sort by creation)."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._inc = 0

    def next(self) -> int:
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._last_ms)
        if ms == self._last_ms:
            self._inc += 1
            if self._inc > 0xFFF:
                ms += 1
                self._inc = 0
        else:
            self._inc = 0
        self._last_ms = ms
        return (ms << 22) | (1 << 17) | self._inc


def iso_now() -> str:
    """Discord timestamps are ISO 8601 with an explicit UTC offset."""
    return dt.datetime.now(dt.UTC).isoformat()


class P:
    """Permission bits (Discord's numbering) used by the stub."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1

    #: What @everyone gets in a fresh server (close enough to Discord's default).
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )
    #: What a bot invited with the usual "send messages + embeds" scope gets.
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS
        | SEND_MESSAGES_IN_THREADS
    )
    #: What Discord reports as app_permissions in the bot's own DM.
    DM_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS
    )


class Intents:
    """Gateway intent bits the stub honours."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


class ChannelType:
    GUILD_TEXT = 0
    DM = 1


@dataclass(eq=False)
class StubUser:
    """A Discord user. ``dms_closed`` makes sends to their DM channel fail with 50007."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_closed: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class StubRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class StubMember:
    user: StubUser
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.role_ids],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass(eq=False)
class StubChannel:
    """A guild text channel or a DM channel.

    ``deleted`` makes every route on it answer 404 10003; ``overwrites`` are Discord
    permission overwrites (``{"id", "type": 0 role | 1 member, "allow", "deny"}``).
    """

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    recipients: list[StubUser] = field(default_factory=list)
    overwrites: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    last_message_id: int | None = None

    @property
    def is_dm(self) -> bool:
        return self.type == ChannelType.DM

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        last = str(self.last_message_id) if self.last_message_id else None
        if self.is_dm:
            return {
                "id": str(self.id),
                "type": ChannelType.DM,
                "last_message_id": last,
                "flags": 0,
                "recipients": [u.payload() for u in self.recipients],
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "parent_id": None,
            "topic": self.topic,
            "nsfw": False,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "flags": 0,
            "permission_overwrites": [
                {
                    "id": str(o["id"]),
                    "type": o["type"],
                    "allow": str(o.get("allow", 0)),
                    "deny": str(o.get("deny", 0)),
                }
                for o in self.overwrites
            ],
        }


@dataclass(eq=False)
class StubGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, StubRole] = field(default_factory=dict)
    members: dict[int, StubMember] = field(default_factory=dict)
    channels: dict[int, StubChannel] = field(default_factory=dict)
    locale: str = "en-US"

    @property
    def everyone(self) -> StubRole:
        return self.roles[self.id]

    def base_permissions(self, user_id: int) -> int:
        """Guild-level permissions (Discord's algorithm: owner/admin get everything)."""
        if user_id == self.owner_id:
            return P.ALL
        member = self.members.get(user_id)
        perms = self.everyone.permissions
        if member is not None:
            for rid in member.role_ids:
                role = self.roles.get(rid)
                if role is not None:
                    perms |= role.permissions
        if perms & P.ADMINISTRATOR:
            return P.ALL
        return perms

    def channel_permissions(self, user_id: int, channel: StubChannel) -> int:
        """Permissions in ``channel`` after overwrites (@everyone, then roles, then member)."""
        perms = self.base_permissions(user_id)
        if perms == P.ALL:
            return perms
        member = self.members.get(user_id)
        role_ids = set(member.role_ids) if member else set()
        by_id = {(o["id"], o["type"]): o for o in channel.overwrites}
        ev = by_id.get((self.id, 0))
        if ev:
            perms = (perms & ~ev.get("deny", 0)) | ev.get("allow", 0)
        allow = deny = 0
        for o in channel.overwrites:
            if o["type"] == 0 and o["id"] in role_ids:
                allow |= o.get("allow", 0)
                deny |= o.get("deny", 0)
        perms = (perms & ~deny) | allow
        mo = by_id.get((user_id, 1))
        if mo:
            perms = (perms & ~mo.get("deny", 0)) | mo.get("allow", 0)
        if not perms & P.VIEW_CHANNEL:
            return 0
        return perms

    def partial_payload(self) -> dict[str, Any]:
        """The ``guild`` object attached to interactions."""
        return {"id": str(self.id), "locale": self.locale, "features": []}

    def payload(self, *, members: list[StubMember]) -> dict[str, Any]:
        """Full GUILD_CREATE payload; ``members`` is what the intents let the bot see."""
        text = [c for c in self.channels.values() if not c.deleted]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": str(text[0].id) if text else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "preferred_locale": self.locale,
            "features": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "widget_enabled": False,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": iso_now(),
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [m.payload() for m in members],
            "channels": [c.payload() for c in text],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }
