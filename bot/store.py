"""The one SQLite database: corpus parse cache now, digests' state later, versioned migrations.

WAL lets the bot's readers and the loader's writer work at once; each migration runs once, in
order, recorded in ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    # 1: the corpus parse cache, one row per file, keyed by what tells a file changed.
    """
    CREATE TABLE corpus_files (
        path      TEXT PRIMARY KEY,
        display   TEXT NOT NULL,
        size      INTEGER NOT NULL,
        mtime_ns  INTEGER NOT NULL,
        parser    INTEGER NOT NULL,
        parsed    BLOB NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: the parse cache as a rowid table (its blobs are kilobytes: SQLite advises against
    # WITHOUT ROWID for rows that large), and the merged state for warm restarts, in chunks.
    """
    DROP TABLE corpus_files;
    CREATE TABLE corpus_files (
        path      TEXT PRIMARY KEY,
        display   TEXT NOT NULL,
        size      INTEGER NOT NULL,
        mtime_ns  INTEGER NOT NULL,
        parser    INTEGER NOT NULL,
        parsed    BLOB NOT NULL
    );
    CREATE TABLE corpus_state (
        roots     TEXT NOT NULL,
        part      INTEGER NOT NULL,
        parser    INTEGER NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (roots, part)
    );
    """,
    # 3: digests (bot/digests/store.py): subscriptions, the outbox written before each send, the
    # delivery log (one row per article per target, so nothing reaches a target twice), and
    # when the bot first saw each article ("new" means added or published after a delivery).
    # Times are UTC epoch seconds.
    """
    CREATE TABLE digest_subscriptions (
        id                   INTEGER PRIMARY KEY,
        target               TEXT NOT NULL,
        guild_id             INTEGER,
        created_by           INTEGER,
        query                TEXT NOT NULL,
        outlet               TEXT,
        topic                TEXT,
        schedule             TEXT NOT NULL,
        at                   TEXT NOT NULL,
        timezone             TEXT NOT NULL,
        weekday              INTEGER,
        max_items            INTEGER NOT NULL,
        quiet                INTEGER NOT NULL DEFAULT 1,
        paused               INTEGER NOT NULL DEFAULT 0,
        paused_reason        TEXT,
        failing_reason       TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        created_at           REAL NOT NULL,
        last_run_at          REAL,
        last_delivered_at    REAL
    );
    CREATE INDEX digest_subscriptions_guild ON digest_subscriptions (guild_id);
    CREATE INDEX digest_subscriptions_target ON digest_subscriptions (target);
    CREATE TABLE digest_outbox (
        id              INTEGER PRIMARY KEY,
        subscription_id INTEGER NOT NULL,
        target          TEXT NOT NULL,
        nonce           TEXT NOT NULL UNIQUE,
        marker          TEXT NOT NULL,
        payload         TEXT NOT NULL,
        article_ids     TEXT NOT NULL,
        cutoff          REAL NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        message_id      INTEGER,
        error           TEXT,
        created_at      REAL NOT NULL,
        finished_at     REAL
    );
    CREATE INDEX digest_outbox_pending ON digest_outbox (state) WHERE state = 'pending';
    CREATE INDEX digest_outbox_subscription ON digest_outbox (subscription_id);
    CREATE TABLE digest_delivered (
        target          TEXT NOT NULL,
        article_id      TEXT NOT NULL,
        subscription_id INTEGER NOT NULL,
        outbox_id       INTEGER NOT NULL,
        delivered_at    REAL NOT NULL,
        PRIMARY KEY (target, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX digest_delivered_article ON digest_delivered (article_id);
    CREATE TABLE digest_seen (
        article_id TEXT PRIMARY KEY,
        first_seen REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX digest_seen_time ON digest_seen (first_seen);
    """,
)


def connect(path: str | Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating folders and schema as needed) the database at ``path``."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    # Only takes effect on a new database. The corpus cache's rows are kilobytes and its state
    # megabytes: 64 KiB pages keep them off long overflow chains (a third less time reading
    # the state back at start-up than with 4 KiB pages).
    conn.execute("PRAGMA page_size=65536")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database has not seen; returns the resulting version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
