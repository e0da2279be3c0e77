"""``coverage-bot check``: the report people read and the JSON scripts read, and its exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import main

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory: no config.toml, no COVERAGE_BOT_CONFIG, seeds copied in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COVERAGE_BOT_CONFIG", raising=False)
    shutil.copytree(SEEDS, tmp_path / "corpus")
    return tmp_path


def add_bad_file(workdir: Path) -> None:
    (workdir / "corpus" / "nested").mkdir()
    (workdir / "corpus" / "nested" / "broken.md").write_text(
        "---\ntitle: Broken\nexcerpt: [unclosed\nwebUrl: https://example.com/x\n---\n",
        encoding="utf-8",
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out


def test_json_report_of_the_seeds(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "corpus", "--json", "--db", "cache.db")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {
        "files",
        "articles",
        "related_merged",
        "duplicates_merged",
        "outlets",
        "first_published",
        "last_published",
        "errors",
        "warnings",
    }
    assert report["files"] == 2
    assert report["articles"] == 5
    assert report["related_merged"] == 0
    assert report["duplicates_merged"] == 0
    assert report["outlets"] == {
        "Business Insider": 1,
        "CNET": 1,
        "The Verge": 1,
        "KTVZ": 1,
        "Highsnobiety": 1,
    }
    assert report["first_published"] == "2020-08-11T12:02:00+00:00"
    assert report["last_published"] == "2020-08-14T19:09:00+00:00"
    assert report["errors"] == []
    assert report["warnings"] == []
    assert (workdir / "cache.db").exists()
    assert not (workdir / "data").exists()


@pytest.mark.parametrize("given", ["corpus", "./corpus/", "corpus/nested"])
def test_json_paths_are_as_given_plus_the_relative_path(
    workdir: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    add_bad_file(workdir)
    code, out = run(capsys, given, "--json", "--db", "cache.db")
    assert code == 0
    [error] = json.loads(out)["errors"]
    expected = given.rstrip("/") + "/" + ("broken.md" if "nested" in given else "nested/broken.md")
    assert error == {"path": expected, "line": 4, "reason": error["reason"]}
    assert error["reason"].startswith("malformed YAML: while parsing a flow sequence (from line 3)")


def test_single_file_path_is_reported_exactly_as_given(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_bad_file(workdir)
    code, out = run(capsys, "corpus/nested/broken.md", "--json", "--db", "cache.db")
    assert code == 0
    assert [e["path"] for e in json.loads(out)["errors"]] == ["corpus/nested/broken.md"]


def test_absolute_path_stays_absolute(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_bad_file(workdir)
    root = str(workdir / "corpus")
    _, out = run(capsys, root, "--json", "--db", "cache.db")
    assert [e["path"] for e in json.loads(out)["errors"]] == [f"{root}/nested/broken.md"]


def test_text_report_lists_totals_then_problems_as_path_line_reason(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_bad_file(workdir)
    (workdir / "corpus" / "notes.pdf").write_bytes(b"%PDF")
    code, out = run(capsys, "corpus", "--db", "cache.db")
    assert code == 0
    assert "files read:         4" in out
    assert "articles:           5" in out
    assert "related merged:     0" in out
    assert "duplicates merged:  0" in out
    assert "2020-08-11 12:02 – 2020-08-14 19:09 UTC" in out
    assert "Business Insider" in out
    lines = out.splitlines()
    assert "  corpus/nested/broken.md:4: malformed YAML: " in "\n".join(lines)
    assert any(
        line.strip() == "corpus/notes.pdf: unsupported file type '.pdf'; skipped" for line in lines
    )
    assert lines.index("errors:             1") < lines.index("warnings:           1")


def test_strict_exits_1_only_when_there_is_an_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "corpus", "--strict", "--db", "cache.db")[0] == 0
    (workdir / "corpus" / "notes.pdf").write_bytes(b"%PDF")  # a warning is not an error
    assert run(capsys, "corpus", "--strict", "--db", "cache.db")[0] == 0
    add_bad_file(workdir)
    assert run(capsys, "corpus", "--strict", "--db", "cache.db")[0] == 1
    assert run(capsys, "corpus", "--strict", "--json", "--db", "cache.db")[0] == 1
    assert run(capsys, "corpus", "--db", "cache.db")[0] == 0


def test_missing_path_is_an_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "nowhere", "--json", "--strict", "--db", "cache.db")
    assert code == 1
    assert json.loads(out)["errors"] == [
        {"path": "nowhere", "line": None, "reason": "no such file or folder"}
    ]


def test_without_paths_the_configured_corpus_and_database_are_used(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "config.toml").write_text(
        '[corpus]\npaths = ["corpus"]\ndatabase = "state/configured.db"\n', encoding="utf-8"
    )
    code, out = run(capsys, "--json")
    assert code == 0
    assert json.loads(out)["articles"] == 5
    assert (workdir / "state" / "configured.db").exists()


def test_second_run_reads_the_cache_and_reports_the_same(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_bad_file(workdir)
    _, first = run(capsys, "corpus", "--json", "--db", "cache.db")
    _, second = run(capsys, "corpus", "--json", "--db", "cache.db")
    assert json.loads(first) == json.loads(second)


def test_bad_config_exits_2_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "config.toml").write_text("[corpus]\npats = []\n", encoding="utf-8")
    assert main(["check", "corpus"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown key corpus.pats" in err
    assert len(err.splitlines()) == 1
