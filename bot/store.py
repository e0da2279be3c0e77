"""The one SQLite database: corpus parse cache now, digests' state later, versioned migrations.

WAL lets the bot's readers and the loader's writer work at once; each migration runs once, in
order, recorded in ``PRAGMA user_version``.

The database holds Discord ids and the queries people subscribed to, so it and its folder are
the owner's alone (0600 files in a 0700 folder) whatever the umask: the file is created 0600
before SQLite opens it, and SQLite gives ``-wal`` and ``-shm`` the database's own mode. Files
and folders left readable by older versions are tightened when the database is opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")
# What the engine keeps beside the database, named after it (``bot.engine.saved_stories``,
# ``bot.engine.meaning``): the corpus loader never reads them as coverage (two end in .json).
STORIES_FILES = (".stories.json", ".stories.state", ".stories.pending.json")
MEANINGS_FILE = ".meanings.bin"
SENTENCE_MEANINGS_FILE = ".sentences.bin"  # the same, read through the sentence model
DERIVED_FILES = (*STORIES_FILES, MEANINGS_FILE, SENTENCE_MEANINGS_FILE)
WAL_KEPT_BYTES = 4 << 20  # journal_size_limit: what a checkpointed WAL is cut back to
BUSY_TIMEOUT_MS = 5_000  # how long a statement waits for another connection's lock

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
    # 4: the merged articles of each saved state, one row each (bot/corpus/articles.py), read
    # when an answer needs them instead of all decoded at start-up; their titles apart, which
    # autocomplete reads without decoding the article.
    """
    CREATE TABLE corpus_articles (
        roots     TEXT NOT NULL,
        id        TEXT NOT NULL,
        titles    TEXT NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (roots, id)
    );
    """,
    # 5: the titles beside the ids in an index of their own: autocomplete's table of every
    # title reads it (20 MB at 100,000 documents with bodies) instead of every article's row.
    """
    CREATE INDEX corpus_article_titles ON corpus_articles (roots, id, titles);
    """,
)


def connect(path: str | Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating folders and schema as needed) the database at ``path``."""
    if str(path) != ":memory:":
        secure_database(Path(path))
    conn = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    # Only takes effect on a new database. The corpus cache's rows are kilobytes and its state
    # megabytes: 64 KiB pages keep them off long overflow chains (a third less time reading
    # the state back at start-up than with 4 KiB pages).
    conn.execute("PRAGMA page_size=65536")
    conn.execute("PRAGMA journal_mode=WAL")
    # A write transaction grows the WAL past its checkpoint size (a first build of 10^5 files
    # left 384 MB), and SQLite keeps the file at its largest: the first connection of every
    # later process then reads it all back to rebuild its index (0.19 s at that size; 0.37 s
    # for the 3.4 GB a million documents left). Cut back to this by the first write after a
    # checkpoint has copied it into the database.
    conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    migrate(conn)
    return conn


def wal_bytes(path: str | Path) -> int:
    """The size of ``path``'s write-ahead log (0 when there is none)."""
    try:
        return os.stat(f"{path}-wal").st_size
    except OSError:
        return 0


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database and empty it, so that the next process opens at once.

    For a writer about to close after writing much: SQLite checkpoints on close only when it
    closes the last connection, and a process may exit with a reader's still open. Without
    waiting: another process reading now leaves the WAL to the next checkpoint rather than
    holding up a shutdown. Best effort: a connection already closed (a second ``close``) is
    left as it is.
    """
    with contextlib.suppress(sqlite3.Error):
        (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(timeout)}")


def connect_read_only(path: str | Path) -> sqlite3.Connection:
    """The database as another process writes it, never written here (``bot.writer_lock``).

    A database this version cannot read as it is (missing, or an older schema that only the
    writer may migrate) gives an empty in-memory one instead: the reader parses what it needs.
    """
    try:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
                return conn
        except sqlite3.Error:
            pass
        conn.close()
    except sqlite3.Error:
        pass
    return connect(":memory:", check_same_thread=False)


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


# --------------------------------------------------------------------------- file modes
def secure_database(path: Path) -> None:
    """Make the database's folder and files the owner's alone, creating the file if missing."""
    private_folder(path.parent)
    private_file(path)
    for suffix in SIDE_FILES:
        tighten(path.with_name(path.name + suffix))


def private_folder(folder: Path) -> None:
    """Create ``folder`` 0700 (its parents as the umask says), and tighten it if it was older.

    A folder shared with other things (the working directory or one above it, the home folder,
    a sticky folder such as /tmp, someone else's) keeps its mode: the files in it are private.
    """
    existed = folder.is_dir()
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if existed and not _dedicated(folder):
        return
    try:
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered through the umask
    except OSError as error:
        log.warning("could not make %s private (mode 0700): %s", folder, error)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing, else tighten it to 0600."""
    with contextlib.suppress(FileExistsError):  # O_EXCL: an existing file is left as it is
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten(path)


def tighten(path: Path) -> None:
    """Mode 0600 for ``path`` if it exists (files older versions left readable by others)."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("could not make %s private (mode 0600): %s", path, error)


def write_private(
    path: Path,
    content: str | bytes | Iterable[bytes | memoryview] | Callable[[BinaryIO], None],
    *,
    durable: bool = False,
) -> None:
    """Replace ``path`` with ``content`` in one step, readable by the owner only.

    ``content`` may be a function that writes to the open file (``np.save``): a large file is
    then never held in memory whole.

    A failed write leaves the old file whole and no ``.tmp`` (one left by a killed process is
    replaced by the next write). ``durable``: on disk before this returns, so a power cut can't
    leave the new name pointing at lost data (a record of what a store holds, written after
    its commit).
    """
    private_folder(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    if isinstance(content, str):
        content = content.encode("utf-8")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, FILE_MODE)  # a .tmp left by a crash keeps its old mode (O_CREAT)
            if callable(content):
                content(fh)
            else:
                for part in [content] if isinstance(content, bytes) else content:
                    fh.write(part)  # one write a part: a large file never sits in memory twice
            if durable:
                fh.flush()
                os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _dedicated(folder: Path) -> bool:
    """Whether ``folder`` looks like the bot's own: not a place other things live in."""
    try:
        here = folder.resolve()
        info = here.stat()
    except OSError:
        return False
    cwd = Path.cwd().resolve()
    if here == cwd or here in cwd.parents:
        return False
    with contextlib.suppress(RuntimeError, KeyError):  # no home directory to compare with
        if here == Path.home().resolve():
            return False
    getuid = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        return False
    return not info.st_mode & stat.S_ISVTX
