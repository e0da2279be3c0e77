"""The stub's REST API (``/api/v10/...``): routing, body parsing, recording, handlers.

Quirks kept on purpose because discord.py depends on them:
* JSON answers carry ``Content-Type: application/json`` exactly; discord.py compares the
  header verbatim, and aiohttp's ``json_response`` would append ``; charset=utf-8``,
  which makes discord.py treat the body as text.
* Error bodies are Discord-shaped ``{"code", "message"[, "errors"]}`` so
  ``HTTPException.code``/``.text`` work.
* Interaction callbacks honour ``?with_response=1`` with an InteractionCallbackResponse
  (discord.py keys button views on ``interaction.response_message_id``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .models import ChannelType, P, StubChannel
from .records import InteractionHandle, RecordedRequest, SentMessage
from .validate import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FormErrors,
    check_choices,
    check_command,
    check_commands,
    check_message,
    check_modal,
    has_body,
)

if TYPE_CHECKING:
    from .server import DiscordStub

ATTACHMENT_LIMIT = 10 * 1024 * 1024


class ApiError(Exception):
    """Raised by handlers; becomes a Discord-style error answer."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def error(status: int, code: int, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message})


def form_error(errors: FormErrors) -> ApiError:
    return ApiError(400, errors.body())


UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")


@dataclass
class Req:
    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[dict[str, Any]]
    record: RecordedRequest


Handler = Callable[[Req], Awaitable[tuple[int, Any]]]


class RestApi:
    def __init__(self, stub: DiscordStub) -> None:
        self.stub = stub
        s = r"(?P<{}>\d+)"
        tok = r"(?P<token>[^/]+)"
        # (method, template for humans, regex, handler, needs bot auth)
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/gateway", self.get_gateway, False),
            ("GET", "/gateway/bot", self.get_gateway_bot, True),
            ("GET", "/users/@me", self.get_me, True),
            ("GET", "/users/{user_id}", self.get_user, True),
            ("POST", "/users/@me/channels", self.open_dm, True),
            ("GET", "/oauth2/applications/@me", self.get_application, True),
            ("GET", "/applications/@me", self.get_application, True),
            ("GET", "/applications/{app_id}/commands", self.get_commands, True),
            ("PUT", "/applications/{app_id}/commands", self.put_commands, True),
            ("POST", "/applications/{app_id}/commands", self.post_command, True),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands, True),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands, True),
            ("POST", "/applications/{app_id}/guilds/{guild_id}/commands", self.post_command, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback, False),
            ("POST", "/webhooks/{app_id}/{token}", self.followup, False),
            (
                "GET",
                "/webhooks/{app_id}/{token}/messages/{message_id}",
                self.webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{app_id}/{token}/messages/{message_id}",
                self.webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{app_id}/{token}/messages/{message_id}",
                self.webhook_message,
                False,
            ),
            ("GET", "/channels/{channel_id}", self.get_channel, True),
            ("GET", "/channels/{channel_id}/messages", self.history, True),
            ("POST", "/channels/{channel_id}/messages", self.create_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.channel_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.channel_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.channel_message, True),
            ("POST", "/channels/{channel_id}/typing", self.typing, True),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.reaction,
                True,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.reaction,
                True,
            ),
            ("GET", "/guilds/{guild_id}", self.get_guild, True),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.guild_member, True),
        ]
        self.routes: list[tuple[str, str, re.Pattern[str], Handler, bool]] = []
        for method, template, handler, auth in table:
            rx = re.escape(template)
            for name in re.findall(r"\{(\w+)\}", template):
                part = tok if name == "token" else s.format(name)
                if name == "emoji":
                    part = r"(?P<emoji>[^/]+)"
                if name == "message_id" and template.startswith("/webhooks"):
                    part = r"(?P<message_id>@original|\d+)"
                rx = rx.replace(re.escape("{" + name + "}"), part)
            self.routes.append((method, template, re.compile(rx), handler, auth))

    # ================================================================== plumbing

    @staticmethod
    def respond(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        if status == 204 or body is None:
            return web.Response(status=204 if status < 300 else status, headers=headers)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return web.Response(status=status, body=json.dumps(body).encode(), headers=h)

    async def _parse_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body: Any = None
            files = []
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    files.append(
                        {
                            "field": key,
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "size": len(data),
                            "data": data,
                        }
                    )
                elif key == "payload_json":
                    body = json.loads(value)
            return body, files
        text = await request.text()
        if not text:
            return None, []
        try:
            return json.loads(text), []
        except ValueError:
            raise error(400, 50109, "The request body contains invalid JSON.") from None

    def _fault_response(self, fault: Any) -> tuple[int, Any, dict[str, str]]:
        headers: dict[str, str] = {}
        if fault.status == 429:
            body = {
                "message": fault.message,
                "retry_after": fault.retry_after,
                "global": False,
                "code": fault.code,
            }
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(fault.retry_after),
                "X-RateLimit-Scope": "user",
            }
        else:
            body = {"message": fault.message, "code": fault.code}
        return fault.status, body, headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        stub = self.stub
        path = request.path
        prefix = "/api/v10"
        rel = path[len(prefix) :] if path.startswith(prefix) else path
        record = RecordedRequest(
            method=request.method,
            path=rel,
            query=dict(request.query),
            headers={k: v for k, v in request.headers.items()},
        )
        stub.requests.append(record)
        status: int
        body: Any
        headers: dict[str, str] = {}
        try:
            parsed, files = await self._parse_body(request)
            record.body = parsed
            record.files = [{k: v for k, v in f.items() if k != "data"} for f in files]
            match = None
            path_known = False
            if path.startswith(prefix):
                for method, template, rx, handler, auth in self.routes:
                    m = rx.fullmatch(rel)
                    if m is None:
                        continue
                    path_known = True
                    if method == request.method:
                        match = (template, m, handler, auth)
                        break
            if match is None:
                if path_known:
                    raise error(405, 0, "405: Method Not Allowed")
                raise error(404, 0, "404: Not Found")
            template, m, handler, auth = match
            record.route = f"{request.method} {template}"
            if auth and request.headers.get("Authorization") != f"Bot {stub.token}":
                raise error(401, 0, "401: Unauthorized")
            fault = stub._take_fault(request.method, rel)
            if fault is not None and not fault.after:
                status, body, headers = self._fault_response(fault)
            else:
                req = Req(request.method, m.groupdict(), dict(request.query), parsed, files, record)
                status, body = await handler(req)
                if fault is not None:
                    status, body, headers = self._fault_response(fault)
        except ApiError as exc:
            status, body = exc.status, exc.body
        record.status = status
        record.response = body
        stub._notify()
        return self.respond(status, body, headers)

    # ================================================================== lookups

    def _channel(self, channel_id: str | int) -> StubChannel:
        ch = self.stub.channels.get(int(channel_id))
        if ch is None or ch.deleted:
            raise error(*UNKNOWN_CHANNEL)
        return ch

    def _check_access(self, ch: StubChannel, need: int = 0) -> None:
        """Guild channel permission checks for the bot: 50001 without VIEW, 50013 otherwise."""
        if ch.is_dm:
            return
        perms = self.stub.guild.channel_permissions(self.stub.bot_user.id, ch)
        if not perms & P.VIEW_CHANNEL:
            raise error(403, 50001, "Missing Access")
        if need and perms & need != need:
            raise error(403, 50013, "Missing Permissions")

    def _interaction(self, req: Req, unknown: tuple[int, int, str]) -> InteractionHandle:
        app = req.params.get("app_id")
        h = self.stub.interaction_by_token(req.params["token"])
        if h is None or (app is not None and int(app) != self.stub.application_id):
            raise error(*unknown)
        return h

    def _check_app(self, req: Req) -> None:
        if int(req.params["app_id"]) != self.stub.application_id:
            raise error(404, 10002, "Unknown Application")

    def _validate_message(
        self, body: Any, files: list[dict[str, Any]], *, new: bool, prefix: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise error(400, 50109, "The request body contains invalid JSON.")
        errors = check_message(body, n_files=len(files), path_prefix=prefix)
        if errors:
            raise form_error(errors)
        if sum(f["size"] for f in files) > ATTACHMENT_LIMIT:
            raise error(413, 40005, "Request entity too large")
        if new and not has_body(body, len(files)):
            raise error(400, 50006, "Cannot send an empty message")
        return body

    @staticmethod
    def _refuse_empty_edit(msg: SentMessage, data: dict[str, Any], files: list[Any]) -> None:
        """Discord refuses an edit that leaves a message (or a thinking response) empty."""
        merged = {k: msg.data.get(k) for k in ("content", "embeds", "components", "poll")}
        merged.update({k: v for k, v in data.items() if k in merged})
        attachments = msg.data.get("attachments") or []
        if "attachments" in data:
            attachments = data["attachments"] or []
        if not has_body(merged, len(attachments) + len(files)):
            raise error(400, 50006, "Cannot send an empty message")

    # ================================================================== misc routes

    async def get_gateway(self, req: Req) -> tuple[int, Any]:
        return 200, {"url": self.stub.gateway_url}

    async def get_gateway_bot(self, req: Req) -> tuple[int, Any]:
        return 200, {
            "url": self.stub.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    async def get_me(self, req: Req) -> tuple[int, Any]:
        me = self.stub.bot_user.payload()
        me.update(verified=True, mfa_enabled=False, email=None, locale="en-US", bio="")
        return 200, me

    async def get_user(self, req: Req) -> tuple[int, Any]:
        user = self.stub.users.get(int(req.params["user_id"]))
        if user is None:
            raise error(404, 10013, "Unknown User")
        return 200, user.payload()

    async def get_application(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        return 200, {
            "id": str(stub.application_id),
            "name": stub.application_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": stub.app_flags,
            "owner": stub.owner.payload(),
            "team": None,
            "bot": stub.bot_user.payload(),
            "rpc_origins": [],
            "tags": [],
            "install_params": None,
            "integration_types_config": {"0": {}},
            "custom_install_url": None,
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": 1,
            "redirect_uris": [],
        }

    async def open_dm(self, req: Req) -> tuple[int, Any]:
        rid = (req.body or {}).get("recipient_id")
        user = self.stub.users.get(int(rid)) if rid is not None else None
        if user is None:
            raise error(400, 50033, "Invalid Recipient(s)")
        return 200, self.stub.dm_channel(user).payload()

    async def get_guild(self, req: Req) -> tuple[int, Any]:
        guild = self.stub.guild
        if int(req.params["guild_id"]) != guild.id:
            raise error(404, 10004, "Unknown Guild")
        data = guild.payload(members=[])
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at"):
            data.pop(key, None)
        return 200, data

    async def guild_channels(self, req: Req) -> tuple[int, Any]:
        await self.get_guild(req)
        return 200, [c.payload() for c in self.stub.guild.channels.values() if not c.deleted]

    async def guild_member(self, req: Req) -> tuple[int, Any]:
        await self.get_guild(req)
        member = self.stub.guild.members.get(int(req.params["user_id"]))
        if member is None:
            raise error(404, 10007, "Unknown Member")
        return 200, member.payload()

    # ================================================================== commands

    def _scope(self, req: Req) -> int | None:
        self._check_app(req)
        gid = req.params.get("guild_id")
        if gid is None:
            return None
        if int(gid) != self.stub.guild.id:
            raise error(403, 50001, "Missing Access")
        return int(gid)

    async def get_commands(self, req: Req) -> tuple[int, Any]:
        gid = self._scope(req)
        stub = self.stub
        return 200, stub.global_commands if gid is None else stub.guild_commands.get(gid, [])

    async def put_commands(self, req: Req) -> tuple[int, Any]:
        gid = self._scope(req)
        errors = check_commands(req.body)
        if errors:
            raise form_error(errors)
        return 200, self.stub._store_commands(gid, req.body)

    async def post_command(self, req: Req) -> tuple[int, Any]:
        gid = self._scope(req)
        errors = FormErrors()
        check_command(errors, req.body, ())
        if errors:
            raise form_error(errors)
        stub = self.stub
        current = stub.global_commands if gid is None else stub.guild_commands.get(gid, [])
        ctype = req.body.get("type", 1)
        existed = any(c["name"] == req.body["name"] and c["type"] == ctype for c in current)
        raw = [c for c in current if not (c["name"] == req.body["name"] and c["type"] == ctype)]
        out = stub._store_commands(gid, [*raw, req.body])
        return (200 if existed else 201), next(c for c in out if c["name"] == req.body["name"])

    # ================================================================== interactions

    async def callback(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        h = stub.interaction_by_id(int(req.params["interaction_id"]))
        if h is None or h.token != req.params["token"]:
            raise error(*UNKNOWN_INTERACTION)
        if h.acknowledged:
            raise error(400, 40060, "Interaction has already been acknowledged.")
        deadline = stub.interaction_deadline
        if deadline is not None and asyncio.get_running_loop().time() - h.created > deadline:
            raise error(*UNKNOWN_INTERACTION)
        body = req.body if isinstance(req.body, dict) else {}
        ctype = body.get("type")
        allowed = {
            1: {1},
            2: {4, 5, 9},
            3: {4, 5, 6, 7, 9},
            4: {8},
            5: {4, 5, 6, 7} if h.source_message_id else {4, 5},
        }[h.type]
        if ctype not in allowed:
            errors = FormErrors()
            errors.add(
                ("type",),
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {ctype} is not valid for interaction type {h.type}; "
                f"one of {sorted(allowed)}",
            )
            raise form_error(errors)
        data = body.get("data") or {}
        channel = stub.channels[h.channel_id]
        msg: SentMessage | None = None
        if ctype == 4:
            data = self._validate_message(data, req.files, new=True, prefix=("data",))
            flags = int(data.get("flags") or 0) & (
                FLAG_EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)
            )
            msg = await stub._create_message(
                channel,
                stub.bot_user,
                data,
                source="interaction",
                msg_type=20 if h.type == 2 else 0,
                flags=flags,
                files=req.files,
                interaction=h,
                extra=self._interaction_extra(h),
            )
            h.original_id = msg.id
        elif ctype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            msg = await stub._create_message(
                channel,
                stub.bot_user,
                {},
                source="interaction",
                msg_type=20 if h.type == 2 else 0,
                flags=flags,
                interaction=h,
                extra=self._interaction_extra(h),
            )
            h.original_id = msg.id
            h.awaiting_edit = True
        elif ctype == 6:
            h.original_id = h.source_message_id
            h.awaiting_edit = True
        elif ctype == 7:
            data = self._validate_message(data, req.files, new=False, prefix=("data",))
            msg = stub.all_messages[h.source_message_id or 0]
            await stub._edit_message(msg, data, files=req.files)
            h.original_id = msg.id
        elif ctype == 8:
            errors = check_choices(data.get("choices"))
            if errors:
                raise form_error(errors)
        elif ctype == 9:
            errors = check_modal(data)
            if errors:
                raise form_error(errors)
        h.callbacks.append(body)
        stub._notify()
        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(h.id),
                "type": h.type,
                "response_message_id": str(h.original_id) if h.original_id else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(msg and msg.ephemeral),
            }
        }
        if msg is not None:
            result["resource"] = {"type": ctype, "message": msg.data}
        return 200, result

    def _interaction_extra(self, h: InteractionHandle) -> dict[str, Any]:
        stub = self.stub
        meta: dict[str, Any] = {
            "id": str(h.id),
            "type": h.type,
            "user": h.user.payload(),
            "authorizing_integration_owners": h.payload.get("authorizing_integration_owners", {}),
        }
        if h.source_message_id:
            meta["interacted_message_id"] = str(h.source_message_id)
        extra: dict[str, Any] = {
            "webhook_id": str(stub.application_id),
            "application_id": str(stub.application_id),
            "interaction_metadata": meta,
        }
        if h.type == 2:
            name = h.payload["data"]["name"]
            extra["interaction"] = {
                "id": str(h.id),
                "type": 2,
                "name": name,
                "user": h.user.payload(),
            }
        return extra

    async def followup(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        h = self._interaction(req, UNKNOWN_WEBHOOK)
        if not h.acknowledged:
            raise error(*UNKNOWN_WEBHOOK)
        data = self._validate_message(req.body, req.files, new=True)
        original = h.original
        if h.response_type == 5 and original is not None and original.loading:
            # Discord: the first followup after a deferred response fills in the
            # "thinking" message (keeping the defer's ephemerality).
            await stub._edit_message(original, data, files=req.files, clear_loading=True)
            h.awaiting_edit = False
            msg = original
            msg.source = "followup"
        else:
            flags = int(data.get("flags") or 0) & (
                FLAG_EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)
            )
            extra = self._interaction_extra(h)
            msg = await stub._create_message(
                stub.channels[h.channel_id],
                stub.bot_user,
                data,
                source="followup",
                flags=flags,
                files=req.files,
                interaction=h,
                extra=extra,
            )
        h.followups.append(msg)
        stub._notify()
        if req.query.get("wait", "").lower() in ("1", "true"):
            return 200, msg.data
        return 204, None

    async def webhook_message(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        h = self._interaction(req, UNKNOWN_WEBHOOK)
        mid_s = req.params["message_id"]
        if mid_s == "@original":
            if h.original_id is None:
                raise error(*UNKNOWN_MESSAGE)
            mid = h.original_id
        else:
            mid = int(mid_s)
            if mid != h.original_id and mid not in {m.id for m in h.followups}:
                raise error(*UNKNOWN_MESSAGE)
        msg = stub.all_messages.get(mid)
        if msg is None or msg.deleted:
            raise error(*UNKNOWN_MESSAGE)
        if req.method == "GET":
            return 200, msg.data
        if req.method == "DELETE":
            await stub._delete_message(msg)
            return 204, None
        data = self._validate_message(req.body, req.files, new=False)
        self._refuse_empty_edit(msg, data, req.files)
        await stub._edit_message(msg, data, files=req.files, clear_loading=msg.loading)
        if mid == h.original_id:
            h.awaiting_edit = False
        stub._notify()
        return 200, msg.data

    # ================================================================== channels

    async def get_channel(self, req: Req) -> tuple[int, Any]:
        ch = self._channel(req.params["channel_id"])
        self._check_access(ch)
        return 200, ch.payload()

    async def create_message(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        ch = self._channel(req.params["channel_id"])
        if ch.type == ChannelType.DM:
            recipient = ch.recipients[0]
            if recipient.dms_closed or recipient.bot:
                raise error(403, 50007, "Cannot send messages to this user")
        else:
            self._check_access(ch, P.SEND_MESSAGES)
        body = self._validate_message(req.body, req.files, new=True)
        ref = body.get("message_reference")
        if ref and ref.get("message_id"):
            target = stub.all_messages.get(int(ref["message_id"]))
            if (target is None or target.deleted or target.channel_id != ch.id) and ref.get(
                "fail_if_not_exists", True
            ):
                errors = FormErrors()
                errors.add(
                    ("message_reference",),
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                )
                raise form_error(errors)
        nonce = body.get("nonce")
        now = time.monotonic()
        if nonce is not None and body.get("enforce_nonce"):
            key = (ch.id, str(nonce))
            hit = stub._nonces.get(key)
            if hit is not None and now - hit[1] < stub.nonce_window:
                original = stub.all_messages.get(hit[0])
                if original is not None and not original.deleted:
                    req.record.deduplicated = True
                    return 200, original.data
        flags = int(body.get("flags") or 0) & ((1 << 2) | (1 << 12) | (1 << 13) | (1 << 15))
        msg = await stub._create_message(
            ch, stub.bot_user, body, source="channel", flags=flags, files=req.files
        )
        if nonce is not None:
            stub._nonces[(ch.id, str(nonce))] = (msg.id, now)
        return 200, msg.data

    async def history(self, req: Req) -> tuple[int, Any]:
        ch = self._channel(req.params["channel_id"])
        self._check_access(ch, P.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(req.query.get("limit", 50))))
        before = int(req.query["before"]) if "before" in req.query else None
        after = int(req.query["after"]) if "after" in req.query else None
        msgs = [
            m
            for m in self.stub.all_messages.values()
            if m.channel_id == ch.id and not m.deleted and not m.ephemeral
        ]
        if before is not None:
            msgs = [m for m in msgs if m.id < before]
        if after is not None:
            msgs = [m for m in msgs if m.id > after]
            msgs = msgs[:limit]
        msgs = sorted(msgs, key=lambda m: m.id, reverse=True)[:limit]
        return 200, [m.data for m in msgs]

    async def channel_message(self, req: Req) -> tuple[int, Any]:
        stub = self.stub
        ch = self._channel(req.params["channel_id"])
        self._check_access(ch)
        msg = stub.all_messages.get(int(req.params["message_id"]))
        if msg is None or msg.deleted or msg.channel_id != ch.id or msg.ephemeral:
            raise error(*UNKNOWN_MESSAGE)
        if req.method == "GET":
            return 200, msg.data
        mine = msg.author_id == stub.bot_user.id
        if req.method == "DELETE":
            if not mine:
                if ch.is_dm:
                    raise error(403, 50003, "Cannot execute action on a DM channel")
                self._check_access(ch, P.MANAGE_MESSAGES)
            await stub._delete_message(msg)
            return 204, None
        if not mine:
            raise error(403, 50005, "Cannot edit a message authored by another user")
        data = self._validate_message(req.body, req.files, new=False)
        self._refuse_empty_edit(msg, data, req.files)
        await stub._edit_message(msg, data, files=req.files)
        return 200, msg.data

    async def typing(self, req: Req) -> tuple[int, Any]:
        ch = self._channel(req.params["channel_id"])
        self._check_access(ch, P.SEND_MESSAGES)
        self.stub.typing.append(ch.id)
        return 204, None

    async def reaction(self, req: Req) -> tuple[int, Any]:
        ch = self._channel(req.params["channel_id"])
        self._check_access(ch, P.ADD_REACTIONS | P.READ_MESSAGE_HISTORY)
        msg = self.stub.all_messages.get(int(req.params["message_id"]))
        if msg is None or msg.deleted:
            raise error(*UNKNOWN_MESSAGE)
        return 204, None
