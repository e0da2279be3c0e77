"""Answers people type: a named outlet decides, frame words are not the subject, and a question
whose premise the coverage does not report is refused with the closest coverage shown as such.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.answers import run_command, to_json
from bot.corpus.loader import CorpusLoader
from bot.engine.engine import Engine
from bot.engine.results import AskAnswer, NotFound, SourceAnswer
from tests.tiny_corpus import SEEDS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpus" / "smartable"

MONEY_STORIES = [
    ("Acme pays $3 million to settle drone patent suit", "Acme Robotics", "acme.example"),
    ("Springfield pays $450,000 for police body cameras", "Springfield Times", "st.example"),
    ("Vision startup raises $12 million to pay for expansion", "Startup Wire", "sw.example"),
    ("Retailer fined $1.2 million over face scanning in stores", "Retail Daily", "rd.example"),
    ("Agency pays $90,000 for license plate readers", "Gov Tech Review", "gtr.example"),
    ("Chipmaker pays $2 billion for AI accelerator designer", "Chip News", "cn.example"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The seeds plus a folder of other stories about money paid, by other outlets."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SEEDS, root / "seeds")
    other = root / "money"
    other.mkdir()
    for n, (title, outlet, domain) in enumerate(MONEY_STORIES):
        (other / f"m{n}.md").write_text(
            f"---\ntitle: {title}\nwebUrl: https://{domain}/story-{n}\n"
            f"publishedDateTime: 2020-08-1{n}T10:00:00Z\n"
            f"provider:\n  name: {outlet}\n  domain: {domain}\n"
            f"excerpt: The deal was paid in cash, the buyer said on Tuesday.\n---\n",
            encoding="utf-8",
        )
    snapshot, _, _ = CorpusLoader([root], tmp_path_factory.mktemp("db") / "c.db").load()
    assert not snapshot.errors
    return Engine(snapshot)


def test_how_much_money_is_answered_with_the_amount_among_many_money_stories(
    engine: Engine,
) -> None:
    answer = engine.ask("how much money did ICE pay Clearview")
    assert isinstance(answer, AskAnswer)
    assert "$224,000" in answer.passage.text


def test_an_outlet_named_in_source_decides_the_article(engine: Engine) -> None:
    for query, outlet in (
        ("what did business insider say about the clearview ice contract", "Business Insider"),
        ("the verge on ice and clearview", "The Verge"),
    ):
        answer = engine.source(query)
        assert isinstance(answer, SourceAnswer), query
        assert answer.hit.article.outlet.name == outlet, query


def test_an_outlet_without_an_article_on_the_subject_is_said_so_with_who_did(
    engine: Engine,
) -> None:
    answer = engine.source("cnet coverage of the ice clearview contract")
    assert isinstance(answer, NotFound)
    assert answer.reason.startswith("CNET has no article on this")
    assert "Business Insider" in answer.reason or "The Verge" in answer.reason
    assert any("ICE" in title for title in answer.suggestions)


def test_a_false_premise_is_refused_with_the_closest_coverage_as_suggestions(
    engine: Engine,
) -> None:
    answer = run_command(engine, "ask", "why did ICE cancel its Clearview contract")
    assert isinstance(answer, NotFound)
    assert "cancel" in answer.reason
    assert any("ICE" in title for title in answer.suggestions)
    out = to_json("ask", answer.query, answer)
    assert out["results"] == [] and out["suggestions"] and "cancel" in out["reason"]


def test_the_same_question_with_the_reported_event_is_answered(engine: Engine) -> None:
    answer = run_command(engine, "ask", "why did ICE sign a contract with Clearview")
    assert isinstance(answer, AskAnswer)
    assert "Clearview" in answer.hit.article.title


def test_an_amount_the_coverage_does_not_state_is_not_confirmed(engine: Engine) -> None:
    answer = run_command(engine, "search", "ICE pays Clearview $5 million")
    assert answer.not_found is not None  # type: ignore[union-attr]
    assert "$5 million" in answer.not_found.reason  # type: ignore[union-attr]


@pytest.mark.skipif(not SHARED.is_dir(), reason="the labelled questions' corpus is not here")
def test_refitting_the_answerability_model_reproduces_the_shipped_weights() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "answerability" / "fit.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    fitted = json.loads((ROOT / "bot" / "engine" / "answerability.json").read_text())
    assert set(fitted["weights"]) == set(fitted["features"])
