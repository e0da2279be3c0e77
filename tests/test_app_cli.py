"""`coverage-bot run` and `coverage-bot sync` as real processes against the stub.

Exactly how an operator runs the bot behind a Discord proxy: DISCORD_TOKEN, DISCORD_API_BASE
and DISCORD_GATEWAY_URL in the environment, a config file named by COVERAGE_BOT_CONFIG.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.discord_stub import DiscordStub

ROOT = Path(__file__).resolve().parent.parent


def environment(stub: DiscordStub, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(
        "[corpus]\n"
        f"paths = {json.dumps([str(ROOT / 'seeds')])}\n"
        f"database = {json.dumps(str(tmp_path / 'data' / 'coverage.db'))}\n"
        "watch = false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COVERAGE_BOT"))}
    env.update(stub.env, DISCORD_TOKEN=stub.token, COVERAGE_BOT_CONFIG=str(config))
    return env


def _interruptible() -> None:
    # A job a shell starts in the background inherits SIGINT ignored, and so would the bot:
    # Ctrl-C is what this test sends, so it must arrive however the test run was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_interruptible,
    )


async def test_sync_command_then_run_skips_the_unchanged_tree(tmp_path: Path) -> None:
    async with DiscordStub() as stub:
        env = environment(stub, tmp_path)
        sync = await cli(env, "sync")
        out, err = await asyncio.wait_for(sync.communicate(), 60)
        assert sync.returncode == 0, err.decode()
        assert out.decode().strip() == "synced commands: global"
        assert len(stub.syncs) == 1 and stub.rejections == []
        assert stub.gateway.identifies == 0  # REST only
        # It answers nothing: no semantic model was read or built beside the database.
        assert not (tmp_path / "data" / "coverage.db.vectors").exists()

        run = await cli(env, "run")
        try:
            await stub.wait_identified(timeout=60)
            handle = await stub.invoke("ask", {"query": "How much is ICE paying Clearview?"})
            msg = await handle.message(timeout=10)
            assert "$224,000" in msg.embeds[0]["description"]
            assert len(stub.syncs) == 1  # the hash matched: no sync on start
        finally:
            run.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(run.communicate(), 30)
        logs = err.decode()
        assert run.returncode == 0, logs
        assert "commands unchanged for global" in logs
        assert stub.token not in logs + out.decode()  # the token is never logged
