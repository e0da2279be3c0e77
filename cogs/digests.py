"""/digest for a server's channels (Manage Server); /follow, /unfollow, /follows for DMs.

Thin on purpose: options in, ``bot.digests`` (``DigestService``) does the work, cards out.
Schedules, selection, the outbox and the cards live in ``bot/digests``; posting over Discord is
``cogs._sender.DiscordSender``. What is here: the commands, the two background tasks (the
schedule check every minute and the instant-alert batcher fed by corpus changes), and the
listeners that forget a deleted channel's or a left server's digests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.app import FriendlyError, UserCooldown
from bot.digests.cards import note, outcome_card
from bot.digests.delivery import (
    DeliveryError,
    InstantBatcher,
    Outcome,
)
from bot.digests.models import (
    MAX_CONSECUTIVE_FAILURES,
    MAX_ITEMS_LIMIT,
    DigestError,
    StillGrouping,
    Subscription,
)
from bot.discord_embeds import message_embeds
from bot.render import Card, cut
from cogs._choices import CHOICES_MAX, NAME_MAX, LookupChoices
from cogs._replies import deferring
from cogs._sender import DiscordSender
from cogs.lookups import Name, Query, everywhere

if TYPE_CHECKING:
    from bot.answer_service import AnswerService
    from bot.app import CoverageBot
    from bot.digests.service import DigestService

log = logging.getLogger(__name__)

LIMITED = frozenset({"preview", "send-now", "follow"})  # what spends the per-user cooldown
# Digests group their items by story: these wait until stories are grouped after a start.
STORY_BOUND = frozenset({"preview", "send-now"})

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


# ------------------------------------------------------------------------------ replies
def spend(cooldown: UserCooldown, interaction: discord.Interaction) -> bool:
    """The lookups' per-user cooldown, for commands that compute or post.

    Managing digests is a handful of quick writes: a manager setting several up shouldn't be
    told to slow down.
    """
    command = interaction.command
    if command is not None and command.name in LIMITED:
        cooldown.spend(interaction.user.id)
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
        await self._forget_guilds_left()
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

    # ------------------------------------------------------------------ gone servers/channels
    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server (kicked, or the server deleted): forget its digests.

        discord.py calls this only for a real removal; a GUILD_DELETE marked unavailable (an
        outage) is ``on_guild_unavailable``, and the server's digests wait for it to return.
        """
        channels = [c.id for c in guild.channels]
        await self._forget("server", guild.id, self.service.forget_guild(guild.id, channels))

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel was deleted: forget its digests (they can only target text channels)."""
        await self._forget("channel", channel.id, self.service.forget_channel(channel.id))

    async def _forget_guilds_left(self) -> None:
        """Servers that removed the bot while it was down: READY lists every server it is in."""
        try:
            gone = await self.service.guilds_left([g.id for g in self.bot.guilds])
        except Exception:  # the digests must still start
            log.exception("could not look for servers that removed the bot while it was down")
            return
        for guild_id in gone:
            await self._forget("server", guild_id, self.service.forget_guild(guild_id))

    async def _forget(self, scope: str, scope_id: int, work: Awaitable[int]) -> None:
        try:
            removed = await work
        except Exception:  # the next event must still be handled
            log.exception("could not delete the digests of deleted %s %d", scope, scope_id)
            return
        if removed:
            log.info("%s %d is gone: deleted its %d digest(s)", scope, scope_id, removed)
        # Listeners (and tests) learn that the rows are gone, not merely that Discord said so.
        self.bot.dispatch("digests_forgotten", scope, scope_id, removed)

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
            raise FriendlyError(str(StillGrouping()))
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
