"""The stub's gateway: one websocket endpoint speaking Discord's v10 JSON protocol.

Flow: HELLO → client IDENTIFY → READY (+ GUILD_CREATE) → dispatches; RESUME replays
the events the client missed (by sequence number) and then sends RESUMED. A
session outlives its websocket, so events dispatched while the bot is disconnected
are buffered and delivered on resume, just like Discord.

Compression: discord.py 2.7 asks for ``compress=zlib-stream`` (or ``zstd-stream`` when
``zstandard`` is installed). zlib-stream is implemented (one shared deflate stream,
each message ending in a Z_SYNC_FLUSH marker); for anything else the stub sends plain
text frames, which discord.py accepts regardless of what it asked for.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import Intents
from .records import StubError

if TYPE_CHECKING:
    from .server import DiscordStub

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

#: Application flags the stub reports: all privileged intents enabled in the "portal".
APP_FLAGS = (1 << 12) | (1 << 14) | (1 << 18) | (1 << 23)


class Connection:
    """One websocket. Sends are serialised because the zlib stream is order-sensitive."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.path = request.path
        self.compress = request.query.get("compress")
        self.query = dict(request.query)
        self._transport = request.transport
        self._zlib = zlib.compressobj() if self.compress == "zlib-stream" else None
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            if self._zlib is not None:
                data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure)."""
        if self._transport is not None:
            self._transport.abort()


@dataclass(eq=False)
class Session:
    """A gateway session: survives disconnects until the client re-IDENTIFYs."""

    id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    events: list[tuple[int, str, Any]] = field(default_factory=list)
    conn: Connection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def has(self, intent: int) -> bool:
        return bool(self.intents & intent)


class Gateway:
    """Gateway state and the websocket handler (mounted by :class:`DiscordStub`)."""

    def __init__(self, stub: DiscordStub, heartbeat_interval: int) -> None:
        self.stub = stub
        self.heartbeat_interval = heartbeat_interval
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.connections: list[Connection] = []
        self.received: list[dict[str, Any]] = []  # every payload the client sent
        self._open = asyncio.Event()
        self._open.set()

    # ------------------------------------------------------------------ helpers

    @property
    def connected(self) -> bool:
        return self.current is not None and self.current.conn is not None

    def hold(self) -> None:
        """New websocket connections wait (before HELLO) until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def dispatch(self, event: str, data: Any) -> int:
        """Send (or buffer, while disconnected) a DISPATCH on the current session."""
        session = self.current
        if session is None:
            raise StubError(f"cannot dispatch {event}: the bot never IDENTIFYed")
        async with session.lock:
            return await self._send_dispatch(session, event, data)

    async def _send_dispatch(self, session: Session, event: str, data: Any) -> int:
        session.seq += 1
        seq = session.seq
        session.events.append((seq, event, data))
        conn = session.conn
        if conn is not None:
            try:
                await conn.send({"op": OP_DISPATCH, "t": event, "s": seq, "d": data})
            except (ConnectionError, RuntimeError):
                # Lost mid-send: the client will resume and get it from the buffer.
                session.conn = None
        return seq

    async def disconnect(self, how: str, resume: bool) -> None:
        session = self.current
        conn = session.conn if session else None
        if session is None or conn is None:
            raise StubError("the bot is not connected to the gateway")
        if not resume:
            # Invalid session, not resumable: discord.py closes and IDENTIFYs again
            # (waiting 5 s in Client.before_identify_hook unless the bot overrides it).
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
        elif how == "reconnect":
            await conn.send({"op": OP_RECONNECT, "d": None, "s": None, "t": None})
        elif how == "close":
            session.conn = None
            await conn.ws.close(code=4000, message=b"Unknown error")
        elif how == "abort":
            session.conn = None
            conn.abort()
        else:
            raise ValueError(f"unknown disconnect mode {how!r}")

    # ------------------------------------------------------------------ websocket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request)
        self.connections.append(conn)
        self.stub._notify()
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Error while decoding payload.")
            return ws
        session: Session | None = None
        try:
            await self._open.wait()
            await conn.send(
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval, "_trace": ["stub"]},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                self.received.append(payload)
                op = payload.get("op")
                d = payload.get("d")
                if op == OP_HEARTBEAT:
                    self.heartbeats += 1
                    await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    if session is not None:
                        await ws.close(code=4005, message=b"Already authenticated.")
                        break
                    session = await self._identify(conn, d or {})
                    if session is None:
                        break
                elif op == OP_RESUME:
                    session = await self._resume(conn, d or {})
                elif op == OP_REQUEST_MEMBERS and session is not None:
                    await self._members_chunk(session, d or {})
                self.stub._notify()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            if session is not None and session.conn is conn:
                session.conn = None
            self.stub._notify()
        return ws

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> Session | None:
        if d.get("token") != self.stub.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = Session(id=secrets.token_hex(16), intents=int(d.get("intents") or 0), identify=d)
        self.sessions[session.id] = session
        self.current = session
        stub = self.stub
        async with session.lock:
            session.conn = conn
            ready = {
                "v": 10,
                "user": {**stub.bot_user.payload(), "verified": True, "mfa_enabled": False},
                "user_settings": {},
                "session_type": "normal",
                "session_id": session.id,
                "resume_gateway_url": stub.resume_gateway_url,
                "relationships": [],
                "private_channels": [],
                "presences": [],
                "guilds": [{"id": str(stub.guild.id), "unavailable": True}],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": ["stub"],
                "auth": {},
                "application": {"id": str(stub.application_id), "flags": APP_FLAGS},
                "_trace": ["stub"],
            }
            if "shard" in d:
                ready["shard"] = d["shard"]
            await self._send_dispatch(session, "READY", ready)
            await self._send_dispatch(session, "GUILD_CREATE", stub._guild_create(session))
        self.identifies += 1
        return session

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> Session | None:
        session = self.sessions.get(d.get("session_id") or "")
        if session is None or d.get("token") != self.stub.token or session is not self.current:
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        async with session.lock:
            old = session.conn
            session.conn = conn
            if old is not None and old is not conn:
                asyncio.get_running_loop().create_task(old.ws.close(code=4000))
            last = int(d.get("seq") or 0)
            for seq, event, data in list(session.events):
                if seq > last:
                    await conn.send({"op": OP_DISPATCH, "t": event, "s": seq, "d": data})
            await self._send_dispatch(session, "RESUMED", {"_trace": ["stub"]})
        self.resumes += 1
        return session

    async def _members_chunk(self, session: Session, d: dict[str, Any]) -> None:
        """Answer op 8 (guild chunking) with one GUILD_MEMBERS_CHUNK."""
        guild = self.stub.guild
        query = (d.get("query") or "").lower()
        user_ids = {int(u) for u in d.get("user_ids") or []}
        limit = int(d.get("limit") or 0)
        members = [
            m
            for m in guild.members.values()
            if (not user_ids or m.user.id in user_ids) and m.user.username.lower().startswith(query)
        ]
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        if user_ids:
            chunk["not_found"] = [str(u) for u in user_ids - {m.user.id for m in members}]
        async with session.lock:
            await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def visible_members(self, session: Session) -> bool:
        """Discord only sends the full member list in GUILD_CREATE with presences on."""
        return session.has(Intents.GUILD_PRESENCES)
