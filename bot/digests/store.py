"""Digest state in the shared SQLite database, in one worker thread so the loop never blocks.

The tables come from migration 3 in ``bot.store``. Why a thread of our own rather than
aiosqlite: aiosqlite runs one statement per hop, so a ``BEGIN IMMEDIATE`` ... ``COMMIT`` spans
several event-loop turns and holds SQLite's write lock meanwhile; the corpus loader, writing the
same file from its thread, then waits on us (measured: a loader refresh on a busy loop hit
"database is locked"). Here each transaction is one call in the store's thread, start to end.

Exactly-once hinges on three writes here: ``enqueue`` (the digest and its nonce are stored
before anything is sent), ``record_delivery`` (outbox row sent + delivery log + the
subscription's cut-off, together or not at all), and ``pending`` (what start-up reconciles).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot import store as database
from bot.digests.models import (
    MAX_CONSECUTIVE_FAILURES,
    NewSubscription,
    Subscription,
    Target,
)
from bot.digests.schedule import Schedule

T = TypeVar("T")
_CHUNK = 500  # ids per IN (...) list: well under SQLite's 32,766 variables
_SUBSCRIPTION_COLUMNS = (
    "id, target, guild_id, created_by, query, outlet, topic, schedule, at, timezone, weekday, "
    "max_items, quiet, paused, paused_reason, failing_reason, consecutive_failures, "
    "created_at, last_run_at, last_delivered_at"
)
_OUTBOX_COLUMNS = (
    "id, subscription_id, target, nonce, marker, payload, article_ids, cutoff, state, attempts, "
    "message_id, error, created_at, finished_at"
)
# Sent outbox rows are kept a month for inspection; the delivery log half a year (an article
# is only "new" for MAX_LOOKBACK, so older log rows no longer stop anything).
OUTBOX_RETENTION = timedelta(days=30)
DELIVERED_RETENTION = timedelta(days=180)


def to_epoch(moment: datetime) -> float:
    """Aware datetime → UTC epoch seconds, the stored form."""
    return moment.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    """Stored epoch seconds → aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def digest_marker(subscription_id: int, cutoff: datetime, article_ids: Sequence[str]) -> str:
    """Eight hex digits naming one digest; shown in its footer so a lost send can be found."""
    key = f"{subscription_id}|{cutoff.isoformat()}|{','.join(article_ids)}"
    return hashlib.blake2b(key.encode(), digest_size=4).hexdigest()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A digest written before sending; ``state`` is pending, sent or failed.

    ``nonce`` is ``d{id}-{marker}`` (≤ 25 characters, Discord's limit): the id makes it unique
    in this database and the marker keeps it unique if the database is ever recreated.
    """

    id: int
    subscription_id: int
    target: Target
    nonce: str
    marker: str
    payload: str
    article_ids: tuple[str, ...]
    cutoff: datetime
    state: str
    attempts: int
    created_at: datetime
    message_id: int | None = None
    error: str | None = None
    finished_at: datetime | None = None


class DigestStore:
    """Subscriptions, outbox, delivery log and first-seen times, over one SQLite connection.

    Every method runs as one call in the store's own thread; multi-statement changes are one
    ``BEGIN IMMEDIATE`` transaction inside that call, so SQLite's write lock is never held
    while waiting on the event loop (the corpus loader writes to the same file).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-store")
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path) -> DigestStore:
        """Open the shared database (WAL, migrations applied) without blocking the loop."""
        conn = await asyncio.to_thread(database.connect, path, check_same_thread=False)
        return cls(conn)

    async def close(self) -> None:
        """Finish queued calls, then close the connection (a second close does nothing)."""
        if self._closed:
            return
        self._closed = True
        await self._run(lambda db: db.close())
        self._executor.shutdown(wait=False)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, self._conn)

    # ------------------------------------------------------------------------ subscriptions
    async def add(self, new: NewSubscription, now: datetime) -> Subscription:
        """Store a subscription; its first digest covers what is new from ``now`` on."""
        s = new.schedule

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                cursor = db.execute(
                    "INSERT INTO digest_subscriptions (target, guild_id, created_by, query, "
                    "outlet, topic, schedule, at, timezone, weekday, max_items, quiet, "
                    "created_at, last_run_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.target.key,
                        new.guild_id,
                        new.created_by,
                        new.query,
                        new.outlet,
                        new.topic,
                        s.kind,
                        s.at.strftime("%H:%M"),
                        s.timezone,
                        s.weekday,
                        new.max_items,
                        int(new.quiet),
                        to_epoch(now),
                        to_epoch(now),
                    ),
                )
                return int(cursor.lastrowid or 0)

        found = await self.get(await self._run(work))
        assert found is not None
        return found

    async def get(self, subscription_id: int) -> Subscription | None:
        """One subscription by id."""
        rows = await self._select(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM digest_subscriptions WHERE id = ?",
            (subscription_id,),
        )
        return _subscription(rows[0]) if rows else None

    async def for_guild(self, guild_id: int) -> list[Subscription]:
        """A server's channel digests, oldest first (follows made there are the users')."""
        rows = await self._select(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM digest_subscriptions "
            "WHERE guild_id = ? AND target LIKE 'channel:%' ORDER BY id",
            (guild_id,),
        )
        return [_subscription(r) for r in rows]

    async def for_user(self, user_id: int) -> list[Subscription]:
        """A user's follows (DM subscriptions), oldest first."""
        rows = await self._select(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM digest_subscriptions WHERE target = ? "
            "ORDER BY id",
            (Target.dm(user_id).key,),
        )
        return [_subscription(r) for r in rows]

    async def guild_ids(self) -> set[int]:
        """Every server a subscription names (its channel digests, follows made there)."""
        rows = await self._select(
            "SELECT DISTINCT guild_id FROM digest_subscriptions WHERE guild_id IS NOT NULL"
        )
        return {r[0] for r in rows}

    async def active(self) -> list[Subscription]:
        """Every subscription that isn't paused, oldest first."""
        rows = await self._select(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM digest_subscriptions WHERE paused = 0 ORDER BY id"
        )
        return [_subscription(r) for r in rows]

    async def remove(self, subscription_id: int) -> bool:
        """Delete a subscription and its unsent digests; its delivery log stays (per target)."""

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                db.execute(
                    "DELETE FROM digest_outbox WHERE subscription_id = ? AND state = 'pending'",
                    (subscription_id,),
                )
                cursor = db.execute(
                    "DELETE FROM digest_subscriptions WHERE id = ?", (subscription_id,)
                )
                return cursor.rowcount > 0

        return await self._run(work)

    async def remove_follow(self, subscription_id: int) -> bool:
        """Delete a subscription with its outbox and its part of the delivery log.

        For ``/unfollow``: once a user's last follow goes, nothing about their DMs is left.
        """

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                row = db.execute(
                    "SELECT target FROM digest_subscriptions WHERE id = ?", (subscription_id,)
                ).fetchone()
                if row is None:
                    return False
                target = row[0]
                db.execute(
                    "DELETE FROM digest_outbox WHERE subscription_id = ?", (subscription_id,)
                )
                db.execute(
                    "DELETE FROM digest_delivered WHERE target = ? AND subscription_id = ?",
                    (target, subscription_id),
                )
                db.execute("DELETE FROM digest_subscriptions WHERE id = ?", (subscription_id,))
                left = db.execute(
                    "SELECT 1 FROM digest_subscriptions WHERE target = ? LIMIT 1", (target,)
                ).fetchone()
                if left is None:
                    _forget_targets(db, [target])
                return True

        return await self._run(work)

    async def remove_channel(self, channel_id: int) -> int:
        """Delete a deleted channel's digests, outbox and delivery log; how many digests went."""
        target = Target.channel(channel_id).key

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                cursor = db.execute("DELETE FROM digest_subscriptions WHERE target = ?", (target,))
                _forget_targets(db, [target])
                return cursor.rowcount

        return await self._run(work)

    async def remove_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        """Delete a server's channel digests with their outbox and delivery log.

        ``channel_ids`` (the server's channels as last seen) also reach log rows of digests
        removed earlier, which no longer name their server. Follows made in the server are the
        users' and stay; they only stop naming it. Returns how many digests went.
        """

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                found = db.execute(
                    "SELECT target FROM digest_subscriptions "
                    "WHERE guild_id = ? AND target LIKE 'channel:%'",
                    (guild_id,),
                ).fetchall()
                targets = {r[0] for r in found} | {Target.channel(c).key for c in channel_ids}
                cursor = db.execute(
                    "DELETE FROM digest_subscriptions "
                    "WHERE guild_id = ? AND target LIKE 'channel:%'",
                    (guild_id,),
                )
                db.execute(
                    "UPDATE digest_subscriptions SET guild_id = NULL WHERE guild_id = ?",
                    (guild_id,),
                )
                _forget_targets(db, sorted(targets))
                return cursor.rowcount

        return await self._run(work)

    async def pause(self, subscription_id: int, reason: str | None = None) -> Subscription | None:
        """Stop scheduling a subscription (by hand: no reason; automatically: the reason)."""
        await self._write(
            "UPDATE digest_subscriptions SET paused = 1, paused_reason = ? WHERE id = ?",
            (reason, subscription_id),
        )
        return await self.get(subscription_id)

    async def resume(self, subscription_id: int, now: datetime) -> Subscription | None:
        """Schedule again from ``now`` with a clean failure count.

        Slots missed while paused are not caught up; the next digest still holds what is new
        since the last one.
        """
        await self._write(
            "UPDATE digest_subscriptions SET paused = 0, paused_reason = NULL, "
            "failing_reason = NULL, consecutive_failures = 0, last_run_at = ? WHERE id = ?",
            (to_epoch(now), subscription_id),
        )
        return await self.get(subscription_id)

    async def mark_ran(self, subscription_ids: Collection[int], at: datetime) -> None:
        """Record that these subscriptions' due slots were handled at ``at``."""
        if subscription_ids:
            await self._write_many(
                "UPDATE digest_subscriptions SET last_run_at = ? WHERE id = ?",
                [(to_epoch(at), i) for i in subscription_ids],
            )

    # ------------------------------------------------------------------------ first seen
    async def note_seen(self, article_ids: Iterable[str], at: datetime) -> int:
        """Remember when each article was first seen (ids already known keep their time)."""
        rows = [(i, to_epoch(at)) for i in article_ids]
        if not rows:
            return 0

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO digest_seen (article_id, first_seen) VALUES (?, ?)",
                    rows,
                )
                return db.total_changes - before

        return await self._run(work)

    async def forget_seen(self, article_ids: Iterable[str]) -> None:
        """Articles removed from the corpus: if they come back, they are new again.

        The delivery log still keeps them from reaching a target twice.
        """
        rows = [(i,) for i in article_ids]
        if rows:
            await self._write_many("DELETE FROM digest_seen WHERE article_id = ?", rows)

    async def seen_after(self, moment: datetime) -> dict[str, datetime]:
        """Articles first seen after ``moment``, with when."""
        rows = await self._select(
            "SELECT article_id, first_seen FROM digest_seen WHERE first_seen > ?",
            (to_epoch(moment),),
        )
        return {r[0]: datetime.fromtimestamp(r[1], UTC) for r in rows}

    # ------------------------------------------------------------------------ delivery log
    async def delivered(
        self, targets: Collection[str], article_ids: Collection[str]
    ) -> dict[str, set[str]]:
        """For each target key, which of ``article_ids`` it was already given."""
        out: dict[str, set[str]] = {t: set() for t in targets}
        ids = list(article_ids)
        if not out or not ids:
            return out

        def work(db: sqlite3.Connection) -> None:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for target, article_id in db.execute(
                    "SELECT target, article_id FROM digest_delivered "
                    f"WHERE article_id IN ({marks})",
                    chunk,
                ):
                    if target in out:
                        out[target].add(article_id)

        await self._run(work)
        return out

    async def pending_articles(self) -> dict[str, set[str]]:
        """Article ids in unsent digests, by target: not to be put in a second digest."""
        out: dict[str, set[str]] = {}
        for target, ids in await self._select(
            "SELECT target, article_ids FROM digest_outbox WHERE state = 'pending'"
        ):
            out.setdefault(target, set()).update(json.loads(ids))
        return out

    # ------------------------------------------------------------------------ outbox
    async def enqueue(
        self,
        subscription: Subscription,
        cutoff: datetime,
        article_ids: Sequence[str],
        payload: str,
        marker: str,
        now: datetime,
    ) -> OutboxRow:
        """Write a digest to the outbox, before sending it; also records the slot as run."""

        def work(db: sqlite3.Connection) -> OutboxRow:
            with _transaction(db):
                # Under BEGIN IMMEDIATE no other writer can take this id first.
                outbox_id = int(
                    db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM digest_outbox").fetchone()[0]
                )
                nonce = f"d{outbox_id}-{marker}"
                db.execute(
                    "INSERT INTO digest_outbox (id, subscription_id, target, nonce, marker, "
                    "payload, article_ids, cutoff, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        outbox_id,
                        subscription.id,
                        subscription.target.key,
                        nonce,
                        marker,
                        payload,
                        json.dumps(list(article_ids)),
                        to_epoch(cutoff),
                        to_epoch(now),
                    ),
                )
                db.execute(
                    "UPDATE digest_subscriptions SET last_run_at = ? WHERE id = ?",
                    (to_epoch(now), subscription.id),
                )
            # The row as stored (state and attempts are the table's defaults): built here, not
            # selected back, so a send costs one round-trip fewer.
            return OutboxRow(
                id=outbox_id,
                subscription_id=subscription.id,
                target=subscription.target,
                nonce=nonce,
                marker=marker,
                payload=payload,
                article_ids=tuple(article_ids),
                cutoff=cutoff,
                state="pending",
                attempts=0,
                created_at=now,
            )

        return await self._run(work)

    async def pending(self) -> list[OutboxRow]:
        """Digests written but not known to be delivered, oldest first."""
        rows = await self._select(
            f"SELECT {_OUTBOX_COLUMNS} FROM digest_outbox WHERE state = 'pending' ORDER BY id"
        )
        return [_outbox(r) for r in rows]

    async def record_delivery(self, outbox_id: int, message_id: int, now: datetime) -> bool:
        """Mark a digest delivered, all in one transaction.

        The outbox row becomes sent, its articles enter the delivery log, the subscription's
        cut-off moves and its failures clear. Returns False (changing nothing) when the row
        isn't pending any more.
        """

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                row = db.execute(
                    "SELECT subscription_id, target, article_ids, cutoff FROM digest_outbox "
                    "WHERE id = ? AND state = 'pending'",
                    (outbox_id,),
                ).fetchone()
                if row is None:
                    return False
                sub_id, target, ids, cutoff = row
                stamp = to_epoch(now)
                db.execute(
                    "UPDATE digest_outbox SET state = 'sent', message_id = ?, error = NULL, "
                    "finished_at = ? WHERE id = ?",
                    (message_id, stamp, outbox_id),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO digest_delivered (target, article_id, "
                    "subscription_id, outbox_id, delivered_at) VALUES (?, ?, ?, ?, ?)",
                    [(target, i, sub_id, outbox_id, stamp) for i in json.loads(ids)],
                )
                db.execute(
                    "UPDATE digest_subscriptions SET "
                    "last_delivered_at = MAX(COALESCE(last_delivered_at, 0), ?), "
                    "consecutive_failures = 0, failing_reason = NULL WHERE id = ?",
                    (cutoff, sub_id),
                )
                return True

        return await self._run(work)

    async def record_failure(
        self, outbox_id: int, reason: str, now: datetime
    ) -> Subscription | None:
        """Drop a digest that can't be delivered and count the failure, in one transaction.

        For a gone channel, a missing permission or closed DMs: retrying won't help.
        """

        def work(db: sqlite3.Connection) -> int | None:
            with _transaction(db):
                row = db.execute(
                    "SELECT subscription_id FROM digest_outbox WHERE id = ? AND state = 'pending'",
                    (outbox_id,),
                ).fetchone()
                if row is None:
                    return None
                db.execute(
                    "UPDATE digest_outbox SET state = 'failed', error = ?, finished_at = ? "
                    "WHERE id = ?",
                    (reason, to_epoch(now), outbox_id),
                )
                _mark_failure(db, row[0], reason)
                return int(row[0])

        sub_id = await self._run(work)
        return None if sub_id is None else await self.get(sub_id)

    async def record_attempt(self, outbox_id: int, error: str) -> int:
        """A send that may work later (Discord 5xx, a network error): count it, keep it pending."""

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                db.execute(
                    "UPDATE digest_outbox SET attempts = attempts + 1, error = ? WHERE id = ?",
                    (error, outbox_id),
                )
                row = db.execute(
                    "SELECT attempts FROM digest_outbox WHERE id = ?", (outbox_id,)
                ).fetchone()
                return int(row[0]) if row else 0

        return await self._run(work)

    async def prune(self, now: datetime) -> None:
        """Drop finished outbox rows and delivery-log rows past their retention."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "DELETE FROM digest_outbox WHERE state != 'pending' AND finished_at < ?",
                    (to_epoch(now - OUTBOX_RETENTION),),
                )
                db.execute(
                    "DELETE FROM digest_delivered WHERE delivered_at < ?",
                    (to_epoch(now - DELIVERED_RETENTION),),
                )

        await self._run(work)

    # ------------------------------------------------------------------------ plumbing
    async def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._run(lambda db: db.execute(sql, params).fetchall())

    async def _write(self, sql: str, params: Sequence[Any]) -> None:
        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(sql, params)

        await self._run(work)

    async def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany(sql, rows)

        await self._run(work)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _forget_targets(db: sqlite3.Connection, targets: Sequence[str]) -> None:
    """Every outbox and delivery-log row of these targets (no subscription of theirs is left)."""
    for start in range(0, len(targets), _CHUNK):
        chunk = list(targets[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        # One pass over the outbox (it has no index on target) per chunk, not per target.
        db.execute(f"DELETE FROM digest_outbox WHERE target IN ({marks})", chunk)
        db.execute(f"DELETE FROM digest_delivered WHERE target IN ({marks})", chunk)


def _mark_failure(db: sqlite3.Connection, subscription_id: int, reason: str) -> None:
    db.execute(
        "UPDATE digest_subscriptions SET consecutive_failures = consecutive_failures + 1, "
        "failing_reason = ? WHERE id = ?",
        (reason, subscription_id),
    )
    db.execute(
        "UPDATE digest_subscriptions SET paused = 1, paused_reason = ? "
        "WHERE id = ? AND paused = 0 AND consecutive_failures >= ?",
        (
            f"paused after {MAX_CONSECUTIVE_FAILURES} failed deliveries",
            subscription_id,
            MAX_CONSECUTIVE_FAILURES,
        ),
    )


def _subscription(row: Sequence[Any]) -> Subscription:
    (
        sub_id,
        target,
        guild_id,
        created_by,
        query,
        outlet,
        topic,
        kind,
        at,
        timezone,
        weekday,
        max_items,
        quiet,
        paused,
        paused_reason,
        failing_reason,
        failures,
        created_at,
        last_run_at,
        last_delivered_at,
    ) = row
    hour, minute = (int(p) for p in at.split(":"))
    created = from_epoch(created_at)
    assert created is not None
    return Subscription(
        id=sub_id,
        target=Target.from_key(target),
        query=query,
        schedule=Schedule(kind, time(hour, minute), timezone, weekday),
        created_at=created,
        guild_id=guild_id,
        created_by=created_by,
        outlet=outlet,
        topic=topic,
        max_items=max_items,
        quiet=bool(quiet),
        paused=bool(paused),
        paused_reason=paused_reason,
        failing_reason=failing_reason,
        consecutive_failures=failures,
        last_run_at=from_epoch(last_run_at),
        last_delivered_at=from_epoch(last_delivered_at),
    )


def _outbox(row: Sequence[Any]) -> OutboxRow:
    (
        outbox_id,
        sub_id,
        target,
        nonce,
        marker,
        payload,
        ids,
        cutoff,
        state,
        attempts,
        message_id,
        error,
        created_at,
        finished_at,
    ) = row
    cut = from_epoch(cutoff)
    created = from_epoch(created_at)
    assert cut is not None and created is not None
    return OutboxRow(
        id=outbox_id,
        subscription_id=sub_id,
        target=Target.from_key(target),
        nonce=nonce,
        marker=marker,
        payload=payload,
        article_ids=tuple(json.loads(ids)),
        cutoff=cut,
        state=state,
        attempts=attempts,
        created_at=created,
        message_id=message_id,
        error=error,
        finished_at=from_epoch(finished_at),
    )
