"""The lean safe YAML loader gives exactly what ``yaml.safe_load`` gives, and refuses attacks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from bot.corpus import yamlsafe

SEED = Path(__file__).resolve().parent.parent / "seeds" / "003_ada7c173de585412.txt"

SAMPLES = [
    "title: plain\nquality: 77\nheat: -1\npublished: false\nratio: 1.5\nnothing: ~\n",
    "when: 2020-08-14T19:09:00Z\nday: 2020-08-14\nlocal: 2020-08-14 10:00:00\n",
    "yes: no\non: off\nhex: 0x1F\noctal: 0o17\nsexagesimal: 1:20\nunderscored: 1_000\n",
    "quoted: \"true\"\nsingle: '42'\nblock: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "list: [a, b, {c: d}]\nnested:\n  - x: 1\n    y: [2, 3]\n  - - deep\n    - er\n",
    "base: &base {x: 1, y: 2}\nchild:\n  <<: *base\n  y: 3\nlist: [*base, *base]\n",
    "set: !!set {a, b}\nomap: !!omap [{a: 1}, {b: 2}]\nbinary: !!binary aGVsbG8=\n",
    "explicit: !!str 123\nfloat: !!float 1\nempty:\n'': blank key\n",
    "- one\n- two\n- {three: 3}\n",
    "just a scalar\n",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_same_values_as_safe_load(text: str) -> None:
    value, _ = yamlsafe.load(text)
    assert value == yaml.safe_load(text)


def test_seed_front_matter_matches_safe_load() -> None:
    text = SEED.read_text(encoding="utf-8")
    front = text.split("\n---", 1)[0].removeprefix("---\n")
    value, _ = yamlsafe.load(front)
    assert value == yaml.safe_load(front)


def test_aliases_share_rather_than_copy() -> None:
    value, _ = yamlsafe.load("a: &x [1, 2]\nb: *x\n")
    assert value["a"] is value["b"]


def test_several_documents() -> None:
    values, nodes = yamlsafe.load_all("a: 1\n---\nb: 2\n")
    assert values == [{"a": 1}, {"b": 2}]
    assert [n.start_mark.line for n in nodes] == [0, 2]
    with pytest.raises(yamlsafe.YAMLProblem, match="2 YAML documents where one was expected"):
        yamlsafe.load("a: 1\n---\nb: 2\n")


def test_line_of_finds_keys_items_and_falls_back_to_the_nearest_parent() -> None:
    _, node = yamlsafe.load("title: x\nrelated:\n  - title: y\n    webUrl: z\n  - bad\n")
    assert yamlsafe.line_of(node, ("title",)) == 1
    assert yamlsafe.line_of(node, ("related", 0, "webUrl")) == 4
    assert yamlsafe.line_of(node, ("related", 1)) == 5
    assert yamlsafe.line_of(node, ("related", 7)) == 2
    assert yamlsafe.line_of(node, ("missing",)) == 1
    assert yamlsafe.line_of(node, ("title",), offset=1) == 2


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: [1, 2\nb: 3\n", 2, "while parsing a flow sequence (from line 11)"),
        ('a: "open\n', 1, "while scanning a quoted scalar"),
        ("a: 1\n  b: 2\n", 2, "mapping values are not allowed"),
        ("x: !!python/object/apply:os.system [ls]\n", 1, "could not determine a constructor"),
        ("? [a]\n: 1\n", 1, "a mapping key is a list or mapping"),
    ],
)
def test_malformed_yaml_names_line_and_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(yamlsafe.YAMLProblem) as info:
        yamlsafe.load(text, offset=10)
    assert info.value.line == line + 10
    assert words in info.value.reason
    assert info.value.reason.startswith("malformed YAML: ")


def test_billion_laughs_is_refused_before_expanding() -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    start = time.perf_counter()
    with pytest.raises(yamlsafe.YAMLProblem, match="alias bomb refused") as info:
        yamlsafe.load("\n".join(levels) + "\n")
    assert time.perf_counter() - start < 1
    assert info.value.line is not None


def test_a_few_aliases_are_fine() -> None:
    value, _ = yamlsafe.load("p: &p {name: CNET}\nq: *p\nr: *p\n")
    assert value["q"] == {"name": "CNET"}


@pytest.mark.parametrize("text", ["[" * 40_000 + "]" * 40_000, "- " * 40_000 + "x"])
def test_nesting_that_would_crash_libyaml_is_refused(text: str) -> None:
    with pytest.raises(yamlsafe.YAMLProblem, match="nested too deeply"):
        yamlsafe.load(text)


def _parser_has_depth_limit() -> bool:
    try:
        list(yaml.parse("[" * 1_001 + "]" * 1_001, Loader=yamlsafe.SafeLoader))
    except yaml.YAMLError:
        return True
    return False


@pytest.mark.parametrize("layer", ["guard", "parser"])
def test_deep_nesting_reads_the_same_whichever_layer_refuses_it(layer, monkeypatch) -> None:
    depth = 600  # over the guard's 500, under libyaml's own limit of 1,000
    if layer == "parser":
        if not _parser_has_depth_limit():
            pytest.skip("this PyYAML's libyaml has no nesting limit of its own")
        monkeypatch.setattr(yamlsafe, "_refuse_bombs", lambda text: None)
        depth = 2_000
    with pytest.raises(yamlsafe.YAMLProblem) as info:
        yamlsafe.load("x: " + "[" * depth + "]" * depth, offset=1)
    assert info.value.reason == "YAML nested too deeply (more than 500 levels); refused"
    assert info.value.line == 2


def test_moderate_nesting_loads() -> None:
    value, _ = yamlsafe.load("[" * 50 + "]" * 50)
    for _ in range(49):
        value = value[0]
    assert value == []
