"""/digest for a server's channels (Manage Server); /follow, /unfollow, /follows for DMs.

Thin on purpose: options in, ``bot.digests`` (``DigestService``) does the work, cards out.
Schedules, selection and the outbox live in ``bot/digests``; what is Discord's here is
``DiscordSender`` — posting a digest with its outbox nonce (discord.py then sets
``enforce_nonce``, so a repeat returns the first message instead of a second post) and turning
Discord's errors into the core's typed failures — and the two background tasks: the schedule
check every minute and the instant-alert batcher fed by corpus changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import FriendlyError, UserCooldown
from bot.digests.cards import DIGEST_COLOUR, plural, subscription_line
from bot.digests.delivery import (
    DeliveryError,
    DMsClosed,
    InstantBatcher,
    MissingPermission,
    Outcome,
    TargetGone,
    TransientError,
    missing_permission,
)
from bot.digests.models import (
    MAX_CONSECUTIVE_FAILURES,
    MAX_ITEMS_LIMIT,
    DigestError,
    Subscription,
    Target,
)
from bot.discord_embeds import message_embeds
from bot.render import Card, cut, escape, make_card
from cogs._choices import CHOICES_MAX, NAME_MAX, LookupChoices
from cogs._replies import deferring
from cogs.lookups import Name, Query, everywhere

if TYPE_CHECKING:
    from bot.answer_service import AnswerService
    from bot.app import CoverageBot
    from bot.digests.service import DigestService

log = logging.getLogger(__name__)
T = TypeVar("T")

# How far back a digest whose send outcome was lost is looked for (after Discord's nonce window):
# one page of history is plenty for a channel the bot posts a few digests a day in.
HISTORY_SCAN = 100
# Discord error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
MISSING_ACCESS = 50001
CANNOT_DM = 50007
INVALID_RECIPIENT = 50033
LIMITED = frozenset({"preview", "send-now", "follow"})  # what spends the per-user cooldown
# Digests group their items by story: these wait until stories are grouped after a start.
STORY_BOUND = frozenset({"preview", "send-now"})
STILL_GROUPING = (
    "The bot has just started and is still grouping the coverage into stories; "
    "digests can be previewed and sent once it has (a few minutes at most)."
)

Kind = Literal["daily", "weekly", "instant"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SubscriptionId = app_commands.Range[int, 1, 2**53]
TimeOfDay = app_commands.Range[str, 1, 16]
Zone = app_commands.Range[str, 1, 64]
MaxItems = app_commands.Range[int, 1, MAX_ITEMS_LIMIT]

SCHEDULE = "daily, weekly (pick a weekday) or instant (as new coverage arrives)"
TIME = "Local time of day, like 09:00 (default 09:00)"
TIMEZONE = "IANA time zone, like Europe/Berlin (default UTC)"
WEEKDAY = "The day of a weekly digest"


# ------------------------------------------------------------------------------ the sender
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


# ------------------------------------------------------------------------------ replies
def spend(cooldown: UserCooldown, interaction: discord.Interaction) -> bool:
    """The lookups' per-user cooldown, for commands that compute or post.

    Managing digests is a handful of quick writes: a manager setting several up shouldn't be
    told to slow down.
    """
    command = interaction.command
    if command is not None and command.name in LIMITED:
        limited = cooldown.hit(interaction.user.id)
        if limited is not None:
            raise limited
    return True


async def reply(interaction: discord.Interaction, work: Awaitable[list[Card]]) -> None:
    """Answer privately with ``work``'s cards, deferring first if it takes a while.

    Errors propagate to the app's error funnel, which answers (or follows up) in plain words.
    """
    defer = functools.partial(interaction.response.defer, thinking=True, ephemeral=True)
    embeds = message_embeds(await deferring(work, defer))
    if interaction.response.is_done():
        await interaction.edit_original_response(embeds=embeds)
    else:
        await interaction.response.send_message(embeds=embeds, ephemeral=True)


def note(
    title: str, text: str = "", sub: Subscription | None = None, now: datetime | None = None
) -> list[Card]:
    """A short confirmation card, with the subscription as /digest list shows it."""
    fields = None
    if sub is not None:
        upcoming = None if sub.paused or now is None else sub.schedule.next_run(now)
        fields = [subscription_line(sub, upcoming)]
    return [make_card(title, text, fields=fields, colour=DIGEST_COLOUR)]


def outcome_card(sub: Subscription, outcome: Outcome, jump: str | None) -> list[Card]:
    """What /digest send-now did."""
    reason = escape(outcome.reason or "unknown error")
    if outcome.status == "sent":
        what = plural(outcome.articles, "new article") if outcome.articles else "nothing new"
        link = f" [Jump to it]({jump})" if jump else ""
        return note(f"Digest #{sub.id} posted", f"Posted in {sub.target.mention}: {what}.{link}")
    if outcome.status == "nothing-new":
        return note(
            f"Nothing new for digest #{sub.id}",
            "Nothing new since its last delivery, so nothing was posted (the digest is quiet: "
            "add it with quiet: False to post “nothing new”).",
        )
    if outcome.status == "retrying":
        return note(
            f"Digest #{sub.id} not posted yet",
            f"Discord didn't take it ({reason}); it is tried again within a minute.",
        )
    paused = " It is paused now: fix that, then /digest resume." if outcome.paused else ""
    return note(
        f"Digest #{sub.id} could not be posted", f"{reason[:1].upper()}{reason[1:]}.{paused}"
    )


def subscription_choices(
    subs: Sequence[Subscription], current: str
) -> list[app_commands.Choice[int]]:
    """Autocomplete for a subscription id: by id or by words of its query."""
    text = str(current).strip().lstrip("#").casefold()
    found = [
        s for s in subs if not text or str(s.id).startswith(text) or text in s.query.casefold()
    ]
    return [
        app_commands.Choice(
            name=cut(f"#{s.id} · {s.query} · {s.schedule.describe()} · {s.status}", NAME_MAX),
            value=s.id,
        )
        for s in found[:CHOICES_MAX]
    ]


class ScheduleChoices(LookupChoices):
    """The lookups' choices plus IANA time zones, for /digest and /follow."""

    service: DigestService

    async def timezone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """IANA zone names: prefix matches, then city names, then anywhere."""
        return [app_commands.Choice(name=z, value=z) for z in self.service.timezones(current)]


# ------------------------------------------------------------------------------ /digest
class Digests(ScheduleChoices, commands.Cog):
    """/digest for server managers, and the tasks that deliver every digest and follow."""

    digest = app_commands.Group(
        name="digest",
        description="New coverage posted to a channel on a schedule (Manage Server)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )

    def __init__(
        self,
        bot: CoverageBot,
        service: DigestService,
        batcher: InstantBatcher,
        answers: AnswerService,
        cooldown: UserCooldown,
        *,
        interval: float,
    ) -> None:
        self.bot = bot
        self.service = service
        self.batcher = batcher
        self.answers = answers
        self.cooldown = cooldown
        self.interval = interval
        self.started: asyncio.Future[list[Outcome]] | None = None
        self._batching: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ background work
    async def cog_load(self) -> None:
        """Start the schedule check; it waits for the connection, then catches up once."""
        self.started = asyncio.get_running_loop().create_future()
        self.schedule.change_interval(seconds=self.interval)
        self.schedule.start()

    async def cog_unload(self) -> None:
        """Stop both tasks; a digest cut off mid-send stays in the outbox for the next start."""
        self.schedule.cancel()
        if self._batching is not None:
            self._batching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batching
        if self.started is not None and not self.started.done():
            self.started.cancel()

    async def tick(self) -> list[Outcome]:
        """One schedule check: pending digests first, then every subscription now due."""
        if not self.bot.stories_ready.is_set():
            return []  # regrouping after a rebuild: a slot passed meanwhile is still due after
        try:
            return await self.service.delivery.run_due()
        except Exception:  # the loop must outlive a bad minute (e.g. a locked database)
            log.exception("scheduled digests failed")
            return []

    async def wait_started(self) -> list[Outcome]:
        """What the start-up reconcile and catch-up delivered (tests await it)."""
        assert self.started is not None, "the cog is not loaded"
        return await asyncio.shield(self.started)

    @tasks.loop(minutes=1)
    async def schedule(self) -> None:
        """Every minute (``DigestTiming.interval``)."""
        await self.tick()

    @schedule.before_loop
    async def _start(self) -> None:
        await self.bot.wait_until_ready()
        await self.bot.stories_ready.wait()  # digests group their items by story
        outcomes: list[Outcome] = []
        try:
            # Reconcile the outbox (a digest sent just before a crash is found, not re-posted),
            # then one catch-up digest for every slot missed while the bot was down.
            outcomes = await self.service.delivery.start()
        except Exception:
            log.exception("digest start-up failed; scheduled checks go on")
        sent = sum(o.status == "sent" for o in outcomes)
        log.info("digests started: %d delivered on start", sent)
        self._batching = asyncio.create_task(self.batcher.run(), name="digest-instant-alerts")
        if self.started is not None and not self.started.done():
            self.started.set_result(outcomes)

    # ------------------------------------------------------------------ checks
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Manage Server, checked again here: default permissions only hide the command."""
        try:
            self.service.require_manager(
                interaction.guild_id is not None and interaction.permissions.manage_guild
            )
        except DigestError as refused:  # checks reach the error funnel as AppCommandErrors
            raise FriendlyError(str(refused)) from None
        command = interaction.command.name if interaction.command else ""
        if command in STORY_BOUND and not self.bot.stories_ready.is_set():
            raise FriendlyError(STILL_GROUPING)
        return spend(self.cooldown, interaction)

    # ------------------------------------------------------------------ autocomplete

    async def digest_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """The server's digests."""
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        return subscription_choices(await self.service.list(interaction.guild_id), current)

    # ------------------------------------------------------------------ commands
    @digest.command(name="add", description="Post new coverage of a query to a channel")
    @app_commands.describe(
        channel="Where the digest is posted",
        query="What the coverage is about",
        schedule=SCHEDULE,
        time=TIME,
        timezone=TIMEZONE,
        weekday=WEEKDAY,
        outlet="Only this outlet",
        topic="Only this topic",
        max_items="Articles per digest at most (default 10)",
        quiet="Post nothing when nothing is new (default True)",
    )
    @app_commands.autocomplete(
        query=ScheduleChoices.query_choices,
        timezone=ScheduleChoices.timezone_choices,
        outlet=ScheduleChoices.outlet_choices,
        topic=ScheduleChoices.topic_choices,
    )
    async def add(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        query: Query,
        schedule: Kind,
        time: TimeOfDay | None = None,
        timezone: Zone | None = None,
        weekday: Weekday | None = None,
        outlet: Name | None = None,
        topic: Name | None = None,
        max_items: MaxItems | None = None,
        quiet: bool = True,
    ) -> None:
        """/digest add: refused, naming the permission, if the bot can't post embeds there."""
        assert interaction.guild_id is not None  # guild_only

        async def work() -> list[Card]:
            try:
                sub = await self.service.add(
                    guild_id=interaction.guild_id,
                    channel_id=channel.id,
                    created_by=interaction.user.id,
                    query=query,
                    schedule=schedule,
                    time=time,
                    timezone=timezone,
                    weekday=weekday,
                    outlet=outlet,
                    topic=topic,
                    max_items=max_items,
                    quiet=quiet,
                )
            except DeliveryError as error:
                raise FriendlyError(
                    f"I can't post digests in {channel.mention}: {error.reason}. "
                    "Fix that in the channel's permissions and try again."
                ) from None
            return note(f"Digest #{sub.id} added", "", sub, self.service.now)

        await reply(interaction, work())

    @digest.command(name="list", description="This server's digests, their status and problems")
    async def list_(self, interaction: discord.Interaction) -> None:
        """/digest list: failing and paused digests say why."""
        assert interaction.guild_id is not None
        await reply(interaction, self.service.list_cards(interaction.guild_id))

    async def _change(
        self,
        interaction: discord.Interaction,
        change: Callable[[int, int], Awaitable[Subscription]],
        digest: int,
        done: str,
    ) -> None:
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id

        async def work() -> list[Card]:
            sub = await change(guild_id, digest)
            return note(f"Digest #{sub.id} {done}", "", sub, self.service.now)

        await reply(interaction, work())

    @digest.command(name="remove", description="Delete a digest")
    @app_commands.describe(digest="The digest (its number in /digest list)")
    @app_commands.autocomplete(digest=digest_choices)
    async def remove(self, interaction: discord.Interaction, digest: SubscriptionId) -> None:
        """/digest remove."""
        await self._change(interaction, self.service.remove, digest, "removed")

    @digest.command(name="pause", description="Stop posting a digest for now")
    @app_commands.describe(digest="The digest (its number in /digest list)")
    @app_commands.autocomplete(digest=digest_choices)
    async def pause(self, interaction: discord.Interaction, digest: SubscriptionId) -> None:
        """/digest pause."""
        await self._change(interaction, self.service.pause, digest, "paused")

    @digest.command(name="resume", description="Post a paused or failing digest again")
    @app_commands.describe(digest="The digest (its number in /digest list)")
    @app_commands.autocomplete(digest=digest_choices)
    async def resume(self, interaction: discord.Interaction, digest: SubscriptionId) -> None:
        """/digest resume: clears its failures; the next slot holds what is new since the last."""
        await self._change(interaction, self.service.resume, digest, "resumed")

    @digest.command(name="preview", description="What the next digest would hold now (only you)")
    @app_commands.describe(digest="The digest (its number in /digest list)")
    @app_commands.autocomplete(digest=digest_choices)
    async def preview(self, interaction: discord.Interaction, digest: SubscriptionId) -> None:
        """/digest preview: nothing is posted or recorded."""
        assert interaction.guild_id is not None
        await reply(interaction, self.service.preview(interaction.guild_id, digest))

    @digest.command(name="send-now", description="Post a digest now, whatever its schedule")
    @app_commands.describe(digest="The digest (its number in /digest list)")
    @app_commands.autocomplete(digest=digest_choices)
    async def send_now(self, interaction: discord.Interaction, digest: SubscriptionId) -> None:
        """/digest send-now."""
        guild_id = interaction.guild_id
        assert guild_id is not None

        async def work() -> list[Card]:
            sub, outcome = await self.service.send_now(guild_id, digest)
            jump = None
            if outcome.message_id is not None:
                jump = (
                    f"https://discord.com/channels/{guild_id}/{sub.target.id}/{outcome.message_id}"
                )
            return outcome_card(sub, outcome, jump)

        await reply(interaction, work())


# ------------------------------------------------------------------------------ /follow
class Follows(ScheduleChoices, commands.Cog):
    """Digests by DM, for anyone: /follow, /unfollow, /follows."""

    def __init__(
        self, service: DigestService, answers: AnswerService, cooldown: UserCooldown
    ) -> None:
        self.service = service
        self.answers = answers
        self.cooldown = cooldown

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """The per-user cooldown the lookups use, for /follow (it sends a DM)."""
        return spend(self.cooldown, interaction)

    async def follow_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """The user's follows."""
        return subscription_choices(await self.service.follows(interaction.user.id), current)

    @app_commands.command(name="follow", description="Get new coverage of a query by DM")
    @app_commands.describe(
        query="What the coverage is about",
        schedule=f"{SCHEDULE}; default daily",
        time=TIME,
        timezone=TIMEZONE,
        weekday=WEEKDAY,
        outlet="Only this outlet",
        topic="Only this topic",
    )
    @app_commands.autocomplete(
        query=ScheduleChoices.query_choices,
        timezone=ScheduleChoices.timezone_choices,
        outlet=ScheduleChoices.outlet_choices,
        topic=ScheduleChoices.topic_choices,
    )
    @everywhere
    async def follow(
        self,
        interaction: discord.Interaction,
        query: Query,
        schedule: Kind = "daily",
        time: TimeOfDay | None = None,
        timezone: Zone | None = None,
        weekday: Weekday | None = None,
        outlet: Name | None = None,
        topic: Name | None = None,
    ) -> None:
        """/follow: closed DMs don't refuse it, they are reported now and fail it later."""

        async def work() -> list[Card]:
            result = await self.service.follow(
                user_id=interaction.user.id,
                query=query,
                schedule=schedule,
                time=time,
                timezone=timezone,
                weekday=weekday,
                outlet=outlet,
                topic=topic,
                guild_id=interaction.guild_id,
            )
            sub, now = result.subscription, self.service.now
            if result.dms_open:
                return note(f"Following #{sub.id}", "New coverage comes to your DMs.", sub, now)
            return note(
                f"Following #{sub.id} — but your DMs are closed to me",
                "I couldn't send you a DM. Allow direct messages from this app (the server's "
                "Privacy Settings, or User Settings → Privacy); until then each digest fails, "
                f"and after {MAX_CONSECUTIVE_FAILURES} failures in a row the follow pauses.",
                sub,
                now,
            )

        await reply(interaction, work())

    @app_commands.command(name="unfollow", description="Stop a follow")
    @app_commands.describe(follow="The follow (its number in /follows)")
    @app_commands.autocomplete(follow=follow_choices)
    @everywhere
    async def unfollow(self, interaction: discord.Interaction, follow: SubscriptionId) -> None:
        """/unfollow."""

        async def work() -> list[Card]:
            sub = await self.service.unfollow(interaction.user.id, follow)
            return note(f"Unfollowed #{sub.id}", "", sub)

        await reply(interaction, work())

    @app_commands.command(name="follows", description="What you follow, and its status")
    @everywhere
    async def follows(self, interaction: discord.Interaction) -> None:
        """/follows: failing and paused follows say why."""
        await reply(interaction, self.service.follows_cards(interaction.user.id))


async def setup(bot: CoverageBot) -> None:
    """Extension entry point: the app wires digests around this module's sender."""
    service = await bot.open_digests(DiscordSender(bot))
    batcher = bot.digest_batcher
    assert batcher is not None
    interval = bot.digest_timing.interval
    await bot.add_cog(Digests(bot, service, batcher, bot.answers, bot.cooldown, interval=interval))
    await bot.add_cog(Follows(service, bot.answers, bot.cooldown))
