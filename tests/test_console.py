"""The console: same requests as a DM, same cards as the cogs, drawn as rich panels."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.config import load_settings
from bot.console import ConsoleSession, card_panel, run_console
from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine
from bot.render import make_card

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    loader = CorpusLoader([ROOT / "seeds"], tmp_path_factory.mktemp("db") / "c.db")
    try:
        snapshot, _, _ = loader.load()
    finally:
        loader.close()
    return Engine(snapshot)


def run_lines(engine: Engine, *lines: str) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    assert run_console(engine, stdin=io.StringIO("\n".join(lines) + "\n"), console=console) == 0
    return out.getvalue()


def test_piped_lines_get_the_same_answers_as_discord(engine: Engine) -> None:
    out = run_lines(
        engine,
        "/summary clearview ice contract",
        "How much is ICE paying Clearview?",
        "coverage clearview ice contract",
        "search clearview",
        "help",
    )
    assert "ICE just signed a contract" in out
    assert "$224,000" in out  # the ask passage
    assert "Coverage: " in out and "First reported by" in out
    assert "Search: clearview" in out and "Page 1/1" in out
    assert "summary clearview" in out  # help for the console
    assert "╭" in out  # drawn as panels
    assert "\\*" not in out  # Discord escapes are not shown in a terminal


def test_suggestions_can_be_picked_by_number_and_quit_stops(engine: Engine) -> None:
    out = run_lines(engine, "summary clearview moon landing", "1", "quit", "summary never reached")
    assert "Not in this coverage" in out and "Type 1–" in out
    assert out.count("ICE just signed a contract") >= 2  # offered, then answered
    assert "never reached" not in out


def test_unknown_and_empty_requests_explain(engine: Engine) -> None:
    out = run_lines(engine, "/frobnicate x", "summary", "")
    assert "Unknown command “frobnicate”" in out
    assert "summary what?" in out


def test_card_panel_writes_links_out_without_hyperlinks() -> None:
    card = make_card(
        "Title",
        "See [the story](https://example.com/s)",
        url="https://example.com/t",
        fields=[("Also", "<https://example.com/v>")],
        footer="why",
    )
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(card_panel(card, hyperlinks=False))
    text = out.getvalue()
    assert "https://example.com/s" in text and "https://example.com/t" in text
    assert "why" in text and "Also" in text


def test_session_errors_do_not_end_it(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    session = ConsoleSession(engine, Console(file=out, width=80))

    def broken(query: str) -> None:
        raise RuntimeError("index on fire")

    monkeypatch.setattr(engine, "source", broken)
    assert session.handle("source clearview") is True
    assert "error:" in out.getvalue()
    assert session.handle("exit") is False


def cli(
    args: list[str], tmp_path: Path, stdin: str = "", token: str = ""
) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[corpus]\npaths = ["{ROOT / "seeds"}"]\ndatabase = "{tmp_path / "data" / "c.db"}"\n'
        "watch = false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COVERAGE_BOT"))}
    env.update(COVERAGE_BOT_CONFIG=str(config), DISCORD_TOKEN=token)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_console_command_reads_a_pipe(tmp_path: Path) -> None:
    done = cli(["console"], tmp_path, stdin="/ask How much is ICE paying Clearview?\nquit\n")
    assert done.returncode == 0, done.stderr
    assert "$224,000" in done.stdout


def test_start_without_token_hints_then_runs_the_console(tmp_path: Path) -> None:
    done = cli(["start"], tmp_path, stdin="summary clearview\n")
    assert done.returncode == 0, done.stderr
    assert "No Discord token configured" in done.stderr and "coverage-bot run" in done.stderr
    assert "Clearview" in done.stdout


def test_run_without_token_explains_and_exits_2(tmp_path: Path) -> None:
    done = cli(["run"], tmp_path)
    assert done.returncode == 2
    assert "https://discord.com/developers/applications" in done.stderr
    assert "Reset Token" in done.stderr and "DISCORD_TOKEN" in done.stderr
    assert "coverage-bot console" in done.stderr
    settings = load_settings(tmp_path / "config.toml", env={})
    assert settings.discord.token == ""
