"""One process writes a database; others read beside it (issue 14).

The bot holds the writer lock while it runs: a second bot on the same database is refused with
a message naming the holder, a one-shot command answers beside it without writing the cache,
and the lock goes with its process, even one killed by SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import bot.writer_lock
from bot.cli import main
from bot.writer_lock import BOT, WriterBusy, WriterLock
from tests.discord_stub import DiscordStub, running_bot
from tests.test_app_e2e import ROOT, SEEDS, StubBot, configure


def cached_files(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM corpus_files").fetchone()[0]


async def test_a_second_bot_is_refused_and_a_cli_reads_beside_the_first(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stub: DiscordStub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    settings = configure(tmp_path, monkeypatch, stub, [SEEDS, live])
    database = Path(settings.corpus.database)
    monkeypatch.setattr(bot.writer_lock, "START_WAIT", 0.0)
    async with running_bot(StubBot(settings, guild_ready_timeout=0.05), stub):
        before = cached_files(database)
        second = StubBot(settings, guild_ready_timeout=0.05)
        with pytest.raises(WriterBusy, match=r"\(pid \d+, the bot\) is writing .*only one process"):
            await second.login(settings.discord.token)
        await second.close()

        # The CLI as a script runs it: a file the bot has not seen yet is answered from,
        # and nothing is written to the bot's database.
        (live / "quokka.json").write_text(
            json.dumps(
                {
                    "title": "Quokka census counts record numbers on Rottnest",
                    "url": "https://island.example/quokka-census",
                    "outlet": "Island News",
                    "body": "The quokka census on Rottnest Island counted a record number.",
                }
            ),
            encoding="utf-8",
        )
        code = main(["search", "quokka census rottnest", "--json"])
        out, err = capsys.readouterr()
        assert code == 0
        assert json.loads(out)["results"][0]["url"] == "https://island.example/quokka-census"
        assert "is writing" in err and "reading it without writing" in err
        assert cached_files(database) == before
        # And `coverage-bot run` (or `sync`) says why it stops, with exit code 2.
        for command in ("run", "sync"):
            assert await asyncio.to_thread(main, [command]) == 2
            assert "only one process may write it" in capsys.readouterr().err
    # The first bot is gone: the next one may write.
    assert WriterLock(database).try_acquire()


def test_the_lock_goes_with_a_killed_process(tmp_path: Path) -> None:
    database = tmp_path / "coverage.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from bot.writer_lock import WriterLock; "
            f"assert WriterLock({str(database)!r}).try_acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        lock = WriterLock(database)
        assert not lock.try_acquire()
        assert lock.holder() == f"pid {holder.pid}, a one-shot command"
        holder.kill()  # SIGKILL: no clean-up runs
        holder.wait()
        assert lock.try_acquire() and lock.held
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_starting_bot_waits_for_a_one_shot_command_however_long_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold parse by `coverage-bot ask` can hold the lock for minutes: the bot waits it out
    (saying so once) instead of giving up after ``START_WAIT``, which is for another bot."""
    database = tmp_path / "coverage.db"
    monkeypatch.setattr(bot.writer_lock, "START_WAIT", 0.0)
    command = WriterLock(database)
    assert command.try_acquire()
    waiting = threading.Event()

    class Told(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting for pid"):
                waiting.set()

    told = Told()
    logging.getLogger("bot.writer_lock").addHandler(told)
    logging.getLogger("bot.writer_lock").setLevel(logging.INFO)
    started: list[WriterLock] = []
    thread = threading.Thread(
        target=lambda: started.append(WriterLock(database, role=BOT).acquire())
    )
    try:
        thread.start()
        assert waiting.wait(30)  # the bot is waiting, past its START_WAIT of 0
        assert not started
        command.release()
        thread.join(30)
        assert started and started[0].held
        started[0].release()
    finally:
        logging.getLogger("bot.writer_lock").removeHandler(told)
        command.release()
