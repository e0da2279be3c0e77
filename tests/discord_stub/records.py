"""What the stub records: requests, messages and interactions, plus awaitable views on them.

Nothing here sleeps: every ``await`` goes through :meth:`DiscordStub.wait_for`, which
re-checks a predicate each time the stub's state changes and fails with a readable
``StubTimeout`` (listing the last requests) if it never holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .validate import FLAG_EPHEMERAL, FLAG_LOADING, Pings, pings

if TYPE_CHECKING:
    from .models import StubUser
    from .server import DiscordStub


class StubError(Exception):
    """The test asked the stub for something Discord would not do (e.g. unknown command)."""


class CommandUnavailable(StubError):
    """Discord would not let this user run this command here (permissions or context)."""


class StubTimeout(AssertionError):
    """An awaited condition never held (raised instead of ``TimeoutError`` for clear reports)."""


@dataclass(eq=False)
class RecordedRequest:
    """One REST call the bot (or a test) made, with the stub's answer."""

    method: str
    path: str  # relative to the API base, e.g. "/channels/1/messages"
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None  # JSON body, or the decoded ``payload_json`` of a multipart body
    files: list[dict[str, Any]] = field(default_factory=list)
    route: str | None = None  # e.g. "POST /channels/{channel_id}/messages"; None if unknown
    status: int = 0
    response: Any = None
    deduplicated: bool = False  # answered from the nonce cache instead of creating a message

    @property
    def unknown(self) -> bool:
        return self.route is None

    @property
    def rejected(self) -> bool:
        return 400 <= self.status < 500

    @property
    def code(self) -> int | None:
        """Discord's JSON error code (e.g. 50035), if the answer was an error body."""
        if isinstance(self.response, dict) and "code" in self.response:
            return self.response["code"]
        return None

    @property
    def error_paths(self) -> list[str]:
        """Dotted paths of form errors, e.g. ``["embeds.0.description"]``."""
        out: list[str] = []

        def walk(node: Any, prefix: str) -> None:
            if not isinstance(node, dict):
                return
            for key, sub in node.items():
                if key == "_errors":
                    out.append(prefix)
                else:
                    walk(sub, f"{prefix}.{key}" if prefix else key)

        if isinstance(self.response, dict):
            walk(self.response.get("errors") or {}, "")
        return out

    def __repr__(self) -> str:
        note = " (unknown route)" if self.unknown else ""
        return f"<{self.method} {self.path} -> {self.status}{note}>"


@dataclass(eq=False)
class SentMessage:
    """A message in the stub: sent by the bot (channel/interaction/followup) or a user.

    ``data`` is the current JSON as Discord would return it; ``history`` holds earlier
    versions (one per edit). ``allowed_mentions`` is exactly what the request carried
    (``None`` = not sent, which on Discord means *everything pings*).
    """

    id: int
    channel_id: int
    author_id: int
    data: dict[str, Any]
    source: str  # "channel" | "interaction" | "followup" | "user"
    allowed_mentions: dict[str, Any] | None = None
    nonce: str | None = None
    interaction_id: int | None = None
    reply_to_author: int | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred ("thinking") response that has not been filled in yet."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def pings(self) -> Pings:
        """Who Discord would have notified for the current content."""
        return pings(self.content, self.allowed_mentions, reply_to=self.reply_to_author)

    def walk_components(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for c in items:
                out.append(c)
                for key in ("components", "items"):
                    if isinstance(c.get(key), list):
                        walk(c[key])
                for key in ("accessory", "component"):
                    if isinstance(c.get(key), dict):
                        walk([c[key]])

        walk(self.components)
        return out

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.walk_components() if c.get("custom_id")]

    def component(self, custom_id: str) -> dict[str, Any] | None:
        return next((c for c in self.walk_components() if c.get("custom_id") == custom_id), None)

    def __repr__(self) -> str:
        return f"<SentMessage id={self.id} source={self.source} content={self.content[:40]!r}>"


class InteractionHandle:
    """An interaction the stub dispatched, and everything the bot did with it.

    Await :meth:`response` for the initial callback, :meth:`message` for the message
    the user ends up seeing (after defers/edits), :meth:`followup` for followups and
    :meth:`choices` for autocomplete results.
    """

    def __init__(self, stub: DiscordStub, payload: dict[str, Any], user: StubUser) -> None:
        self._stub = stub
        self.payload = payload
        self.user = user
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.channel_id = int(payload["channel_id"])
        self.created = asyncio.get_running_loop().time()
        self.callbacks: list[dict[str, Any]] = []  # accepted initial responses (at most one)
        self.followups: list[SentMessage] = []
        self.original_id: int | None = None
        self.awaiting_edit = False  # deferred (type 5/6) and not yet edited/filled in
        self.source_message_id = int(payload["message"]["id"]) if "message" in payload else None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def original(self) -> SentMessage | None:
        return self._stub.all_messages.get(self.original_id) if self.original_id else None

    async def response(self, timeout: float | None = None) -> dict[str, Any]:
        """The initial callback body ``{"type": ..., "data": ...}`` the bot POSTed."""
        return await self._stub.wait_for(
            lambda: self.callbacks[0] if self.callbacks else None,
            what=f"a response to interaction {self.id}",
            timeout=timeout,
        )

    async def message(self, timeout: float | None = None) -> SentMessage:
        """The message this interaction produced, once it is final.

        Type 4 → the new message; type 7 → the updated component message; type 5/6
        (deferred) → waits until @original was edited or the first followup filled it in.
        """
        cb = await self.response(timeout)
        if cb["type"] in (1, 8, 9):
            raise StubError(
                f"interaction {self.id} was answered with type {cb['type']}: no message"
            )

        def ready() -> SentMessage | None:
            msg = self.original
            if msg is None or self.awaiting_edit:
                return None
            return msg

        return await self._stub.wait_for(
            ready, what=f"the message of interaction {self.id}", timeout=timeout
        )

    async def followup(self, index: int = 0, timeout: float | None = None) -> SentMessage:
        """The ``index``-th followup message (a followup that filled a defer counts)."""
        return await self._stub.wait_for(
            lambda: self.followups[index] if len(self.followups) > index else None,
            what=f"followup #{index} of interaction {self.id}",
            timeout=timeout,
        )

    async def choices(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Autocomplete choices (callback type 8)."""
        cb = await self.response(timeout)
        if cb["type"] != 8:
            raise StubError(f"expected an autocomplete result (type 8), got type {cb['type']}")
        return list((cb.get("data") or {}).get("choices") or [])

    async def modal(self, timeout: float | None = None) -> dict[str, Any]:
        """The modal (callback type 9) the bot opened."""
        cb = await self.response(timeout)
        if cb["type"] != 9:
            raise StubError(f"expected a modal (type 9), got type {cb['type']}")
        return cb["data"]

    async def wait(
        self,
        predicate: Callable[[InteractionHandle], Any],
        *,
        what: str = "a condition on the interaction",
        timeout: float | None = None,
    ) -> Any:
        """Wait until ``predicate(self)`` is truthy; returns its value."""
        return await self._stub.wait_for(lambda: predicate(self), what=what, timeout=timeout)

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} response={self.response_type}>"
