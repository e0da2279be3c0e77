"""``coverage-bot console``: the Discord answers in a terminal, for trying the bot without a token.

Lines are the same requests a DM takes ("/summary clearview", "coverage ice contract", or a
plain question for ask) and the answers are the same cards the cogs turn into embeds, drawn as
rich panels. On a terminal there is a prompt with readline history (kept beside the database);
from a pipe, each line is answered in turn, so scripts and tests can drive it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.markup import escape as rich_escape
from rich.panel import Panel
from rich.style import Style
from rich.text import Text

from bot.answers import COMMANDS, REQUEST_WORDS, parse_request, reply_for
from bot.engine.engine import Engine
from bot.render import Card, help_card
from bot.store import private_file, private_folder

log = logging.getLogger(__name__)

PROMPT = "coverage> "
HISTORY_FILE = "console-history"
HISTORY_LENGTH = 1000
QUIT_WORDS = frozenset({"quit", "exit", "q", ":q"})
_UNESCAPE = re.compile(r"\\(.)")
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n)")
# Possessive, with the ">" optional: "<http://a" repeated without one is read once, not once per
# "<" (quadratic); an unclosed one is left as it was.
_AUTOLINK = re.compile(r"<(https?://[^>\s]++)(>)?")


def plain(text: str) -> str:
    """Card text without the Markdown escapes Discord needs (for titles, which are not Markdown)."""
    return _UNESCAPE.sub(r"\1", text)


def _unwrap_link(match: re.Match[str]) -> str:
    return match[1] if match[2] else match[0]


def markdown(text: str, *, hyperlinks: bool) -> Markdown:
    """Discord Markdown for rich: Discord keeps single line breaks, CommonMark would join them.

    ``<url>`` (Discord's "no preview" link) becomes the bare URL, which reads the same either
    way and is not printed twice when links are written out.
    """
    text = _AUTOLINK.sub(_unwrap_link, _SOFT_BREAK.sub("  \n", text))
    return Markdown(text, hyperlinks=hyperlinks)


def card_panel(card: Card, *, hyperlinks: bool = True) -> Panel:
    """One card as a panel: title (linked), author, link, description, fields, footer.

    Card text is Discord Markdown with corpus Markdown escaped, which CommonMark reads the same
    way, so the console shows exactly what Discord would. Without hyperlinks (a pipe) links are
    written out after their text.
    """
    parts: list[RenderableType] = []
    if card.author:
        parts.append(Text(plain(card.author), style="dim"))
    if card.url:
        parts.append(Text(card.url, style=Style(dim=True, link=card.url)))
    if card.description:
        parts.append(markdown(card.description, hyperlinks=hyperlinks))
    for f in card.fields:
        parts.append(Text(plain(f.name), style="bold"))
        parts.append(markdown(f.value, hyperlinks=hyperlinks))
    title = Text(plain(card.title), style=Style(bold=True, link=card.url))
    return Panel(
        Group(*parts),
        title=title,
        title_align="left",
        subtitle=Text(plain(card.footer), style="dim") if card.footer else None,
        subtitle_align="left",
        border_style=f"#{card.colour:06x}",
    )


class ConsoleSession:
    """Answers console lines with cards; remembers the last suggestions so "1" runs the first."""

    def __init__(self, engine: Engine, console: Console) -> None:
        self.engine = engine
        self.console = console
        self._suggestions: tuple[str, ...] = ()
        self._last_command = "ask"

    def cards(self, command: str, query: str) -> list[Card]:
        """The same cards the Discord cogs send (``reply_for``), every search page included."""
        if command == "help":
            return [help_card("console")]
        reply = reply_for(self.engine, command, query)
        self._suggestions = reply.suggestions
        return reply.pages or reply.cards

    def handle(self, line: str) -> bool:
        """Answer one line; False when the user asked to leave."""
        text = line.strip()
        if not text:
            return True
        if text.casefold() in QUIT_WORDS:
            return False
        if text.isdigit() and 0 < int(text) <= len(self._suggestions):
            command, query = self._last_command, self._suggestions[int(text) - 1]
        else:
            command, query = parse_request(text)
        if command not in REQUEST_WORDS:
            self.console.print(
                f"Unknown command “{command}”. Type help to see what works.", markup=False
            )
            return True
        if not query and command in COMMANDS:
            self.console.print(f"{command} what? For example: {command} clearview", markup=False)
            return True
        self._suggestions = ()
        self._last_command = command
        try:
            cards = self.cards(command, query)
        except Exception as exc:  # one bad line must not end the session
            log.exception("console %s %r failed", command, query)
            self.console.print(f"[red]error:[/red] {rich_escape(str(exc))}")
            return True
        hyperlinks = self.console.is_terminal
        for card in cards:
            self.console.print(card_panel(card, hyperlinks=hyperlinks))
        if self._suggestions:
            self.console.print(f"Type 1–{len(self._suggestions)} to run a suggestion.")
        return True

    def run(self, lines: Iterable[str]) -> None:
        """Answer lines until they run out or one says quit."""
        for line in lines:
            if not self.handle(line):
                break


def _prompt_lines(history: Path | None) -> Iterator[str]:
    """Lines typed at a prompt, with readline editing and history where available."""
    try:  # readline is not on every platform; without it there is a prompt but no history
        import readline
    except ImportError:  # pragma: no cover
        readline = None  # type: ignore[assignment]
    if readline is not None and history is not None:
        readline.set_history_length(HISTORY_LENGTH)
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    try:
        while True:
            try:
                yield input(PROMPT)
            except EOFError:
                return
            except KeyboardInterrupt:
                print(file=sys.stderr)  # noqa: T201 - a fresh line after ^C, like a shell
                continue
    finally:
        if readline is not None and history is not None:
            with contextlib.suppress(OSError):
                # What was asked, so the owner's alone; readline keeps an existing file's mode.
                private_folder(history.parent)
                private_file(history)
                readline.write_history_file(history)


def run_console(
    engine: Engine,
    *,
    stdin: TextIO | None = None,
    console: Console | None = None,
    history: Path | None = None,
) -> int:
    """The REPL: a prompt on a terminal, else one answer per input line. Returns 0."""
    console = console or Console()
    source = sys.stdin if stdin is None else stdin
    interactive = stdin is None and source.isatty()
    if interactive:
        count = len(engine.snapshot.articles)
        console.print(
            f"Coverage Bot console — {count} articles. Type a question, a command "
            "(summary, source, related, search, coverage, latest), help, or quit."
        )
        ConsoleSession(engine, console).run(_prompt_lines(history))
    else:
        ConsoleSession(engine, console).run(source)
    return 0
