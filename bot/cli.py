"""The ``coverage-bot`` command: one entry point for people, scripts and CI."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from bot.answers import COMMANDS
from bot.config import ConfigError, Settings, load_settings
from bot.corpus.loader import CorpusLoader, Progress
from bot.corpus.merge import ChangeSet, CorpusSnapshot
from bot.corpus.report import report_json, report_text
from bot.writer_lock import WriterBusy, WriterLock

if TYPE_CHECKING:
    from bot.engine.engine import Engine

# Below this many files a progress bar only flickers.
PROGRESS_MIN_FILES = 200


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run a subcommand; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"coverage-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    return handler(args, settings)


def installed_version() -> str:
    """The version pip installed, from the package metadata, so it names what is really there."""
    # Imported here: the metadata machinery is 20 ms of every command's start otherwise.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coverage-bot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {installed_version()}")  # noqa: T201 -- on stdout, as argparse's
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coverage-bot", description=__doc__)
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--config", help="config file (default: $COVERAGE_BOT_CONFIG or config.toml)"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="read a coverage folder and report what it holds")
    check.add_argument(
        "paths", nargs="*", metavar="PATH", help="folders or files (default: configured corpus)"
    )
    check.add_argument("--strict", action="store_true", help="exit 1 when any file has an error")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--db", help="parse cache database (default: configured)")
    check.set_defaults(handler=_check)

    for command in COMMANDS:
        ask = sub.add_parser(command, help=f"answer a query with /{command} (- reads stdin)")
        ask.add_argument("query", help="the query; - reads one query per line from stdin")
        ask.add_argument(
            "--corpus",
            nargs="+",
            action="extend",  # "--corpus a --corpus b" reads both, as "--corpus a b" does
            metavar="PATH",
            help="folders (default: configured)",
        )
        ask.add_argument("--limit", type=int, default=10, help="results at most (default 10)")
        ask.add_argument("--json", action="store_true", help="print a JSON object")
        ask.add_argument("--db", help="parse cache database (default: configured)")
        ask.set_defaults(handler=_answer, command=command)

    run = sub.add_parser("run", help="connect to Discord and answer (needs a bot token)")
    sync = sub.add_parser("sync", help="sync slash commands to Discord now")
    sync.add_argument(
        "--guild",
        type=int,
        action="append",
        metavar="ID",
        help="sync to this server (repeatable; default: configured guild_ids, else global)",
    )
    console = sub.add_parser("console", help="the Discord answers in a terminal, no token needed")
    start = sub.add_parser(
        "start", help="what `make run` runs: the bot with a token, else the console"
    )
    for name, handler in ((run, _run), (sync, _sync), (console, _console), (start, _start)):
        # Accept --config after the subcommand too; SUPPRESS keeps the global one otherwise.
        name.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        name.set_defaults(handler=handler)
    return parser


def load_snapshot(
    paths: Sequence[str], settings: Settings, db: str | None = None, quiet: bool = False
) -> CorpusSnapshot:
    """Load a corpus synchronously for the CLI, with a progress bar on a terminal."""
    with loaded(paths, settings, db, quiet) as (snapshot, _, _):
        return snapshot


def load_engine(
    paths: Sequence[str], settings: Settings, db: str | None = None, quiet: bool = False
) -> Engine:
    """The engine of a one-shot command or the console, its search index kept on disk.

    While the bot (or another command) writes the database, the index it keeps is used when it
    holds this corpus, and otherwise this command indexes in memory: it never writes.
    """
    from bot.engine.engine import Engine
    from bot.engine.sentences import SentenceModel
    from bot.engine.word_vectors import WordVectors

    database = db or settings.corpus.database
    words = WordVectors.loading_beside(database)  # read beside the corpus's loading
    sentences = SentenceModel.beside(words)  # and the sentence model's graph too
    with loaded(paths, settings, db, quiet) as (snapshot, catch_up, writing):
        engine = Engine.beside(
            database,
            snapshot,
            stories="on-demand",
            catch_up=catch_up,
            index_writable=writing,
            word_vectors=words,
            sentences=sentences,
        )
        engine.release_index()  # merges done and tantivy's lock free before ours is
    return engine


@contextmanager
def loaded(
    paths: Sequence[str], settings: Settings, db: str | None, quiet: bool
) -> Iterator[tuple[CorpusSnapshot, tuple[str | None, ChangeSet] | None, bool]]:
    """The corpus, what changed since the cache's saved state, and whether we may write.

    The writer lock, when this process got it, is held until the block ends: the search
    index is brought up to date inside it.
    """
    database = db or settings.corpus.database
    # The parse cache is brought up to date unless the bot (or another load) is writing it:
    # then it is read as it is, and what it lacks is parsed here and not kept.
    lock = WriterLock(database)
    try:
        writing = lock.try_acquire()
    except OSError:  # a lock file this user can't open: the database is not ours to write
        writing = False
    try:
        if not writing:  # on stderr, so --json output stays clean
            print(  # noqa: T201
                f"coverage-bot: {lock.holder()} is writing {database}; reading it without writing",
                file=sys.stderr,
            )
        loader = CorpusLoader(
            paths or settings.corpus.paths,
            database,
            max_bytes=settings.corpus.max_file_bytes,
            read_only=not writing,
            pinned=True,  # the lock goes with this block; a bot may start and save after it
        )
        try:
            scanned = loader.scan()
            with _progress(len(scanned), quiet) as progress:
                snapshot, changes, _ = loader.load(progress, scanned)
        finally:
            loader.close()
        # Without a lock that shuts others out (Windows), the stores derived from the corpus
        # are not written: a bot may be using them.
        yield snapshot, (loader.started_from, changes), writing and lock.exclusive
    finally:
        lock.release()


def _progress(files: int, quiet: bool) -> AbstractContextManager[Progress | None]:
    if quiet or files < PROGRESS_MIN_FILES or not sys.stderr.isatty():
        return nullcontext(None)
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import Progress as Bar

    @contextmanager
    def bar():  # noqa: ANN202
        with Bar(console=Console(stderr=True), transient=True) as ui:
            task = ui.add_task("reading coverage", total=None)

            def advance(done: int, total: int) -> None:
                ui.update(task, completed=done, total=total)

            yield advance

    return bar()


def _check(args: argparse.Namespace, settings: Settings) -> int:
    snapshot = load_snapshot(args.paths, settings, args.db)
    if args.json:
        print(json.dumps(report_json(snapshot), ensure_ascii=False, indent=2))  # noqa: T201
    else:
        print(report_text(snapshot))  # noqa: T201
    return 1 if args.strict and snapshot.errors else 0


def _answer(args: argparse.Namespace, settings: Settings) -> int:
    from bot.answers import run_command, to_json, to_text

    if args.limit < 1:
        print("coverage-bot: --limit must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    engine = load_engine(args.corpus or [], settings, args.db, quiet=True)
    queries = (line.strip() for line in sys.stdin) if args.query == "-" else iter([args.query])
    for query in queries:
        if not query:
            continue
        answer = run_command(engine, args.command, query, args.limit)
        if args.json or args.query == "-":
            print(json.dumps(to_json(args.command, query, answer), ensure_ascii=False), flush=True)  # noqa: T201
        else:
            print(to_text(args.command, answer))  # noqa: T201
    _finish_word_table(engine)
    return 0


def _finish_word_table(engine: Engine) -> None:
    """Let a word table or graph this command began to build be written, saying so, first."""
    for model in (engine.word_vectors, engine.sentences):
        if model is not None:
            model.finish(
                lambda why: print(f"coverage-bot: {why}", file=sys.stderr, flush=True)  # noqa: T201
            )


NO_TOKEN = """\
coverage-bot: no Discord bot token is configured.

  1. Open https://discord.com/developers/applications, pick (or create) your application.
  2. Bot → Reset Token, and copy it.
  3. Put it in the DISCORD_TOKEN environment variable (preferred), or in config.toml:
       [discord]
       token = "..."
  4. Invite the bot: OAuth2 → URL Generator → scopes "bot" and "applications.commands".

Meanwhile `coverage-bot console` answers the same commands in this terminal."""


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Connect to Discord until interrupted."""
    if not settings.discord.token:
        print(NO_TOKEN, file=sys.stderr)  # noqa: T201
        return 2
    import asyncio
    import gc

    import discord

    from bot.app import CoverageBot

    discord.utils.setup_logging()
    bot = CoverageBot(settings)

    async def serve() -> None:
        async with bot:
            await bot.login(settings.discord.token)  # setup_hook: corpus, engine, cogs, sync
            # Measured: a full collection over the start-up heap (modules, corpus, index) takes
            # ~15 ms and lands on some interaction's p99. Frozen objects are never scanned again.
            gc.collect()
            gc.freeze()
            await bot.connect()

    try:
        asyncio.run(serve())
    except WriterBusy as exc:
        print(f"coverage-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except discord.LoginFailure:
        print(  # noqa: T201
            "coverage-bot: Discord rejected the token; reset it in the developer portal "
            "(Bot → Reset Token) and update DISCORD_TOKEN or config.toml.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    """Log in (REST only, no gateway), sync the command tree and record its hash."""
    if not settings.discord.token:
        print(NO_TOKEN, file=sys.stderr)  # noqa: T201
        return 2
    import asyncio

    import discord

    from bot.app import CoverageBot

    discord.utils.setup_logging()
    bot = CoverageBot(settings, sync_commands=False, watch=False, models=False)

    async def sync() -> list[str]:
        async with bot:
            await bot.login(settings.discord.token)
            return await bot.sync_commands(force=True, guild_ids=args.guild)

    try:
        scopes = asyncio.run(sync())
    except WriterBusy as exc:
        print(f"coverage-bot: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except discord.LoginFailure:
        print("coverage-bot: Discord rejected the token.", file=sys.stderr)  # noqa: T201
        return 1
    print(f"synced commands: {', '.join(scopes)}")  # noqa: T201
    return 0


def _console(args: argparse.Namespace, settings: Settings) -> int:
    """The REPL over the configured corpus."""
    from pathlib import Path

    from bot.console import HISTORY_FILE, run_console

    engine = load_engine([], settings)
    history = Path(settings.corpus.database).parent / HISTORY_FILE
    code = run_console(engine, history=history)
    _finish_word_table(engine)
    return code


def _start(args: argparse.Namespace, settings: Settings) -> int:
    """`make run`: the bot when a token is configured, else the console."""
    if settings.discord.token:
        return _run(args, settings)
    print(  # noqa: T201
        "No Discord token configured (DISCORD_TOKEN or config.toml [discord] token): "
        "starting the console. `coverage-bot run` explains how to get one.",
        file=sys.stderr,
    )
    return _console(args, settings)


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":
    run()
