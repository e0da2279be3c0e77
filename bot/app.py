"""The Discord app: one ``commands.Bot`` subclass that wires corpus, engine and cogs in one place.

``setup_hook`` opens the corpus, builds the engine in a worker thread, follows corpus changes,
loads the extensions in ``cogs/`` (the digests one opens the digests' state through
``open_digests``) and syncs the command tree only when it changed. Everything a cog needs
hangs off the bot it is given (``answers``, ``cooldown``, ``corpus``, ``digests``,
``request_log``, ``settings``): no module-level singletons and no cog reaching into another cog.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.answer_service import AnswerService
from bot.config import DiscordSettings, Settings
from bot.corpus.live import Corpus, CorpusChange
from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import CorpusSnapshot
from bot.digests.delivery import (
    INSTANT_WINDOW,
    Clock,
    Delivery,
    InstantBatcher,
    Sender,
    utc_now,
)
from bot.digests.models import DigestError
from bot.digests.service import DigestService
from bot.digests.store import DigestStore
from bot.engine.engine import Engine
from bot.request_log import RequestLog
from bot.store import tighten, write_private
from bot.writer_lock import BOT, WriterLock

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.lookups", "cogs.dms", "cogs.admin", "cogs.digests")
# Per user, shared by slash commands and DMs: a person reading answers never gets near it; a
# script hammering the bot does. Discord itself allows far more, so this is our choice.
COOLDOWN_RATE = 5
COOLDOWN_PER = 15.0
# /corpus, per user: a reload re-reads every folder, and operators need a few calls a minute.
CORPUS_COOLDOWN_RATE = 3
CORPUS_COOLDOWN_PER = 60.0
TREE_HASH_FILE = "command-tree.sha256"
FOLLOWED_KEPT = 64
# Schedules are checked once a minute: slots are whole minutes ("09:00"), and a check costs
# two small queries when nothing is due.
DIGEST_INTERVAL = 60.0
# From this many articles the bot connects before stories are grouped (14 s at 100k, 227 s at
# 1M) and groups them in the background; below it, grouping takes under 3 s and is waited for.
STORIES_IN_BACKGROUND_FROM = 20_000


@dataclass(frozen=True, slots=True)
class DigestTiming:
    """How digests meet time; tests pass a clock they move and a window they open by hand.

    ``interval`` is the seconds between schedule checks, ``instant_window`` how long a burst of
    corpus changes is gathered into one instant alert, ``wait`` what waits that long.
    """

    clock: Clock = utc_now
    interval: float = DIGEST_INTERVAL
    instant_window: float = INSTANT_WINDOW
    wait: Callable[[float], Awaitable[Any]] = asyncio.sleep


def _snapshot_key(snapshot: CorpusSnapshot) -> tuple[int, datetime]:
    # id() alone could be reused by a later snapshot once an old one is freed; the load time
    # makes the pair unique. Keys, not snapshots, so followed ones can be freed.
    return id(snapshot), snapshot.loaded_at


def use_endpoints(settings: DiscordSettings) -> None:
    """Point discord.py at a Discord REST/gateway proxy when configured (process-wide)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def intents() -> discord.Intents:
    """The minimum: guilds (slash commands need the guild cache) and DMs (plain DM questions).

    No message-content intent: DM content reaches bots without it, guild messages are ignored.
    """
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.dm_messages = True
    return wanted


class FriendlyError(app_commands.AppCommandError):
    """An error whose message is fit to show the user as it is."""


class UserCooldown:
    """A per-user budget of ``rate`` requests per ``per`` seconds.

    discord.py's ``CooldownMapping`` scans every bucket on every call to expire old ones; with
    thousands of users that is real work per interaction, so expiry here runs once per window.
    ``clock`` (seconds since the epoch, never 0: discord.py reads 0 as "now") lets tests move
    time instead of waiting.
    """

    def __init__(
        self,
        rate: int = COOLDOWN_RATE,
        per: float = COOLDOWN_PER,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self.per = per
        self.clock = clock
        self._buckets: dict[int, app_commands.Cooldown] = {}
        # user id -> the start of the window in which they were last told to slow down
        self._told: dict[int, float] = {}
        self._next_prune = 0.0

    def hit(self, user_id: int) -> app_commands.CommandOnCooldown | None:
        """Spend one request for ``user_id``; the error to raise when the budget is gone."""
        now = self.clock()
        if now >= self._next_prune:
            self._buckets = {k: b for k, b in self._buckets.items() if now <= b._last + b.per}
            self._told = {k: w for k, w in self._told.items() if k in self._buckets}
            self._next_prune = now + self.per
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = app_commands.Cooldown(self.rate, self.per)
        retry = bucket.update_rate_limit(now)
        return None if retry is None else app_commands.CommandOnCooldown(bucket, retry)

    def spend(self, user_id: int) -> None:
        """Spend one request for ``user_id``; ``CommandOnCooldown`` when the budget is gone.

        What an ``interaction_check`` calls: the app's error funnel tells the user when to
        try again.
        """
        limited = self.hit(user_id)
        if limited is not None:
            raise limited

    def first_refusal(self, user_id: int) -> bool:
        """True once per window for a user ``hit`` refused: the one "slow down" worth posting.

        A DM reply is a post; answering every refused DM would let a flood of DMs make the bot
        flood back. Silence follows until the user's window resets.
        """
        bucket = self._buckets.get(user_id)
        if bucket is None:
            return False
        if self._told.get(user_id) == bucket._window:
            return False
        self._told[user_id] = bucket._window
        return True


# --------------------------------------------------------------------------- the error funnel
def user_message(error: Exception) -> str | None:
    """Plain words for the user, or None when the error is ours (and must be logged)."""
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little — try again in {max(1, math.ceil(error.retry_after))} s."
    if isinstance(error, FriendlyError | DigestError):
        return str(error)
    if isinstance(error, app_commands.TransformerError):
        hint = getattr(error.transformer, "hint", "check the value and try again")
        return f"I couldn't read “{str(error.value)[:100]}”: {hint}."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the Manage Server permission for that."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return "That command changed since Discord loaded it — try again in a minute."
    return None


def interaction_options(data: Any) -> str:
    """The options a user gave, flattened for a log line: ``corpus errors page=2``."""
    parts: list[str] = []

    def walk(options: Iterable[dict[str, Any]]) -> None:
        for o in options:
            if "value" in o:
                parts.append(f"{o['name']}={o['value']!r}")
            else:
                parts.append(o["name"])
                walk(o.get("options") or [])

    if isinstance(data, dict):
        walk(data.get("options") or [])
        if "custom_id" in data:
            parts.append(f"custom_id={data['custom_id']!r}")
    return " ".join(parts)


def request_log(client: discord.Client) -> RequestLog:
    """How log lines describe requests: the bot's choice (``[logging] queries``), else none."""
    return client.request_log if isinstance(client, CoverageBot) else RequestLog()


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Answer ephemerally in plain words; log our own failures with their traceback."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, discord.NotFound) and original.code == 10062:
        log.warning("interaction %s expired before it was answered", interaction.id)
        return
    text = user_message(original)
    if text is None:
        if interaction.command is not None:
            name = f"/{interaction.command.qualified_name}"
        else:  # a custom_id is the bot's own ("<view>:next"), never what the user typed
            data = interaction.data if isinstance(interaction.data, dict) else {}
            name = f"component {data.get('custom_id', '')!r}"
        what = request_log(interaction.client).describe(
            name, interaction.user.id, options=interaction_options(interaction.data) or "none"
        )
        log.error("%s failed", what, exc_info=(type(original), original, original.__traceback__))
        text = "Something went wrong answering that. It has been logged — please try again."
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s about an error", interaction.user.id, exc_info=True)


class CoverageTree(app_commands.CommandTree):
    """The command tree whose ``on_error`` is the app's one error funnel."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Every app command's error ends here (views forward theirs too)."""
        await report_error(interaction, error)


# --------------------------------------------------------------------------- the bot
class CoverageBot(commands.Bot):
    """Coverage Bot on Discord: built from settings, optionally with a prebuilt corpus/engine.

    ``corpus``/``engine`` let tests and benchmarks share one load; without them ``setup_hook``
    builds both from ``settings.corpus``. ``sync_commands=False`` leaves the command tree alone
    (``coverage-bot sync`` forces a sync instead); ``watch`` overrides ``corpus.watch``;
    ``digest_timing`` gives digests their clock, check interval and batching window.
    ``models=False`` reads no semantic model: for ``coverage-bot sync``, which answers nothing,
    and would otherwise start building them on a new database only to wait for that at exit.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        corpus: Corpus | None = None,
        engine: Engine | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        sync_commands: bool = True,
        watch: bool | None = None,
        cooldown: UserCooldown | None = None,
        corpus_cooldown: UserCooldown | None = None,
        digest_timing: DigestTiming | None = None,
        models: bool = True,
        **options: Any,
    ) -> None:
        options.setdefault("chunk_guilds_at_startup", False)
        # Nothing reads cached messages (views keep what they edit), and parsing every answer
        # back into the cache costs CPU and heap on each interaction.
        options.setdefault("max_messages", None)
        # No voice here: "PyNaCl is not installed" on every start would only be noise.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,  # unused: there are no text commands
            intents=intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CoverageTree,
            **options,
        )
        self.settings = settings
        self.request_log = RequestLog(queries=settings.logging.queries)
        self._corpus = corpus
        self._owns_corpus = corpus is None
        self._engine = engine
        self._answers: AnswerService | None = None
        self.cooldown = cooldown or UserCooldown()
        self.corpus_cooldown = corpus_cooldown or UserCooldown(
            CORPUS_COOLDOWN_RATE, CORPUS_COOLDOWN_PER
        )
        self.extension_names = tuple(extensions)
        self.sync_on_start = sync_commands
        self.watch = settings.corpus.watch if watch is None else watch
        self.synced_scopes: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions = contextlib.ExitStack()
        self._applied = asyncio.Condition()
        # Snapshots the engine has followed (or failed to), newest last: /corpus reload waits
        # for its own even when the watcher publishes another right after it.
        self._followed: dict[tuple[int, datetime], Exception | None] = {}
        self.digest_timing = digest_timing or DigestTiming()
        self._models = models
        self._digest_store: DigestStore | None = None
        self._writer = WriterLock(settings.corpus.database, role=BOT)
        self._digests: DigestService | None = None
        self.digest_batcher: InstantBatcher | None = None

    # ------------------------------------------------------------------ what cogs use
    @property
    def corpus(self) -> Corpus:
        """The live corpus (after ``setup_hook``)."""
        if self._corpus is None:
            raise RuntimeError("the corpus opens in setup_hook")
        return self._corpus

    @property
    def answers(self) -> AnswerService:
        """Engine calls off the event loop (after ``setup_hook``)."""
        if self._answers is None:
            raise RuntimeError("the engine is built in setup_hook")
        return self._answers

    @property
    def stories_ready(self) -> asyncio.Event:
        """Set once stories are grouped: digests wait for it (a digest groups items by story)."""
        return self.answers.stories_ready

    @property
    def digests(self) -> DigestService:
        """Digest subscriptions and their delivery (once ``cogs.digests`` is loaded)."""
        if self._digests is None:
            raise RuntimeError("digests open when cogs.digests is loaded")
        return self._digests

    def is_admin_guild(self, interaction: discord.Interaction) -> bool:
        """Whether the interaction comes from one of the operator's servers, through the bot.

        The corpus is the operator's, shared by every server: Manage Server in a server that
        merely added the bot means nothing for it. A user install reaches servers the bot is
        not in (and carries the member's permissions there), so only a guild install counts,
        in a server the bot is in.
        """
        guild_id = interaction.guild_id
        return (
            guild_id is not None
            and guild_id in self.settings.discord.admin_guild_ids
            and interaction.is_guild_integration()
            and self.get_guild(guild_id) is not None
        )

    async def is_corpus_admin(self, interaction: discord.Interaction) -> bool:
        """Owners (configured or the application's), and managers of the admin servers."""
        user = interaction.user
        if user.id in self.settings.discord.owner_ids:
            return True
        if self.is_admin_guild(interaction) and interaction.permissions.manage_guild:
            return True
        return await self.is_owner(user)

    async def reload_corpus(self) -> CorpusChange:
        """Re-scan the corpus now and return once the engine has followed the change."""
        change = await self.corpus.reload()
        if change.changes:
            key = _snapshot_key(change.snapshot)
            async with self._applied:
                await self._applied.wait_for(lambda: key in self._followed)
            if self._followed[key] is not None:
                raise RuntimeError("the index could not follow the reload") from self._followed[key]
        return change

    async def until_applied(self, predicate: Callable[[CorpusSnapshot], bool]) -> None:
        """Wait until the snapshot answers come from satisfies ``predicate``."""
        async with self._applied:
            await self._applied.wait_for(lambda: predicate(self.answers.snapshot))

    # ------------------------------------------------------------------ start-up
    async def login(self, token: str) -> None:
        """Log in, first pointing discord.py at the configured REST/gateway endpoints."""
        use_endpoints(self.settings.discord)
        await super().login(token)

    async def setup_hook(self) -> None:
        """Corpus → engine → change follower → watcher → extensions → command sync."""
        started = time.perf_counter()
        # One writer per database: a second bot on it would post every digest twice.
        await asyncio.to_thread(self._writer.acquire)
        if self._corpus is None:
            c = self.settings.corpus
            # In a thread: opening may fold back a large log a command left (``CorpusLoader``).
            loader = await asyncio.to_thread(
                CorpusLoader, c.paths, c.database, max_bytes=c.max_file_bytes
            )
            self._corpus = Corpus(loader)
        catch_up = None
        if self._corpus.last_stats is None:
            opened = await self._corpus.open()
            catch_up = (self._corpus.loader.started_from, opened.changes)
        queue = self._subscriptions.enter_context(self._corpus.subscribe())
        if self._engine is None:
            # Derived stores are kept beside the database the bot owns: a restart opens them.
            database = self._corpus.loader.db_path if self._owns_corpus else None
            snapshot = self._corpus.snapshot
            now = len(snapshot.articles) < STORIES_IN_BACKGROUND_FROM
            self._engine = await asyncio.to_thread(
                Engine.beside,
                database,
                snapshot,
                stories=True if now else "later",
                catch_up=catch_up,
                **({} if self._models else {"word_vectors": None}),
            )
        rest = self.settings.corpus.rest_stories_after_s
        self._answers = AnswerService(self._engine, rest_stories_after=None if rest < 0 else rest)
        if not self._engine.stories_ready:
            self.answers.start_grouping()
        # A daemon, like the grouping's: a stop never waits for its pass over every article.
        build_titles = self._engine.titles_in_background()
        threading.Thread(target=build_titles, name="title-table", daemon=True).start()
        fill = self._engine.meanings_in_background()  # kept: a restart computes what changed
        threading.Thread(target=fill, name="article-meanings", daemon=True).start()
        self._tasks.append(asyncio.create_task(self._follow(queue), name="corpus-follower"))
        if self.watch and self._owns_corpus:
            watch = self._corpus.watch(debounce_ms=self.settings.corpus.watch_debounce_ms)
            self._tasks.append(asyncio.create_task(watch, name="corpus-watcher"))
        log.info(
            "corpus ready: %d articles from %d files in %.2f s (search index %s)",
            len(self._corpus.snapshot.articles),
            len(self._corpus.snapshot.files),
            time.perf_counter() - started,
            self._engine.index_state,
        )
        for name in self.extension_names:
            await self.load_extension(name)
        if self.sync_on_start:
            await self.sync_commands()

    async def open_digests(self, sender: Sender) -> DigestService:
        """Digest state in the corpus's database, delivered through ``sender``.

        ``cogs.digests`` calls this from its ``setup`` with its Discord sender; everything else
        is built here. A reloaded extension gets a new service over the same open store.
        """
        if self._engine is None:
            raise RuntimeError("the engine is built in setup_hook")
        timing = self.digest_timing
        if self._digest_store is None:
            self._digest_store = await DigestStore.open(self.settings.corpus.database)
        delivery = Delivery(
            self._digest_store,
            self._engine,
            sender,
            clock=timing.clock,
            # Digests read the engine (stories, vocabulary); in its own thread they never see
            # it half-way through applying a change.
            offload=self.answers.run,
        )
        self._digests = DigestService(self._digest_store, delivery)
        self.digest_batcher = InstantBatcher(
            delivery, window=timing.instant_window, wait=timing.wait, ready=self.stories_ready.wait
        )
        return self._digests

    async def _follow(self, queue: asyncio.Queue[CorpusChange]) -> None:
        while True:
            change = await queue.get()
            error: Exception | None = None
            try:
                await self.answers.apply(change)
            except Exception as exc:  # one bad change must not stop the bot following the next
                log.exception("could not apply a corpus change to the index")
                error = exc
            self._followed[_snapshot_key(change.snapshot)] = error
            while len(self._followed) > FOLLOWED_KEPT:
                del self._followed[next(iter(self._followed))]
            if self.digest_batcher is not None:
                # After the engine applied it, so an instant alert can already match it.
                self.digest_batcher.submit(change)
            async with self._applied:
                self._applied.notify_all()

    async def on_ready(self) -> None:
        """Say where the bot is, once per connection."""
        log.info("connected as %s to %d server(s)", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        """No text commands: the DMs cog's listener answers plain DMs."""

    async def close(self) -> None:
        """Disconnect, stop following the corpus, release the engine thread and database."""
        await super().close()  # unloads the cogs first: the digest loops stop before the store
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._subscriptions.close()
        if self._digest_store is not None:
            await self._digest_store.close()
        if self._answers is not None:
            await self._answers.close()
        if self._engine is not None:  # merges finished, and tantivy's writer lock given up
            engine = self._engine
            for step in (engine.release_index, engine.save_stories, engine.save_meanings):
                try:
                    await asyncio.to_thread(step)
                except Exception:  # the rest of closing (the corpus state, the lock) goes on
                    log.exception("closing the engine: %s failed", step.__name__)
        if self._owns_corpus and self._corpus is not None:
            self._corpus.loader.close()
        self._writer.release()

    # ------------------------------------------------------------------ command sync
    def _scopes(self, guild_ids: Sequence[int] | None) -> list[discord.Object | None]:
        ids = self.settings.discord.guild_ids if guild_ids is None else guild_ids
        if not ids:
            return [None]
        # Development servers get a copy of every command at once; global sync would show
        # them twice there, so it is left alone in that mode.
        scopes: list[discord.Object | None] = []
        for gid in ids:
            guild = discord.Object(int(gid))
            self.tree.copy_global_to(guild=guild)
            scopes.append(guild)
        return scopes

    def tree_hash(self, guild: discord.Object | None) -> str:
        """A digest of exactly what a sync would send for one scope."""
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        text = json.dumps(sorted(payload, key=lambda c: c["name"]), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def tree_hash_path(self) -> Path:
        """Beside the database, so it lives and dies with the bot's other state."""
        return Path(self.settings.corpus.database).parent / TREE_HASH_FILE

    async def sync_commands(
        self, *, force: bool = False, guild_ids: Sequence[int] | None = None
    ) -> list[str]:
        """Sync scopes whose command tree changed since the last sync (or all, with ``force``).

        Discord rate-limits command syncs hard (a few per minute per scope), so a restart that
        changed nothing must not sync at all.
        """
        stored = self._read_hashes()
        synced: list[str] = []
        for guild in self._scopes(guild_ids):
            scope = "global" if guild is None else f"guild:{guild.id}"
            key = f"{self.application_id}/{scope}"
            digest = self.tree_hash(guild)
            if not force and stored.get(key) == digest:
                log.info("commands unchanged for %s: not syncing", scope)
                continue
            commands_synced = await self.tree.sync(guild=guild)
            stored[key] = digest
            self._write_hashes(stored)
            synced.append(scope)
            log.info("synced %d commands to %s", len(commands_synced), scope)
        self.synced_scopes = synced
        return synced

    def _read_hashes(self) -> dict[str, str]:
        tighten(self.tree_hash_path)  # written readable by all before 0600 became the rule
        try:
            data = json.loads(self.tree_hash_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_hashes(self, hashes: dict[str, str]) -> None:
        write_private(self.tree_hash_path, json.dumps(hashes, indent=1, sort_keys=True) + "\n")
