"""The ``coverage-bot`` command: one entry point for people, scripts and CI."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from bot.answers import COMMANDS
from bot.config import ConfigError, Settings, load_settings
from bot.corpus.loader import CorpusLoader, Progress
from bot.corpus.merge import CorpusSnapshot
from bot.corpus.report import report_json, report_text

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coverage-bot", description=__doc__)
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
            "--corpus", nargs="+", metavar="PATH", help="folders (default: configured)"
        )
        ask.add_argument("--limit", type=int, default=10, help="results at most (default 10)")
        ask.add_argument("--json", action="store_true", help="print a JSON object")
        ask.add_argument("--db", help="parse cache database (default: configured)")
        ask.set_defaults(handler=_answer, command=command)

    start = sub.add_parser(
        "start", help="what `make run` runs: the bot with a token, else the console"
    )
    start.set_defaults(handler=_start)
    return parser


def load_snapshot(
    paths: Sequence[str], settings: Settings, db: str | None = None, quiet: bool = False
) -> CorpusSnapshot:
    """Load a corpus synchronously for the CLI, with a progress bar on a terminal."""
    loader = CorpusLoader(
        paths or settings.corpus.paths,
        db or settings.corpus.database,
        max_bytes=settings.corpus.max_file_bytes,
    )
    try:
        files = len(loader.scan())
        with _progress(files, quiet) as progress:
            snapshot, _, _ = loader.load(progress)
    finally:
        loader.close()
    return snapshot


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
    from bot.engine.engine import Engine

    if args.limit < 1:
        print("coverage-bot: --limit must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    engine = Engine(load_snapshot(args.corpus or [], settings, args.db, quiet=True))
    queries = (line.strip() for line in sys.stdin) if args.query == "-" else iter([args.query])
    for query in queries:
        if not query:
            continue
        answer = run_command(engine, args.command, query, args.limit)
        if args.json or args.query == "-":
            print(json.dumps(to_json(args.command, query, answer), ensure_ascii=False), flush=True)  # noqa: T201
        else:
            print(to_text(args.command, answer))  # noqa: T201
    return 0


def _start(args: argparse.Namespace, settings: Settings) -> int:
    # Until the Discord app and console land, `make run` shows what the corpus holds.
    print(report_text(load_snapshot([], settings)))  # noqa: T201
    return 0


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":
    run()
