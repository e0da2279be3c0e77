"""Shared pieces for the digest tests: a corpus folder, a Discord-like fake sender, a clock.

No tests here; the ``test_digests_*`` modules import from it. The fake sender behaves like
Discord where it matters: one message per send, ``enforce_nonce`` dedup per channel (a repeat
returns the first message's id), typed failures for gone channels, missing permissions and
closed DMs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.corpus.loader import CorpusLoader
from bot.corpus.merge import ChangeSet
from bot.digests.delivery import (
    Delivery,
    DMsClosed,
    MissingPermission,
    TargetGone,
    TransientError,
)
from bot.digests.models import NewSubscription, Subscription, Target
from bot.digests.schedule import Schedule
from bot.digests.store import DigestStore
from bot.engine.engine import Engine
from bot.render import Card

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class SimulatedCrash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing in the bot catches it."""


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@dataclass
class Post:
    id: int
    target: Target
    cards: list[Card]
    nonce: str
    at: datetime

    @property
    def text(self) -> str:
        return "\n".join(
            "\n".join(
                [c.title, c.description, c.footer, *(f"{f.name}\n{f.value}" for f in c.fields)]
            )
            for c in self.cards
        )


@dataclass
class FakeSender:
    """Records posts; dedups nonces per target like Discord's ``enforce_nonce``."""

    clock: Clock | None = None
    posts: list[Post] = field(default_factory=list)
    attempts: int = 0
    gone: set[Target] = field(default_factory=set)
    closed_dms: set[int] = field(default_factory=set)
    missing: dict[Target, str] = field(default_factory=dict)
    transient: int = 0  # the next N sends fail with a 5xx
    crash_after_post: bool = False
    crash_before_post: bool = False
    nonces: dict[tuple[Target, str], int] = field(default_factory=dict)
    next_id: int = 1000
    posted: asyncio.Event = field(default_factory=asyncio.Event)

    def _fail(self, target: Target) -> None:
        if target in self.gone:
            raise TargetGone()
        if target in self.missing:
            raise MissingPermission(self.missing[target])
        if target.kind == "dm" and target.id in self.closed_dms:
            raise DMsClosed()

    async def send(self, target: Target, cards: Sequence[Card], nonce: str) -> int:
        self.attempts += 1
        assert len(nonce) <= 25
        self._fail(target)
        if self.crash_before_post:
            raise SimulatedCrash()
        if self.transient:
            self.transient -= 1
            raise TransientError("Discord answered 503")
        known = self.nonces.get((target, nonce))
        if known is not None:
            return known
        self.next_id += 1
        at = self.clock() if self.clock else datetime.now(UTC)
        self.posts.append(Post(self.next_id, target, list(cards), nonce, at))
        self.nonces[(target, nonce)] = self.next_id
        self.posted.set()
        if self.crash_after_post:
            raise SimulatedCrash()
        return self.next_id

    async def check(self, target: Target) -> None:
        self._fail(target)

    async def find_sent(self, target: Target, marker: str, after: datetime) -> int | None:
        for post in self.posts:
            if post.target == target and post.at >= after and marker in post.cards[-1].footer:
                return post.id
        return None

    def expire_nonces(self) -> None:
        """Discord forgets nonces after a few minutes."""
        self.nonces.clear()

    def to(self, target: Target) -> list[Post]:
        return [p for p in self.posts if p.target == target]


class CorpusDir:
    """A corpus folder of JSON articles, its loader and an engine kept in step."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "corpus"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db = root / "coverage.db"
        self.loader = CorpusLoader([self.folder], self.db)
        self.count = 0
        self.engine: Engine | None = None

    def write(
        self,
        title: str,
        outlet: str,
        body: str,
        published: str = "2020-08-14T10:00:00Z",
        topics: Sequence[str] = (),
        name: str | None = None,
    ) -> Path:
        self.count += 1
        slug = name or f"a{self.count:03d}"
        domain = outlet.lower().replace(" ", "") + ".com"
        path = self.folder / f"{slug}.json"
        path.write_text(
            json.dumps(
                {
                    "title": title,
                    "url": f"https://{domain}/{slug}",
                    "outlet": outlet,
                    "published": published,
                    "body": body,
                    "topics": list(topics),
                }
            ),
            encoding="utf-8",
        )
        return path

    def load(self) -> Engine:
        snapshot, _, _ = self.loader.load()
        self.engine = Engine(snapshot)
        return self.engine

    def refresh(self, paths: Sequence[Path]) -> ChangeSet:
        """Pick up new files and apply them to the engine, as the app's follower does."""
        assert self.engine is not None
        snapshot, changes, _ = self.loader.refresh([str(p) for p in paths])
        self.engine.apply(snapshot, changes)
        return changes

    def close(self) -> None:
        self.loader.close()


def seed_story(corpus: CorpusDir) -> None:
    """A Clearview/ICE story from The Verge and Business Insider, and unrelated coverage.

    Two reports, not one: the engine's incremental story update only finds story-mates by
    words some other article shared when the index was built.
    """
    corpus.write(
        "Clearview AI signs contract with ICE",
        "The Verge",
        "Immigration and Customs Enforcement signed a contract with facial recognition company "
        "Clearview AI, paying $224,000 for Clearview licenses, records show.",
        "2020-08-14T10:00:00Z",
        ["Privacy"],
    )
    corpus.write(
        "ICE signs a contract with Clearview AI",
        "Business Insider",
        "Immigration and Customs Enforcement signed a contract with facial recognition company "
        "Clearview AI, paying $224,000 for Clearview licenses.",
        "2020-08-14T11:00:00Z",
        ["Privacy"],
    )
    corpus.write(
        "Portland passes the strictest facial recognition ban in the country",
        "Wired",
        "Portland city council banned facial recognition by police and by private businesses.",
        "2020-09-09T18:00:00Z",
        ["Privacy"],
    )
    corpus.write(
        "Banana bread recipes took over lockdown baking",
        "Food Weekly",
        "Home bakers turned to banana bread during lockdown; flour sold out in many stores.",
        "2020-05-01T08:00:00Z",
        ["Food"],
    )


def more_clearview(corpus: CorpusDir, outlet: str, n: int = 0) -> Path:
    """Another outlet's report of the Clearview/ICE story."""
    titles = (
        "Clearview AI signs a contract with ICE",
        "ICE signs contract with Clearview AI",
        "Clearview AI and ICE sign a contract",
        "Clearview AI contract signed by ICE",
    )
    return corpus.write(
        titles[n % len(titles)],
        outlet,
        "Immigration and Customs Enforcement signed a contract with facial recognition company "
        "Clearview AI, paying $224,000 for Clearview licenses, contracting records show.",
        f"2020-08-14T{12 + n % 10:02d}:00:00Z",
        ["Privacy"],
    )


async def open_store(corpus: CorpusDir) -> DigestStore:
    return await DigestStore.open(corpus.db)


def make_delivery(
    store: DigestStore, engine: Engine, sender: FakeSender, clock: Clock | None = None, **kw: object
) -> Delivery:
    if clock is not None:
        kw["clock"] = clock
    return Delivery(store, engine, sender, **kw)  # type: ignore[arg-type]


async def add_sub(
    store: DigestStore,
    now: datetime,
    query: str = "clearview ice contract",
    *,
    target: Target | None = None,
    schedule: Schedule | None = None,
    quiet: bool = True,
    max_items: int = 10,
    outlet: str | None = None,
    guild_id: int | None = 1,
) -> Subscription:
    return await store.add(
        NewSubscription(
            target or Target.channel(100),
            query,
            schedule or Schedule("daily"),
            guild_id=guild_id,
            created_by=7,
            outlet=outlet,
            max_items=max_items,
            quiet=quiet,
        ),
        now,
    )
