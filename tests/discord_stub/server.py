"""DiscordStub: a Discord-compatible REST + gateway server on 127.0.0.1 for end-to-end tests.

Point discord.py at it with :func:`tests.discord_stub.harness.patch_discord` (sets
``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``), then drive the
bot from the test side: ``invoke``/``autocomplete``/``click``/``submit_modal`` dispatch
INTERACTION_CREATE, ``dm_message``/``send_user_message`` dispatch MESSAGE_CREATE,
``disconnect`` drops the websocket. Everything the bot sends is validated like Discord
does and recorded in ``requests`` / ``messages``; every wait is event-driven.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from .gateway import APP_FLAGS, Gateway, Session
from .models import (
    ChannelType,
    Intents,
    P,
    Snowflakes,
    StubChannel,
    StubGuild,
    StubMember,
    StubRole,
    StubUser,
    iso_now,
)
from .records import (
    CommandUnavailable,
    InteractionHandle,
    RecordedRequest,
    SentMessage,
    StubError,
    StubTimeout,
)
from .rest import RestApi
from .validate import FLAG_EPHEMERAL, pings

API_PREFIX = "/api/v10"

INTERACTION_PING = 1
INTERACTION_COMMAND = 2
INTERACTION_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5

CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1


@dataclass
class Fault:
    """A scripted failure for the next matching REST call(s); see :meth:`DiscordStub.fail_next`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    retry_after: float
    times: int
    after: bool

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in (method, "*") and bool(self.pattern.search(path))


class DiscordStub:
    """A fake Discord for one bot: an application, one guild, a text channel and users.

    Default world: ``bot_user`` (the application's bot), ``owner`` (guild owner, so all
    permissions), ``member`` and ``other`` (plain members with @everyone permissions),
    ``guild`` and its text channel ``channel``. Add more with :meth:`add_user` /
    :meth:`add_channel`.

    Knobs: ``token`` (what the bot must log in with), ``bot_permissions`` (the bot's
    role), ``interaction_deadline`` (seconds before an unacknowledged interaction expires,
    Discord's 3 s; ``None`` disables), ``nonce_window`` (how long ``enforce_nonce`` dedups),
    ``echo_bot_messages`` (dispatch MESSAGE_CREATE/UPDATE/DELETE for the bot's own
    messages, as Discord does), ``default_timeout`` for every ``wait_*``/``await``.
    """

    def __init__(
        self,
        *,
        token: str = "stub-bot-token",
        bot_name: str = "Coverage Bot",
        guild_name: str = "Newsroom",
        bot_permissions: int = P.BOT_DEFAULT,
        interaction_deadline: float | None = 3.0,
        nonce_window: float = 300.0,
        echo_bot_messages: bool = True,
        heartbeat_interval: int = 45_000,
        default_timeout: float = 5.0,
    ) -> None:
        self.token = token
        self.interaction_deadline = interaction_deadline
        self.nonce_window = nonce_window
        self.echo_bot_messages = echo_bot_messages
        self.default_timeout = default_timeout
        self.ids = Snowflakes()

        self.application_id = self.ids.next()
        self.application_name = bot_name
        self.bot_user = StubUser(self.application_id, bot_name.lower().replace(" ", "-"), bot=True)
        self.owner = StubUser(self.ids.next(), "olive", "Olive Owner")
        self.member = StubUser(self.ids.next(), "alice", "Alice")
        self.other = StubUser(self.ids.next(), "bob", "Bob")
        self.users: dict[int, StubUser] = {
            u.id: u for u in (self.bot_user, self.owner, self.member, self.other)
        }

        gid = self.ids.next()
        self.guild = StubGuild(id=gid, name=guild_name, owner_id=self.owner.id)
        self.guild.roles[gid] = StubRole(gid, "@everyone", P.EVERYONE_DEFAULT, position=0)
        bot_role = StubRole(
            self.ids.next(),
            bot_name,
            bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        self.bot_role = bot_role
        self.guild.roles[bot_role.id] = bot_role
        for u in (self.owner, self.bot_user, self.member, self.other):
            roles = [bot_role.id] if u is self.bot_user else []
            self.guild.members[u.id] = StubMember(u, roles)
        self.channels: dict[int, StubChannel] = {}
        self.channel = self._new_channel("general")
        self._dm_channels: dict[int, StubChannel] = {}

        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self.syncs: list[tuple[int | None, list[dict[str, Any]]]] = []

        self.requests: list[RecordedRequest] = []
        self.all_messages: dict[int, SentMessage] = {}
        self.interactions: list[InteractionHandle] = []
        self._interactions_by_id: dict[int, InteractionHandle] = {}
        self._interactions_by_token: dict[str, InteractionHandle] = {}
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._faults: list[Fault] = []
        self.typing: list[int] = []  # channel ids the bot sent "typing" to

        self.gateway = Gateway(self, heartbeat_interval)
        self._rest = RestApi(self)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port: int | None = None

    # ================================================================== lifecycle

    async def start(self) -> DiscordStub:
        """Bind 127.0.0.1 on a free port and serve REST + gateway."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/gateway/resume", self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest.handle)
        app.router.add_route("*", "/{tail:.*}", self._rest.handle)
        # A short shutdown_timeout: a test that failed mid-way must not hang teardown.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close every websocket and the HTTP server (idempotent)."""
        self.gateway.release()
        if self._client is not None:
            await self._client.close()
            self._client = None
        for conn in self.gateway.connections:
            if not conn.ws.closed:
                conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStub:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise StubError("stub not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be (``DISCORD_API_BASE``)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be (``DISCORD_GATEWAY_URL``)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """Sent in READY; a separate path so tests can see the client honoured it."""
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables the real app reads to find Discord."""
        return {"DISCORD_API_BASE": self.api_base, "DISCORD_GATEWAY_URL": self.gateway_url}

    # ================================================================== waiting

    def _notify(self) -> None:
        """Wake every waiter (called after any state change)."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        *,
        what: str = "a condition",
        timeout: float | None = None,
    ) -> Any:
        """Wait until ``predicate()`` is truthy; return its value.

        The predicate is re-checked whenever the *stub's* state changes (a request, a
        gateway message, a helper call), so it must depend on stub state only. To wait
        for something inside the bot, use discord.py's ``bot.wait_for(event, check=...)``
        or an ``asyncio.Event`` the bot sets.
        """
        timeout = self.default_timeout if timeout is None else timeout

        async def loop() -> Any:
            while True:
                ev = self._changed
                value = predicate()
                if value:
                    return value
                await ev.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            recent = "\n  ".join(repr(r) for r in self.requests[-8:]) or "(none)"
            raise StubTimeout(
                f"timed out after {timeout}s waiting for {what}.\n"
                f"gateway connected={self.gateway.connected} identifies={self.gateway.identifies} "
                f"resumes={self.gateway.resumes}\nlast requests:\n  {recent}"
            ) from None

    async def wait_identified(self, count: int = 1, timeout: float | None = None) -> None:
        """The bot has IDENTIFYed ``count`` times (READY + GUILD_CREATE were sent).

        The *bot* is ready a moment later (discord.py waits ``guild_ready_timeout`` after
        the last GUILD_CREATE): use ``await bot.wait_until_ready()`` for that.
        """
        await self.wait_for(
            lambda: self.gateway.identifies >= count, what=f"IDENTIFY #{count}", timeout=timeout
        )

    async def wait_resumed(self, count: int = 1, timeout: float | None = None) -> None:
        """The bot has RESUMEd ``count`` times (missed events replayed, RESUMED sent)."""
        await self.wait_for(
            lambda: self.gateway.resumes >= count, what=f"RESUME #{count}", timeout=timeout
        )

    async def wait_commands_synced(
        self, guild: bool | int | None = None, *, count: int = 1, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` accepted bulk overwrites and return the resulting commands.

        ``guild=None``: any scope, returns that sync's commands; ``False``: global only;
        ``True``: the stub guild; an int: that guild id.
        """
        scope: int | bool | None
        scope = self.guild.id if guild is True else guild

        def matching() -> list[tuple[int | None, list[dict[str, Any]]]]:
            if scope is None:
                return self.syncs
            want = None if scope is False else scope
            return [s for s in self.syncs if s[0] == want]

        await self.wait_for(
            lambda: len(matching()) >= count, what=f"command sync #{count}", timeout=timeout
        )
        return matching()[count - 1][1]

    async def wait_message(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        channel: StubChannel | int | None = None,
        after: int | None = None,
        what: str = "a message from the bot",
        timeout: float | None = None,
    ) -> SentMessage:
        """The first bot message (optionally in ``channel``, with id > ``after``) matching."""
        cid = channel.id if isinstance(channel, StubChannel) else channel

        def find() -> SentMessage | None:
            for m in self.messages:
                if cid is not None and m.channel_id != cid:
                    continue
                if after is not None and m.id <= after:
                    continue
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_for(find, what=what, timeout=timeout)

    # ================================================================== records

    @property
    def messages(self) -> list[SentMessage]:
        """Every message the bot created (channel sends, interaction responses, followups)."""
        return [m for m in self.all_messages.values() if m.author_id == self.bot_user.id]

    def message(self, message_id: int | str) -> SentMessage:
        try:
            return self.all_messages[int(message_id)]
        except KeyError:
            raise StubError(f"no message {message_id}") from None

    @property
    def rejections(self) -> list[RecordedRequest]:
        """Requests answered 4xx (validation failures, permission errors, unknown routes)."""
        return [r for r in self.requests if r.rejected]

    @property
    def unknown_routes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.unknown]

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    # ================================================================== world setup

    def _new_channel(
        self, name: str, overwrites: list[dict[str, Any]] | None = None
    ) -> StubChannel:
        ch = StubChannel(
            id=self.ids.next(),
            type=ChannelType.GUILD_TEXT,
            name=name,
            guild_id=self.guild.id,
            position=len(self.guild.channels),
            overwrites=list(overwrites or []),
        )
        self.guild.channels[ch.id] = ch
        self.channels[ch.id] = ch
        return ch

    def add_user(
        self, username: str, *, in_guild: bool = True, permissions: int = 0, bot: bool = False
    ) -> StubUser:
        """A new user; with ``permissions`` they get a role granting them (guild-wide).

        No GUILD_MEMBER_ADD is dispatched: add users before the bot connects if it
        caches members.
        """
        user = StubUser(self.ids.next(), username, username.title(), bot=bot)
        self.users[user.id] = user
        if in_guild:
            roles = []
            if permissions:
                role = StubRole(self.ids.next(), f"{username}-role", permissions, position=1)
                self.guild.roles[role.id] = role
                roles.append(role.id)
            self.guild.members[user.id] = StubMember(user, roles)
        return user

    async def add_channel(
        self, name: str, *, overwrites: list[dict[str, Any]] | None = None
    ) -> StubChannel:
        """A new text channel (CHANNEL_CREATE is dispatched if the bot is connected)."""
        ch = self._new_channel(name, overwrites)
        await self._maybe_dispatch("CHANNEL_CREATE", ch.payload())
        return ch

    async def delete_channel(self, channel: StubChannel, *, dispatch: bool = True) -> None:
        """Delete ``channel``: routes on it answer 404 10003 (Unknown Channel) from now on."""
        channel.deleted = True
        if dispatch:
            await self._maybe_dispatch("CHANNEL_DELETE", channel.payload())
        self._notify()

    async def guild_outage(self, *, over: bool = False) -> None:
        """The guild goes down (GUILD_DELETE with ``unavailable: true``), or comes back
        (``over=True``: GUILD_CREATE again). The bot is still a member throughout."""
        if over:
            assert self.session is not None, "no bot connected"
            await self.gateway.dispatch("GUILD_CREATE", self._guild_create(self.session))
        else:
            await self._maybe_dispatch(
                "GUILD_DELETE", {"id": str(self.guild.id), "unavailable": True}
            )
        self._notify()

    async def remove_bot(self) -> None:
        """Kick the bot from the guild: GUILD_DELETE without ``unavailable``, as Discord sends
        when the bot is removed or the guild deleted. Only the event: later REST calls on the
        guild are still answered as before."""
        await self._maybe_dispatch("GUILD_DELETE", {"id": str(self.guild.id)})
        self._notify()

    async def set_bot_overwrite(
        self, channel: StubChannel, *, allow: int = 0, deny: int = 0, dispatch: bool = True
    ) -> None:
        """Put a member overwrite for the bot on ``channel`` (e.g. ``deny=P.SEND_MESSAGES``
        → sends answer 403 50013; ``deny=P.VIEW_CHANNEL`` → 403 50001)."""
        channel.overwrites = [
            o for o in channel.overwrites if not (o["type"] == 1 and o["id"] == self.bot_user.id)
        ]
        channel.overwrites.append({"id": self.bot_user.id, "type": 1, "allow": allow, "deny": deny})
        if dispatch:
            await self._maybe_dispatch("CHANNEL_UPDATE", channel.payload())
        self._notify()

    def close_dms(self, user: StubUser, closed: bool = True) -> None:
        """Make sends to ``user``'s DM channel answer 403 50007."""
        user.dms_closed = closed

    def dm_channel(self, user: StubUser) -> StubChannel:
        """The DM channel between the bot and ``user`` (created on first use)."""
        ch = self._dm_channels.get(user.id)
        if ch is None:
            ch = StubChannel(id=self.ids.next(), type=ChannelType.DM, recipients=[user])
            self._dm_channels[user.id] = ch
            self.channels[ch.id] = ch
        return ch

    # ================================================================== faults

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        code: int = 0,
        message: str | None = None,
        retry_after: float = 0.0,
        times: int = 1,
        after: bool = False,
    ) -> Fault:
        """Answer the next ``times`` matching REST calls with an error.

        ``after=True`` performs the request first and then fails the answer (the
        "message was created but the response was lost" case). A 429 carries the
        ``Via`` header and ``retry_after`` body discord.py needs to treat it as a rate
        limit (without ``Via`` it assumes a Cloudflare ban and raises). Note discord.py
        retries 500/502/504 itself after sleeping 1 + 2·try seconds.
        """
        fault = Fault(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            code=code,
            message=message
            or ("You are being rate limited." if status == 429 else f"{status}: stub"),
            retry_after=retry_after,
            times=times,
            after=after,
        )
        self._faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for f in self._faults:
            if f.matches(method, path):
                f.times -= 1
                return f
        return None

    # ================================================================== direct REST

    async def rest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        auth: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call the stub's REST API from a test (``path`` relative to the API base)."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        headers = {"Authorization": f"Bot {self.token}"} if auth else {}
        async with self._client.request(
            method, self.api_base + path, json=json, headers=headers, params=params
        ) as resp:
            body: Any = None
            if resp.status != 204:
                body = await resp.json(content_type=None)
            return resp.status, body

    # ================================================================== gateway-side helpers

    @property
    def session(self) -> Session | None:
        return self.gateway.current

    def _intents(self) -> int:
        return self.gateway.current.intents if self.gateway.current else 0

    async def _maybe_dispatch(self, event: str, data: Any) -> None:
        if self.gateway.current is not None:
            await self.gateway.dispatch(event, data)

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a raw DISPATCH (buffered for resume while disconnected); returns its seq."""
        return await self.gateway.dispatch(event, data)

    def hold_gateway(self) -> None:
        """Make (re)connections wait before HELLO until :meth:`release_gateway`.

        Use it to make "missed events" deterministic: hold, ``disconnect(wait=False)``,
        dispatch/invoke (buffered), release, then await the results.
        """
        self.gateway.hold()

    def release_gateway(self) -> None:
        self.gateway.release()

    async def disconnect(
        self,
        *,
        resume: bool = True,
        how: str = "reconnect",
        wait: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Drop the bot's gateway connection.

        ``how``: ``"reconnect"`` sends op 7 RECONNECT, ``"close"`` closes with 4000,
        ``"abort"`` kills the TCP connection. With ``resume=True`` discord.py reconnects
        to ``resume_gateway_url`` and RESUMEs (missed events are replayed). With
        ``resume=False`` the stub sends op 9 (invalid session): discord.py then
        re-IDENTIFYs, **after a 5 s sleep** in ``Client.before_identify_hook`` unless the
        bot overrides that hook. ``wait=True`` returns once the new session is up.
        """
        resumes, identifies = self.gateway.resumes, self.gateway.identifies
        await self.gateway.disconnect(how, resume)
        self._notify()
        if not wait:
            return
        if resume:
            await self.wait_resumed(resumes + 1, timeout=timeout)
        else:
            await self.wait_identified(identifies + 1, timeout=timeout)

    def _guild_create(self, session: Session) -> dict[str, Any]:
        if self.gateway.visible_members(session):
            members = list(self.guild.members.values())
        else:
            members = [self.guild.members[self.bot_user.id]]
        return self.guild.payload(members=members)

    # ================================================================== messages

    def _message_data(
        self,
        mid: int,
        channel: StubChannel,
        author: StubUser,
        body: Mapping[str, Any],
        *,
        msg_type: int = 0,
        flags: int = 0,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        content = body.get("content")
        content = "" if content is None else str(content)
        am = body.get("allowed_mentions")
        who = pings(content, am)
        data: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "type": msg_type,
            "content": content,
            "author": author.payload(),
            "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
            "attachments": attachments or [],
            "components": list(body.get("components") or []),
            "mentions": [self.users[u].payload() for u in who.users if u in self.users],
            "mention_roles": [str(r) for r in who.roles],
            "mention_everyone": who.everyone,
            "pinned": False,
            "tts": bool(body.get("tts")),
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "flags": flags,
            "sticker_items": [],
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if body.get("poll"):
            data["poll"] = body["poll"]
        return data

    def _attachments(
        self, files: list[dict[str, Any]], body: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Turn uploaded ``files[n]`` parts into attachment objects."""
        meta = {str(a.get("id")): a for a in body.get("attachments") or []}
        out = []
        for i, f in enumerate(files):
            aid = self.ids.next()
            m = meta.get(str(i), {})
            filename = m.get("filename") or f["filename"]
            url = f"{self.base_url}/attachments/{aid}/{filename}"
            out.append(
                {
                    "id": str(aid),
                    "filename": filename,
                    "description": m.get("description"),
                    "content_type": f.get("content_type"),
                    "size": f["size"],
                    "url": url,
                    "proxy_url": url,
                }
            )
        return out

    async def _create_message(
        self,
        channel: StubChannel,
        author: StubUser,
        body: Mapping[str, Any],
        *,
        source: str,
        msg_type: int = 0,
        flags: int = 0,
        files: list[dict[str, Any]] | None = None,
        interaction: InteractionHandle | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> SentMessage:
        mid = self.ids.next()
        data = self._message_data(
            mid,
            channel,
            author,
            body,
            msg_type=msg_type,
            flags=flags,
            attachments=self._attachments(files or [], body),
        )
        if extra:
            data.update(extra)
        reply_author = None
        ref = body.get("message_reference")
        if ref and ref.get("message_id") and int(ref["message_id"]) in self.all_messages:
            target = self.all_messages[int(ref["message_id"])]
            data["type"] = 19
            data["message_reference"] = {
                "type": 0,
                "message_id": str(target.id),
                "channel_id": str(target.channel_id),
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            }
            data["referenced_message"] = target.data
            reply_author = target.author_id
        msg = SentMessage(
            id=mid,
            channel_id=channel.id,
            author_id=author.id,
            data=data,
            source=source,
            allowed_mentions=body.get("allowed_mentions"),
            nonce=body.get("nonce"),
            interaction_id=interaction.id if interaction else None,
            reply_to_author=reply_author,
            files=[{k: v for k, v in f.items() if k != "data"} for f in files or []],
        )
        self.all_messages[mid] = msg
        if not msg.ephemeral:
            channel.last_message_id = mid
        self._notify()
        if author.id == self.bot_user.id and not msg.ephemeral and self.echo_bot_messages:
            await self._echo("MESSAGE_CREATE", channel, msg.data)
        return msg

    async def _echo(self, event: str, channel: StubChannel, data: dict[str, Any]) -> None:
        """Dispatch a message event for the bot's own message, if its intents allow."""
        if self.gateway.current is None:
            return
        need = Intents.DIRECT_MESSAGES if channel.is_dm else Intents.GUILD_MESSAGES
        if not self._intents() & need:
            return
        payload = dict(data)
        if channel.guild_id:
            payload["guild_id"] = str(channel.guild_id)
            if event != "MESSAGE_DELETE":
                member = self.guild.members.get(self.bot_user.id)
                if member:
                    payload["member"] = member.payload(with_user=False)
        await self.gateway.dispatch(event, payload)

    async def _edit_message(
        self,
        msg: SentMessage,
        body: Mapping[str, Any],
        *,
        files: list[dict[str, Any]] | None = None,
        clear_loading: bool = False,
    ) -> None:
        """Apply a PATCH body (or a type 7 update) to ``msg``; validation done by caller."""
        new = dict(msg.data)
        if "content" in body:
            new["content"] = "" if body["content"] is None else str(body["content"])
        if "embeds" in body:
            new["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            new["components"] = list(body["components"] or [])
        flags = msg.flags
        if body.get("flags") is not None:
            keep = FLAG_EPHEMERAL | (1 << 7)
            flags = (flags & keep) | (int(body["flags"]) & ~keep)
        if clear_loading:
            flags &= ~(1 << 7)
        new["flags"] = flags
        if "attachments" in body:
            keep_ids = {str(a.get("id")) for a in body["attachments"] or []}
            new["attachments"] = [a for a in msg.data.get("attachments", []) if a["id"] in keep_ids]
        if files:
            new["attachments"] = list(new.get("attachments") or []) + self._attachments(files, body)
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        who = pings(new.get("content"), msg.allowed_mentions)
        new["mentions"] = [self.users[u].payload() for u in who.users if u in self.users]
        new["mention_roles"] = [str(r) for r in who.roles]
        new["mention_everyone"] = who.everyone
        if not clear_loading or msg.history:
            new["edited_timestamp"] = iso_now()
        msg.history.append(msg.data)
        msg.data = new
        self._notify()
        channel = self.channels.get(msg.channel_id)
        if channel is not None and not msg.ephemeral and self.echo_bot_messages:
            await self._echo("MESSAGE_UPDATE", channel, new)

    async def _delete_message(self, msg: SentMessage) -> None:
        msg.deleted = True
        self._notify()
        channel = self.channels.get(msg.channel_id)
        if channel is not None and not msg.ephemeral and self.echo_bot_messages:
            await self._echo(
                "MESSAGE_DELETE", channel, {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            )

    # ================================================================== users talking

    async def send_user_message(
        self,
        channel: StubChannel,
        author: StubUser,
        content: str,
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: SentMessage | None = None,
    ) -> SentMessage:
        """A user posts in ``channel`` → MESSAGE_CREATE to the bot.

        Raises :class:`StubError` if the bot's intents mean Discord would not deliver it
        (DIRECT_MESSAGES for DMs, GUILD_MESSAGES in guilds). In guild channels the
        content is blanked unless the bot has MESSAGE_CONTENT or is mentioned.
        """
        intents = self._intents()
        if self.gateway.current is None:
            raise StubError("the bot never IDENTIFYed; nobody would receive this message")
        need = Intents.DIRECT_MESSAGES if channel.is_dm else Intents.GUILD_MESSAGES
        if not intents & need:
            name = "DIRECT_MESSAGES" if channel.is_dm else "GUILD_MESSAGES"
            raise StubError(
                f"the bot did not request the {name} intent: Discord would not deliver this"
            )
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to.id)}
        msg = await self._create_message(channel, author, body, source="user")
        payload = dict(msg.data)
        if channel.guild_id:
            payload["guild_id"] = str(channel.guild_id)
            member = self.guild.members.get(author.id)
            if member:
                payload["member"] = member.payload(with_user=False)
            mentioned = any(int(u["id"]) == self.bot_user.id for u in payload["mentions"])
            if not intents & Intents.MESSAGE_CONTENT and not mentioned:
                payload.update(content="", embeds=[], attachments=[], components=[])
        await self.gateway.dispatch("MESSAGE_CREATE", payload)
        return msg

    async def dm_message(
        self, user: StubUser, content: str, *, timeout: float | None = None
    ) -> SentMessage:
        """``user`` DMs the bot; returns the bot's first message in that DM afterwards."""
        ch = self.dm_channel(user)
        sent = await self.send_user_message(ch, user, content)
        return await self.wait_message(
            channel=ch,
            after=sent.id,
            what=f"the bot's reply to {user.username}'s DM {content!r}",
            timeout=timeout,
        )

    # ================================================================== interactions

    def _find_command(self, name: str, guild: StubGuild | None, ctype: int = 1) -> dict[str, Any]:
        pools = []
        if guild is not None:
            pools.append(self.guild_commands.get(guild.id, []))
        pools.append(self.global_commands)
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd
        known = sorted({c["name"] for p in pools for c in p})
        raise StubError(f"no synced command {name!r} (type {ctype}); synced: {known}")

    def _check_can_use(
        self, cmd: dict[str, Any], guild: StubGuild | None, perms: int, context: int
    ) -> None:
        """Discord hides commands the user may not use; the stub refuses to invoke them."""
        contexts = cmd.get("contexts")
        if contexts is not None and context not in contexts:
            raise CommandUnavailable(f"/{cmd['name']} is not available in context {context}")
        if guild is None:
            if cmd.get("guild_id"):
                raise CommandUnavailable(f"/{cmd['name']} is a guild command")
            if contexts is None and cmd.get("dm_permission") is False:
                raise CommandUnavailable(f"/{cmd['name']} has dm_permission=false")
            return
        need = cmd.get("default_member_permissions")
        if need is not None and perms != P.ALL and not perms & P.ADMINISTRATOR:
            need_i = int(need)
            if need_i == 0 or perms & need_i != need_i:
                raise CommandUnavailable(
                    f"/{cmd['name']} needs permissions {need_i} (member has {perms})"
                )

    def _option_value(
        self, opt: dict[str, Any], value: Any, resolved: dict[str, Any], guild: StubGuild | None
    ) -> Any:
        t = opt["type"]
        name = opt["name"]
        if t == 3:
            if not isinstance(value, str):
                raise StubError(f"option {name!r} is a string")
            return value
        if t == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise StubError(f"option {name!r} is an integer")
            return value
        if t == 5:
            if not isinstance(value, bool):
                raise StubError(f"option {name!r} is a boolean")
            return value
        if t == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StubError(f"option {name!r} is a number")
            return value
        if t in (6, 9) and isinstance(value, StubUser | int) and not isinstance(value, bool):
            user = value if isinstance(value, StubUser) else self.users[value]
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if guild is not None and user.id in guild.members:
                m = guild.members[user.id].payload(with_user=False)
                m["permissions"] = str(guild.base_permissions(user.id))
                resolved.setdefault("members", {})[str(user.id)] = m
            return str(user.id)
        if t == 7 and isinstance(value, StubChannel):
            types = opt.get("channel_types")
            if types and value.type not in types:
                raise StubError(f"channel option {name!r} only accepts channel types {types}")
            data = value.payload()
            if guild is not None and not value.is_dm:
                data["permissions"] = str(guild.channel_permissions(self.bot_user.id, value))
            resolved.setdefault("channels", {})[str(value.id)] = data
            return str(value.id)
        if t in (8, 9) and isinstance(value, StubRole):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        raise StubError(f"unsupported value {value!r} for option {name!r} (type {t})")

    def _build_options(
        self,
        schema: list[dict[str, Any]],
        values: Mapping[str, Any],
        *,
        focused: str | None,
        resolved: dict[str, Any],
        guild: StubGuild | None,
    ) -> list[dict[str, Any]]:
        """Check ``values`` against the synced schema (like Discord's client) and encode."""
        by_name = {o["name"]: o for o in schema}
        unknown = set(values) - set(by_name)
        if unknown:
            raise StubError(f"unknown options {sorted(unknown)}; command has {sorted(by_name)}")
        out = []
        for opt in schema:
            name = opt["name"]
            if name not in values:
                if opt.get("required") and focused is None:
                    raise StubError(f"required option {name!r} missing")
                continue
            value = values[name]
            entry: dict[str, Any] = {"name": name, "type": opt["type"]}
            if name == focused:
                if not opt.get("autocomplete"):
                    raise StubError(f"option {name!r} has no autocomplete")
                entry["value"] = value if isinstance(value, str) else str(value)
                entry["focused"] = True
                out.append(entry)
                continue
            encoded = self._option_value(opt, value, resolved, guild)
            choices = opt.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise StubError(f"{value!r} is not one of the choices of {name!r}")
            if isinstance(value, str):
                lo, hi = opt.get("min_length"), opt.get("max_length")
                if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
                    raise StubError(f"{name!r} must be {lo}..{hi} characters")
            if isinstance(value, int | float) and not isinstance(value, bool):
                lo, hi = opt.get("min_value"), opt.get("max_value")
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    raise StubError(f"{name!r} must be within {lo}..{hi}")
            entry["value"] = encoded
            out.append(entry)
        return out

    def _interaction_payload(
        self,
        itype: int,
        data: dict[str, Any] | None,
        *,
        user: StubUser,
        channel: StubChannel,
        in_guild: bool,
        permissions: int | None,
        app_permissions: int | None,
        locale: str,
        message: SentMessage | None = None,
        integration_owners: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        iid = self.ids.next()
        token = f"aW50ZXJhY3Rpb246{iid}:{secrets.token_urlsafe(24)}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel.id),
        }
        if data is not None:
            payload["data"] = data
        if in_guild:
            guild = self.guild
            member = guild.members.get(user.id)
            if member is None:
                raise StubError(f"{user.username} is not a member of the guild")
            perms = (
                guild.channel_permissions(user.id, channel) if permissions is None else permissions
            )
            app_perms = (
                guild.channel_permissions(self.bot_user.id, channel)
                if app_permissions is None
                else app_permissions
            )
            mp = member.payload()
            mp["permissions"] = str(perms)
            payload.update(
                guild_id=str(guild.id),
                guild={**guild.partial_payload()},
                guild_locale=guild.locale,
                member=mp,
                channel={**channel.payload(), "permissions": str(perms)},
                app_permissions=str(app_perms),
                context=CONTEXT_GUILD,
                authorizing_integration_owners=dict(integration_owners or {"0": str(guild.id)}),
            )
        else:
            perms = P.DM_DEFAULT if permissions is None else permissions
            app_perms = P.DM_DEFAULT if app_permissions is None else app_permissions
            payload.update(
                user=user.payload(),
                channel=channel.payload(),
                app_permissions=str(app_perms),
                context=CONTEXT_BOT_DM,
                authorizing_integration_owners=dict(integration_owners or {"0": "0"}),
            )
        if message is not None:
            payload["message"] = message.data
        return payload, perms

    async def _dispatch_interaction(
        self, payload: dict[str, Any], user: StubUser
    ) -> InteractionHandle:
        handle = InteractionHandle(self, payload, user)
        self.interactions.append(handle)
        self._interactions_by_id[handle.id] = handle
        self._interactions_by_token[handle.token] = handle
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return handle

    def _command_interaction(
        self,
        command: str,
        options: Mapping[str, Any] | None,
        *,
        focused: str | None,
        user: StubUser | None,
        guild: bool,
        channel: StubChannel | None,
        permissions: int | None,
        app_permissions: int | None,
        locale: str,
        check_permissions: bool,
        integration_owners: Mapping[str, str] | None,
    ) -> tuple[dict[str, Any], StubUser]:
        user = user or self.member
        path = command.split()
        gobj = self.guild if guild else None
        cmd = self._find_command(path[0], gobj)
        if channel is None:
            channel = self.channel if guild else self.dm_channel(user)
        if guild and channel.is_dm:
            raise StubError("guild=True needs a guild channel")
        resolved: dict[str, Any] = {}
        schema = cmd.get("options") or []
        wrappers: list[dict[str, Any]] = []
        for part in path[1:]:
            sub = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise StubError(f"/{command}: no subcommand (group) {part!r}")
            wrappers.append({"name": part, "type": sub["type"]})
            schema = sub.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise StubError(f"/{command} needs a subcommand: {[o['name'] for o in schema]}")
        leaf = self._build_options(
            schema, options or {}, focused=focused, resolved=resolved, guild=gobj
        )
        opts: list[dict[str, Any]] = leaf
        for w in reversed(wrappers):
            w["options"] = opts
            opts = [w]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": cmd.get("type", 1),
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        itype = INTERACTION_AUTOCOMPLETE if focused is not None else INTERACTION_COMMAND
        payload, perms = self._interaction_payload(
            itype,
            data,
            user=user,
            channel=channel,
            in_guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
            integration_owners=integration_owners,
        )
        if check_permissions:
            ctx = CONTEXT_GUILD if guild else CONTEXT_BOT_DM
            base = self.guild.base_permissions(user.id) if permissions is None else permissions
            self._check_can_use(cmd, gobj, base if guild else perms, ctx)
        return payload, user

    async def invoke(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: StubUser | None = None,
        guild: bool = True,
        channel: StubChannel | None = None,
        permissions: int | None = None,
        app_permissions: int | None = None,
        locale: str = "en-US",
        check_permissions: bool = True,
        integration_owners: Mapping[str, str] | None = None,
    ) -> InteractionHandle:
        """``user`` runs slash command ``command`` → INTERACTION_CREATE type 2.

        ``command`` may name a subcommand path: ``"corpus stats"`` or
        ``"admin corpus reindex"``. ``options`` values: str/int/bool/float, a
        :class:`StubUser` (user), :class:`StubChannel` (channel) or :class:`StubRole`.
        ``guild=False`` runs it in the bot's DM (context 1, ``user`` instead of
        ``member``). ``permissions`` overrides the member's permissions; by default
        the stub computes them (owner = all). Commands the member may not use
        (``default_member_permissions``, ``contexts``/``dm_permission``) raise
        :class:`CommandUnavailable` like Discord hiding them, unless
        ``check_permissions=False``.
        """
        payload, user = self._command_interaction(
            command,
            options,
            focused=None,
            user=user,
            guild=guild,
            channel=channel,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
            check_permissions=check_permissions,
            integration_owners=integration_owners,
        )
        return await self._dispatch_interaction(payload, user)

    async def autocomplete_interaction(
        self,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: StubUser | None = None,
        guild: bool = True,
        channel: StubChannel | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch an autocomplete interaction (type 4) and return its handle."""
        if focused not in options:
            raise StubError(f"focused option {focused!r} must be in options")
        payload, user = self._command_interaction(
            command,
            options,
            focused=focused,
            user=user,
            guild=guild,
            channel=channel,
            permissions=None,
            app_permissions=None,
            locale=locale,
            check_permissions=True,
            integration_owners=None,
        )
        return await self._dispatch_interaction(payload, user)

    async def autocomplete(
        self,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: StubUser | None = None,
        guild: bool = True,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """The user types into ``focused``; returns the choices the bot answered with."""
        handle = await self.autocomplete_interaction(
            command, options, focused=focused, user=user, guild=guild
        )
        return await handle.choices(timeout)

    async def click(
        self,
        message: SentMessage | int,
        custom_id: str,
        *,
        user: StubUser | None = None,
        values: list[str] | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """``user`` presses button / picks ``values`` in select ``custom_id`` → type 3."""
        msg = message if isinstance(message, SentMessage) else self.message(message)
        user = user or self.member
        if msg.deleted:
            raise StubError(f"message {msg.id} was deleted")
        comp = msg.component(custom_id)
        if comp is None:
            raise StubError(f"message {msg.id} has no component {custom_id!r}: {msg.custom_ids}")
        if comp.get("disabled"):
            raise StubError(f"component {custom_id!r} is disabled")
        if msg.ephemeral:
            owner = self._interactions_by_id.get(msg.interaction_id or 0)
            if owner is not None and owner.user.id != user.id:
                raise StubError("an ephemeral message is only visible to its recipient")
        channel = self.channels[msg.channel_id]
        if channel.deleted:
            raise StubError("the channel was deleted")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
        payload, _ = self._interaction_payload(
            INTERACTION_COMPONENT,
            data,
            user=user,
            channel=channel,
            in_guild=not channel.is_dm,
            permissions=None,
            app_permissions=None,
            locale=locale,
            message=msg,
        )
        return await self._dispatch_interaction(payload, user)

    async def submit_modal(
        self,
        opened_by: InteractionHandle,
        values: Mapping[str, str],
        *,
        user: StubUser | None = None,
    ) -> InteractionHandle:
        """Submit the modal the bot opened in answer to ``opened_by`` → type 5."""
        modal = await opened_by.modal()
        user = user or opened_by.user

        def fill(c: dict[str, Any]) -> dict[str, Any]:
            if c["type"] == 1:
                return {"type": 1, "components": [fill(x) for x in c.get("components", [])]}
            if c["type"] == 18:
                return {"type": 18, "id": c.get("id", 0), "component": fill(c["component"])}
            cid = c.get("custom_id")
            out: dict[str, Any] = {"type": c["type"], "custom_id": cid}
            if c["type"] == 4:
                out["value"] = values.get(cid, "")
            else:
                v = values.get(cid, [])
                out["values"] = list(v) if isinstance(v, list | tuple) else [v]
            return out

        data = {
            "custom_id": modal["custom_id"],
            "components": [fill(c) for c in modal["components"]],
        }
        channel = self.channels[opened_by.channel_id]
        src = self.all_messages.get(opened_by.source_message_id or 0)
        payload, _ = self._interaction_payload(
            INTERACTION_MODAL_SUBMIT,
            data,
            user=user,
            channel=channel,
            in_guild="guild_id" in opened_by.payload,
            permissions=None,
            app_permissions=None,
            locale=opened_by.payload.get("locale", "en-US"),
            message=src,
        )
        return await self._dispatch_interaction(payload, user)

    def interaction_by_token(self, token: str) -> InteractionHandle | None:
        return self._interactions_by_token.get(token)

    def interaction_by_id(self, interaction_id: int) -> InteractionHandle | None:
        return self._interactions_by_id.get(interaction_id)

    # ================================================================== commands

    def _store_commands(
        self, guild_id: int | None, commands: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        out = []
        for c in commands:
            ctype = c.get("type", 1)
            key = (guild_id, ctype, c["name"])
            cid = self._command_ids.get(key)
            if cid is None:
                cid = self._command_ids[key] = self.ids.next()
            out.append(self._normalize_command(c, cid, guild_id))
        if guild_id is None:
            self.global_commands = out
        else:
            self.guild_commands[guild_id] = out
        self.syncs.append((guild_id, out))
        self._notify()
        return out

    def _normalize_command(
        self, c: dict[str, Any], cid: int, guild_id: int | None
    ) -> dict[str, Any]:
        def clean(o: dict[str, Any]) -> dict[str, Any]:
            d = {k: v for k, v in o.items() if v is not None}
            if "options" in d:
                d["options"] = [clean(x) for x in d["options"]]
            return d

        dmp = c.get("default_member_permissions")
        out: dict[str, Any] = {
            "id": str(cid),
            "application_id": str(self.application_id),
            "version": str(self.ids.next()),
            "default_member_permissions": None if dmp is None else str(dmp),
            "type": c.get("type", 1),
            "name": c["name"],
            "name_localizations": c.get("name_localizations"),
            "description": c.get("description", ""),
            "description_localizations": c.get("description_localizations"),
            "contexts": c.get("contexts"),
            "integration_types": c.get("integration_types") or [0],
            "nsfw": bool(c.get("nsfw", False)),
        }
        if guild_id is None:
            out["dm_permission"] = c.get("dm_permission", True)
        else:
            out["guild_id"] = str(guild_id)
        if c.get("options"):
            out["options"] = [clean(o) for o in c["options"]]
        return out

    @property
    def app_flags(self) -> int:
        return APP_FLAGS
