"""The digest commands as one async API, so the Discord cog only parses options and replies.

Each method maps to one command (``/digest add`` → ``add`` …) and raises ``DigestError``
subclasses whose text is the user-facing answer. Scope is enforced here: a server sees only its
own channel digests, a user only their own follows; an id from elsewhere is "not here".
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.digests.cards import DIGEST_COLOUR, digest_cards, subscription_cards
from bot.digests.delivery import (
    Delivery,
    DeliveryError,
    DMsClosed,
    Outcome,
)
from bot.digests.models import (
    DEFAULT_MAX_ITEMS,
    MAX_ITEMS_LIMIT,
    DigestError,
    InvalidSubscription,
    LimitReached,
    NewSubscription,
    Subscription,
    Target,
    UnknownSubscription,
)
from bot.digests.schedule import Schedule, ScheduleError, timezone_choices
from bot.digests.store import DigestStore
from bot.render import Card, escape, make_card

if TYPE_CHECKING:
    from bot.engine.engine import Engine

MAX_PER_GUILD = 25
MAX_FOLLOWS_PER_USER = 10
QUERY_MAX = 200
MANAGE_SERVER = "Manage Server"


class NotAllowed(DigestError):
    """The member lacks Manage Server (checked again when run, not only hidden by default)."""


@dataclass(frozen=True, slots=True)
class FollowResult:
    """A new follow, and whether the welcome DM got through (closed DMs: say so now)."""

    subscription: Subscription
    dms_open: bool


class DigestService:
    """``/digest``, ``/follow``, ``/unfollow`` and ``/follows`` over the store and delivery."""

    def __init__(
        self,
        store: DigestStore,
        delivery: Delivery,
        *,
        max_per_guild: int = MAX_PER_GUILD,
        max_follows: int = MAX_FOLLOWS_PER_USER,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.max_per_guild = max_per_guild
        self.max_follows = max_follows

    @property
    def now(self) -> datetime:
        """The delivery's clock."""
        return self.delivery.clock()

    @staticmethod
    def require_manager(has_manage_guild: bool) -> None:
        """Refuse members without Manage Server (the cog passes ``permissions.manage_guild``)."""
        if not has_manage_guild:
            raise NotAllowed(f"Managing digests needs the {MANAGE_SERVER} permission.")

    @staticmethod
    def timezones(current: str) -> list[str]:
        """Autocomplete choices for the timezone option (≤ 25, IANA names)."""
        return timezone_choices(current)

    # ------------------------------------------------------------------------ /digest
    async def add(
        self,
        *,
        guild_id: int,
        channel_id: int,
        created_by: int | None,
        query: str,
        schedule: str = "daily",
        time: str | None = None,
        timezone: str | None = None,
        weekday: str | int | None = None,
        outlet: str | None = None,
        topic: str | None = None,
        max_items: int | None = None,
        quiet: bool = True,
    ) -> Subscription:
        """``/digest add``: validate, check the bot can post embeds there, then store."""
        new = await self._validate(
            Target.channel(channel_id),
            query,
            schedule,
            time,
            timezone,
            weekday,
            outlet,
            topic,
            max_items,
            quiet,
            guild_id=guild_id,
            created_by=created_by,
        )
        if len(await self.store.for_guild(guild_id)) >= self.max_per_guild:
            raise LimitReached(f"This server already has {self.max_per_guild} digests.")
        await self.delivery.sender.check(new.target)  # MissingPermission names the permission
        return await self.store.add(new, await self.delivery.new_from())

    async def list(self, guild_id: int) -> list[Subscription]:
        """``/digest list``: the server's digests with status and failing reasons."""
        return await self.store.for_guild(guild_id)

    async def list_cards(self, guild_id: int) -> list[Card]:
        """``/digest list`` as cards."""
        return subscription_cards(
            await self.list(guild_id),
            self.now,
            title="Digests",
            empty="No digests yet: add one with /digest add.",
        )

    async def get(self, guild_id: int, subscription_id: int) -> Subscription:
        """One of the server's digests, or ``UnknownSubscription``."""
        sub = await self.store.get(subscription_id)
        if sub is None or sub.is_follow or sub.guild_id != guild_id:
            raise UnknownSubscription(subscription_id)
        return sub

    async def remove(self, guild_id: int, subscription_id: int) -> Subscription:
        """``/digest remove``."""
        sub = await self.get(guild_id, subscription_id)
        await self.store.remove(sub.id)
        return sub

    async def pause(self, guild_id: int, subscription_id: int) -> Subscription:
        """``/digest pause``."""
        sub = await self.get(guild_id, subscription_id)
        paused = await self.store.pause(sub.id)
        assert paused is not None
        return paused

    async def resume(self, guild_id: int, subscription_id: int) -> Subscription:
        """``/digest resume``: clears failures.

        The next slot holds what is new since the last delivery (at most a month).
        """
        sub = await self.get(guild_id, subscription_id)
        resumed = await self.store.resume(sub.id, await self.delivery.new_from())
        assert resumed is not None
        return resumed

    async def preview(self, guild_id: int, subscription_id: int) -> list[Card]:
        """``/digest preview``: what the next digest would hold now (to show ephemerally)."""
        sub = await self.get(guild_id, subscription_id)
        return await self.preview_cards(sub)

    async def preview_cards(self, sub: Subscription) -> list[Card]:
        """The next digest of any subscription, marked as a preview."""
        digest = await self.delivery.preview(sub)
        title = f"Preview: {escape(sub.query[:200])}"
        return digest_cards(digest, title=title, schedule=sub.schedule.describe())

    async def send_now(self, guild_id: int, subscription_id: int) -> tuple[Subscription, Outcome]:
        """``/digest send-now``: deliver now; "nothing-new" posts only when quiet is off.

        Returns the subscription with the outcome: the reply names its channel.
        """
        sub = await self.get(guild_id, subscription_id)
        return sub, await self.delivery.send_now(sub)

    # ------------------------------------------------------------------------ gone scopes
    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        """The bot was removed from a server: its digests go, with their outbox and log rows.

        Not for an outage (Discord's "unavailable" server): that one comes back. Follows made
        there stay, as they go to the users' DMs. Returns how many digests were deleted.
        """
        async with self.delivery.between_runs():
            return await self.store.remove_guild(guild_id, channel_ids)

    async def guilds_left(self, member_of: Collection[int]) -> list[int]:
        """Servers subscriptions name that the bot is no longer in (``member_of`` it is).

        Those removed it while it was down: no GUILD_DELETE reached it, so ``forget_guild``
        is for the caller to run at start.
        """
        return sorted((await self.store.guild_ids()) - set(member_of))

    async def forget_channel(self, channel_id: int) -> int:
        """A channel was deleted: its digests go, with their outbox and log rows."""
        async with self.delivery.between_runs():
            return await self.store.remove_channel(channel_id)

    # ------------------------------------------------------------------------ /follow
    async def follow(
        self,
        *,
        user_id: int,
        query: str,
        schedule: str = "daily",
        time: str | None = None,
        timezone: str | None = None,
        weekday: str | int | None = None,
        outlet: str | None = None,
        topic: str | None = None,
        max_items: int | None = None,
        guild_id: int | None = None,
    ) -> FollowResult:
        """``/follow``: store the follow, then DM a confirmation to learn whether DMs are open.

        Closed DMs don't refuse the follow (the user may open them); they are reported now,
        and each later delivery that fails counts toward pausing it.
        """
        new = await self._validate(
            Target.dm(user_id),
            query,
            schedule,
            time,
            timezone,
            weekday,
            outlet,
            topic,
            max_items,
            True,
            guild_id=guild_id,
            created_by=user_id,
        )
        if len(await self.store.for_user(user_id)) >= self.max_follows:
            raise LimitReached(f"You already follow {self.max_follows} queries; /unfollow one.")
        sub = await self.store.add(new, await self.delivery.new_from())
        card = make_card(
            f"Following: {escape(sub.query)}",
            f"New coverage comes here, {sub.schedule.describe()}. /unfollow {sub.id} stops it.",
            colour=DIGEST_COLOUR,
        )
        token = hashlib.blake2b(f"{sub.id}|{sub.created_at}".encode(), digest_size=4).hexdigest()
        try:
            await self.delivery.sender.send(new.target, [card], f"f{sub.id}-{token}")
        except DMsClosed:
            return FollowResult(sub, dms_open=False)
        except DeliveryError:
            pass  # anything else is for the first delivery to find out and report
        return FollowResult(sub, dms_open=True)

    async def unfollow(self, user_id: int, subscription_id: int) -> Subscription:
        """``/unfollow``: the follow goes with its outbox and delivery log for the user's DMs."""
        sub = await self.get_follow(user_id, subscription_id)
        async with self.delivery.between_runs():
            await self.store.remove_follow(sub.id)
        return sub

    async def follows(self, user_id: int) -> list[Subscription]:
        """``/follows``."""
        return await self.store.for_user(user_id)

    async def follows_cards(self, user_id: int) -> list[Card]:
        """``/follows`` as cards."""
        return subscription_cards(
            await self.follows(user_id),
            self.now,
            title="Your follows",
            empty="You follow nothing yet: try /follow.",
        )

    async def get_follow(self, user_id: int, subscription_id: int) -> Subscription:
        """One of the user's follows, or ``UnknownSubscription``."""
        sub = await self.store.get(subscription_id)
        if sub is None or sub.user_id != user_id:
            raise UnknownSubscription(subscription_id)
        return sub

    # ------------------------------------------------------------------------ validation
    async def _validate(
        self,
        target: Target,
        query: str,
        schedule: str,
        time: str | None,
        timezone: str | None,
        weekday: str | int | None,
        outlet: str | None,
        topic: str | None,
        max_items: int | None,
        quiet: bool,
        *,
        guild_id: int | None,
        created_by: int | None,
    ) -> NewSubscription:
        text = " ".join(query.split())
        if not text:
            raise InvalidSubscription("The query is empty.")
        if len(text) > QUERY_MAX:
            raise InvalidSubscription(f"Keep the query under {QUERY_MAX} characters.")
        try:
            parsed = Schedule.parse(schedule, time, timezone, weekday)
        except ScheduleError as error:
            raise InvalidSubscription(str(error)[:1].upper() + str(error)[1:] + ".") from None
        items = DEFAULT_MAX_ITEMS if max_items is None else max_items
        if not 1 <= items <= MAX_ITEMS_LIMIT:
            raise InvalidSubscription(f"max_items must be between 1 and {MAX_ITEMS_LIMIT}.")
        # Stored as the corpus spells them, so the list shows "The Verge" for "verge". Off the
        # event loop: a fuzzy match over every outlet of a large corpus takes milliseconds.
        if outlet or topic:
            engine = self.delivery.engine
            outlet, topic = await self.delivery.offload(_spelled, engine, outlet, topic)
        return NewSubscription(
            target,
            text,
            parsed,
            guild_id=guild_id,
            created_by=created_by,
            outlet=outlet or None,
            topic=topic or None,
            max_items=items,
            quiet=quiet,
        )


def _spelled(
    engine: Engine, outlet: str | None, topic: str | None
) -> tuple[str | None, str | None]:
    """The outlet and topic as the corpus spells them, or as given when it has no such name."""
    return (
        (engine.resolve_outlet(outlet) or outlet.strip()) if outlet else None,
        (engine.resolve_topic(topic) or topic.strip()) if topic else None,
    )
