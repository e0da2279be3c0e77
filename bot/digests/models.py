"""What digests are made of: subscriptions, their targets, and the digests computed for them.

Plain frozen dataclasses with no Discord types: the cog turns ``Target`` into a channel or a DM
and ``Card`` into an embed; everything else (schedules, selection, the outbox) works on these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from bot.corpus.model import Article
from bot.digests.schedule import Schedule

TargetKind = Literal["channel", "dm"]

# After this many failed deliveries in a row a subscription pauses itself, so a deleted channel
# costs five attempts, not one a day forever.
MAX_CONSECUTIVE_FAILURES = 5
MAX_ITEMS_LIMIT = 25
DEFAULT_MAX_ITEMS = 10


class DigestError(Exception):
    """A request the digests can't satisfy; ``str(error)`` is safe to show the user."""


class InvalidSubscription(DigestError):
    """A bad option: an unknown time zone, a time that isn't HH:MM, an empty query..."""


class UnknownSubscription(DigestError):
    """No subscription with that id here (another server's ids don't exist for this one)."""

    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"There is no digest #{subscription_id} here.")
        self.subscription_id = subscription_id


class LimitReached(DigestError):
    """Too many subscriptions for one server or follows for one user."""


class StillGrouping(DigestError):
    """Stories are being grouped (at a start, or to follow new coverage).

    Digests group their items by story, so they wait for it.
    """

    def __init__(self) -> None:
        super().__init__(
            "The bot is still grouping the coverage into stories; digests can be previewed "
            "and sent once it has (a few minutes at most)."
        )


@dataclass(frozen=True, slots=True)
class Target:
    """Where a digest goes: a channel (``/digest``) or a user's DMs (``/follow``)."""

    kind: TargetKind
    id: int

    @classmethod
    def channel(cls, channel_id: int) -> Target:
        """A server channel."""
        return cls("channel", channel_id)

    @classmethod
    def dm(cls, user_id: int) -> Target:
        """A user's DMs (the id is the user's; the cog opens the DM channel)."""
        return cls("dm", user_id)

    @property
    def key(self) -> str:
        """The stored form, ``channel:123`` or ``dm:456``; the delivery log is per key."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def from_key(cls, key: str) -> Target:
        """The inverse of ``key``."""
        kind, _, raw = key.partition(":")
        if kind not in ("channel", "dm"):
            raise ValueError(f"not a target key: {key!r}")
        return cls(kind, int(raw))  # type: ignore[arg-type]

    @property
    def mention(self) -> str:
        """How a list shows the target: a channel mention, or "your DMs"."""
        return f"<#{self.id}>" if self.kind == "channel" else f"DMs of <@{self.id}>"


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """What ``/digest add`` or ``/follow`` asked for, validated, before it has an id."""

    target: Target
    query: str
    schedule: Schedule
    guild_id: int | None = None
    created_by: int | None = None
    outlet: str | None = None
    topic: str | None = None
    max_items: int = DEFAULT_MAX_ITEMS
    quiet: bool = True


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stored digest subscription (channel) or follow (DM).

    ``last_run_at`` is the last scheduled slot handled (posted, quiet or failed): what makes a
    slot due. ``last_delivered_at`` is the cut-off of the last digest actually delivered: what
    makes coverage "new". They differ on purpose: a failed send must not skip its articles.
    """

    id: int
    target: Target
    query: str
    schedule: Schedule
    created_at: datetime
    guild_id: int | None = None
    created_by: int | None = None
    outlet: str | None = None
    topic: str | None = None
    max_items: int = DEFAULT_MAX_ITEMS
    quiet: bool = True
    paused: bool = False
    paused_reason: str | None = None
    failing_reason: str | None = None
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    last_delivered_at: datetime | None = None

    @property
    def channel_id(self) -> int | None:
        """The channel of a channel digest."""
        return self.target.id if self.target.kind == "channel" else None

    @property
    def user_id(self) -> int | None:
        """The follower of a DM follow."""
        return self.target.id if self.target.kind == "dm" else None

    @property
    def is_follow(self) -> bool:
        """True for ``/follow`` subscriptions, delivered by DM."""
        return self.target.kind == "dm"

    @property
    def since(self) -> datetime:
        """Coverage after this is new to the subscription."""
        return self.last_delivered_at or self.created_at

    @property
    def status(self) -> str:
        """One word for lists: active, failing or paused."""
        if self.paused:
            return "paused"
        return "failing" if self.failing_reason else "active"


# ------------------------------------------------------------------------------------ digests
@dataclass(frozen=True, slots=True)
class DigestItem:
    """One matched article and its calibrated score."""

    article: Article
    score: float


@dataclass(frozen=True, slots=True)
class StoryGroup:
    """New articles of one story.

    ``new_story`` when every article of the story is new to the subscription; otherwise the
    story was already known and gained these articles ("now covered by 4 outlets").
    ``outlets`` and ``first`` describe the whole story as the engine clusters it now.
    """

    story_id: str
    items: tuple[DigestItem, ...]
    outlets: tuple[str, ...]
    first: Article | None
    new_story: bool
    story_size: int

    @property
    def score(self) -> float:
        """The best item's score: how groups are ordered."""
        return max(i.score for i in self.items)

    @property
    def headline(self) -> Article:
        """The article a group is titled by: the story's first report, else its best item."""
        if self.first is not None:
            return self.first
        return max(self.items, key=lambda i: i.score).article

    @property
    def articles(self) -> tuple[Article, ...]:
        """The group's new articles."""
        return tuple(i.article for i in self.items)

    @property
    def gained_outlets(self) -> tuple[str, ...]:
        """Outlets the new articles bring (all of them for a new story)."""
        return tuple(dict.fromkeys(a.outlet.name for a in self.articles if a.outlet.name))


@dataclass(frozen=True, slots=True)
class Digest:
    """What one delivery holds for one subscription.

    ``cutoff`` becomes the subscription's ``last_delivered_at`` once delivered; ``more`` counts
    matched articles left out by ``max_items`` (or Discord's limits), reachable by /search;
    ``more_at_least`` says the count stopped early (the cards then say "N+ more").
    """

    subscription_id: int
    query: str
    since: datetime
    cutoff: datetime
    groups: tuple[StoryGroup, ...] = ()
    more: int = 0
    outlet: str | None = None
    topic: str | None = None
    more_at_least: bool = False

    @property
    def empty(self) -> bool:
        """Nothing new: a quiet subscription posts nothing."""
        return not self.groups

    @property
    def article_ids(self) -> tuple[str, ...]:
        """The ids the delivery log records once this digest is delivered."""
        return tuple(a.id for g in self.groups for a in g.articles)

    @property
    def article_count(self) -> int:
        """How many articles the digest shows."""
        return sum(len(g.items) for g in self.groups)

    def without(self, article_ids: set[str] | frozenset[str]) -> Digest:
        """The digest minus articles another subscription already gave the same target."""
        if not article_ids:
            return self
        groups = []
        for group in self.groups:
            items = tuple(i for i in group.items if i.article.id not in article_ids)
            if items:
                groups.append(replace(group, items=items))
        return replace(self, groups=tuple(groups))
