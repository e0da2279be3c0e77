"""`coverage-bot search|summary|... QUERY`: the JSON and JSON Lines that scripts rely on."""

from __future__ import annotations

import gc
import io
import json
import shutil
from pathlib import Path

import pytest

from bot import store
from bot.cli import main

SEEDS = str(Path(__file__).resolve().parent.parent / "seeds")


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--corpus", SEEDS, "--db", str(tmp_path / "c.db")])
    return code, capsys.readouterr().out


def test_search_json_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, tmp_path, "search", "clearview contract", "--json", "--limit", "2")
    data = json.loads(out)
    assert code == 0
    assert data["command"] == "search" and data["query"] == "clearview contract"
    assert 1 <= len(data["results"]) <= 2
    first = data["results"][0]
    assert set(first) >= {"url", "title", "outlet", "published", "score", "excerpt"}
    assert first["published"] is None or first["published"].startswith("2020-08-14")


def test_ask_json_has_answer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out = run(capsys, tmp_path, "ask", "How much is ICE paying Clearview?", "--json")
    data = json.loads(out)
    assert "$224,000" in data["answer"]["text"]


def test_coverage_json_has_story(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out = run(capsys, tmp_path, "coverage", "ICE Clearview contract", "--json")
    story = json.loads(out)["story"]
    assert story["articles"] == 3
    assert story["first"]["outlet"] == "The Verge"
    assert story["first"]["published"] == "2020-08-14T17:42:00Z"
    assert [t["outlet"] for t in story["timeline"]][-1] == "Highsnobiety"


def test_no_match_is_empty_results_and_exit_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = run(capsys, tmp_path, "summary", "recipe for banana bread", "--json")
    data = json.loads(out)
    assert code == 0 and data["results"] == []


def test_dash_reads_queries_from_stdin_as_json_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("portland ban\n\nrecipe for banana bread\nverge clearview\n")
    )
    code, out = run(capsys, tmp_path, "search", "-")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["query"] for line in lines] == [
        "portland ban",
        "recipe for banana bread",
        "verge clearview",
    ]
    assert "Portland" in lines[0]["results"][0]["title"]
    assert lines[1]["results"] == []
    assert lines[2]["results"][0]["outlet"] == "The Verge"


def test_text_output_for_people(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, tmp_path, "source", "verge clearview")
    assert code == 0
    assert "The Verge" in out and "first reported by The Verge" in out


def test_a_one_shot_command_groups_stories_only_when_its_answer_shows_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, groupings: list[int]
) -> None:
    """Grouping is most of a large corpus's start-up (14 s of 20 at 100k articles): search,
    summary and ask never pay it; coverage, source and related group once, as the bot does."""
    grouped = groupings
    for command in ("search", "summary", "ask"):
        code, _ = run(capsys, tmp_path, command, "ICE Clearview contract", "--json")
        assert code == 0
    assert not any(grouped)
    _, out = run(capsys, tmp_path, "coverage", "ICE Clearview contract", "--json")
    assert json.loads(out)["story"]["articles"] == 3
    assert len([n for n in grouped if n]) == 1  # once, over the whole corpus


def test_a_log_a_command_could_not_fold_back_is_folded_by_the_next_writer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command reads the saved articles in a transaction opened before it catches up and
    # writes, so its own close cannot fold the log back; every later close copied it all
    # again (0.27 s a command at 100,000 documents). The next writer folds it first.
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    db = str(tmp_path / "c.db")
    argv = ["search", "clearview", "--corpus", str(corpus), "--db", db, "--json"]
    assert main(argv) == 0  # the first: nothing saved before it, nothing pinned
    (corpus / "zebra.md").write_text("---\ntitle: Zebra crossing robots\n---\n", "utf-8")
    assert main(argv) == 0  # catches up: writes behind its pinned reader
    capsys.readouterr()
    assert store.wal_bytes(db) > 0
    monkeypatch.setattr(store, "WAL_KEPT_BYTES", 0)
    gc.collect()  # the commands' readers, as their processes' exits would close them
    assert main(argv) == 0  # its reader is pinned too, but after it folded the log
    assert store.wal_bytes(db) == 0
